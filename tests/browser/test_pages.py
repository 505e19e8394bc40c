"""End to end: `streamlit run app.py` on a free 127.0.0.1 port, driven in a real headless Chromium."""
import re

import pytest

from helpers import (
    PAGES,
    app_server,
    browser_page,
    chromium_unavailable_reason,
    lab_server,
    open_page,
    wait_until_idle,
)

reason = chromium_unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(reason is not None, reason=f"browser tests skipped: {reason}")]


@pytest.fixture(scope="module")
def server(tmp_path_factory, trained_runs):
    with lab_server(tmp_path_factory.mktemp("e2e"), trained_runs, {"CIFAR_TF_STANDBY_WORKER": "on"}) as (url, runs):
        yield url, runs


@pytest.fixture(scope="module")
def page():
    with browser_page() as page:
        yield page


def stop_button(page):
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop", exact=True)


def test_every_page_opens_without_an_exception(server, page):
    url, _ = server
    for name, slug in PAGES.items():
        open_page(page, url, slug)
        assert page.locator("[data-testid='stException']").count() == 0, name
        assert page.locator("[data-testid='stSidebarNav']").count() == 1
        # toolbarMode "minimal": no Deploy button or header Stop beside the lab's own Stop.
        assert page.get_by_role("button", name="Deploy").count() == 0, name


def test_train_shows_live_curves_then_stops_and_keeps_the_run(server, page):
    url, runs = server
    open_page(page, url, "train")
    epochs = page.get_by_label("Epochs")
    epochs.fill("40")
    epochs.press("Enter")
    wait_until_idle(page)
    page.get_by_label("Run name (optional)").fill("browser run")
    page.get_by_label("Run name (optional)").press("Enter")
    wait_until_idle(page)
    page.get_by_role("button", name="Start training").click()
    # Right away, under the button where the eye is: the run and what it is doing.
    page.get_by_text(re.compile(r"“browser run” (started: |is queued)")).wait_for(timeout=30_000)

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

    stop_button(page).click()
    page.get_by_text(re.compile(r"Stopped: test accuracy")).wait_for(timeout=120_000)

    open_page(page, url, "")
    assert page.get_by_text(re.compile(r"browser run · simple_cnn · stopped")).count() == 1, page.locator("[data-testid='stMain']").inner_text()


def test_a_direct_link_as_first_request_gets_the_real_navigation(tmp_path, trained_runs, page):
    # A fresh server whose very first visitor follows a link to /runs.
    env = {"CIFAR_TF_RUNS_DIR": str(trained_runs), "CIFAR10_DIR": str(tmp_path / "none")}
    with app_server(env) as url:
        open_page(page, url, "runs")
        nav = page.locator("[data-testid='stSidebarNav']").inner_text()
        assert "Classroom labs" in nav and "common" not in nav
        assert page.locator("h1").first.inner_text() == "Runs"


def test_predict_refuses_junk_and_classifies_a_real_photo(server, page, tmp_path):
    from PIL import Image

    url, _ = server
    photo = tmp_path / "holiday.jpg"
    Image.new("RGB", (640, 480), (30, 120, 200)).save(photo, quality=90)
    junk = tmp_path / "notes.png"
    junk.write_bytes(b"this is not a picture at all\n" * 20)
    open_page(page, url, "predict")
    page.locator("[data-testid='stFileUploaderDropzone'] input[type='file']").set_input_files([str(junk), str(photo)])
    page.get_by_text("holiday.jpg looks like a").wait_for(timeout=60_000)
    wait_until_idle(page)
    assert page.get_by_text(re.compile(r"notes\.png: not an image file")).count() == 1
    assert page.get_by_text("what the model sees (32x32)").count() == 1
    assert page.locator("[data-testid='stException']").count() == 0


def test_two_tabs_share_one_queue_and_see_each_others_runs(server, page):
    url, _ = server
    second = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})  # another user
    try:
        for tab, name in ((page, "tab one"), (second, "tab two")):
            open_page(tab, url, "train")
            epochs = tab.get_by_label("Epochs")
            epochs.fill("30")
            epochs.press("Enter")
            wait_until_idle(tab)
            tab.get_by_label("Run name (optional)").fill(name)
            tab.get_by_label("Run name (optional)").press("Enter")
            wait_until_idle(tab)
            tab.get_by_role("button", name="Start training").click()
            wait_until_idle(tab)
        # One training slot: the second tab's run waits in line and says where.
        second.get_by_text(re.compile(r"Queued: position 1")).wait_for(timeout=60_000)
        # The first tab sees the second tab's run in its run list.
        page.reload()
        wait_until_idle(page)
        page.get_by_label("Run", exact=True).click()
        page.get_by_role("option", name=re.compile(r"tab two")).wait_for(timeout=30_000)
        page.keyboard.press("Escape")
        # Stopping both leaves both runs saved.
        stop_button(second).click()
        second.get_by_text(re.compile(r"Stopped")).wait_for(timeout=60_000)
        page.reload()  # the address still names tab one's own run
        wait_until_idle(page)
        stop_button(page).click()
        page.get_by_text(re.compile(r"Stopped: test accuracy")).wait_for(timeout=120_000)
    finally:
        second.close()
