"""End to end: `streamlit run app.py` on a free 127.0.0.1 port, driven in a real headless Chromium."""
import re
import shutil

import pytest

from browser import PAGES, browser_page, chromium_unavailable_reason, open_page, streamlit_server, wait_until_idle
from synthetic import write_cifar10

reason = chromium_unavailable_reason()
pytestmark = pytest.mark.skipif(reason is not None, reason=f"browser tests skipped: {reason}")


@pytest.fixture(scope="module")
def server(tmp_path_factory, trained_runs):
    runs = tmp_path_factory.mktemp("e2e") / "runs"
    shutil.copytree(trained_runs, runs)
    # Enough images that the default 5,000-image validation split leaves 1,000 to train on.
    data = write_cifar10(tmp_path_factory.mktemp("e2e-data"), per_batch=1200, test_size=200)
    env = {"CIFAR_TF_RUNS_DIR": str(runs), "CIFAR10_DIR": str(data), "CIFAR_TF_MAX_RUNS": "1"}
    with streamlit_server(env) as url:
        yield url, runs


@pytest.fixture(scope="module")
def page():
    with browser_page() as page:
        yield page


def test_every_page_opens_without_an_exception(server, page):
    url, _ = server
    for name, slug in PAGES.items():
        open_page(page, url, slug)
        assert page.locator("[data-testid='stException']").count() == 0, name
        assert page.locator("[data-testid='stSidebarNav']").count() == 1


def test_train_shows_live_curves_then_stops_and_keeps_the_run(server, page):
    url, runs = server
    open_page(page, url, "train")
    epochs = page.get_by_label("Epochs")
    epochs.fill("40")
    epochs.press("Enter")
    wait_until_idle(page)
    page.get_by_placeholder("e.g. resnet20 with cutout").fill("browser run")
    page.get_by_placeholder("e.g. resnet20 with cutout").press("Enter")
    wait_until_idle(page)
    page.get_by_role("button", name="Start training").click()

    # Curves appear and the epoch counter moves, refreshed without any click.
    charts = page.locator("[data-testid='stVegaLiteChart']")
    charts.first.wait_for(timeout=90_000)
    counter = page.get_by_text(re.compile(r"Epoch \d+ of 40"))
    counter.wait_for(timeout=60_000)
    first = int(re.search(r"Epoch (\d+)", counter.inner_text()).group(1))
    page.wait_for_function(
        """first => [...document.querySelectorAll('*')].some(e => e.childElementCount === 0 &&
             /Epoch (\\d+) of 40/.test(e.textContent) && +e.textContent.match(/Epoch (\\d+)/)[1] > first)""",
        arg=first, timeout=90_000)
    assert charts.count() >= 2

    page.get_by_role("button", name="Stop").click()
    page.get_by_text(re.compile(r"Stopped: test accuracy")).wait_for(timeout=120_000)

    open_page(page, url, "")
    assert page.get_by_text(re.compile(r"browser run · simple_cnn · stopped")).count() == 1


def test_a_direct_link_as_first_request_gets_the_real_navigation(tmp_path, trained_runs):
    # A fresh server whose very first visitor follows a link to /runs.
    env = {"CIFAR_TF_RUNS_DIR": str(trained_runs), "CIFAR10_DIR": str(tmp_path / "none")}
    with streamlit_server(env) as url, browser_page() as page:
        open_page(page, url, "runs")
        nav = page.locator("[data-testid='stSidebarNav']").inner_text()
        assert "Classroom labs" in nav and "common" not in nav
        assert page.locator("h1").first.inner_text() == "Runs"
