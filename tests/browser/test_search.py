"""The Search page in a real browser: a Hyperband search fills in live, without clicks, and stops."""
import re

import pytest

from cifar_tf.runs.manager import RunManager
from cifar_tf.search import results
from cifar_tf.search import store as search_store
from helpers import app_server, browser_page, chromium_unavailable_reason, open_page, wait_until_idle

reason = chromium_unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(reason is not None, reason=f"browser tests skipped: {reason}")]


def test_hyperband_search_fills_in_live_and_stops(tmp_path, cifar_dir):
    runs = tmp_path / "runs"
    env = {"CIFAR_TF_RUNS_DIR": str(runs), "CIFAR10_DIR": str(cifar_dir)}
    try:
        drive(env, runs)
    finally:
        for search in search_store.list_searches(runs):  # never leave a search process behind
            RunManager(runs).stop_search(search.id)
    [search] = search_store.list_searches(runs)
    assert search.status == "stopped" and search.record["tuner"] == "hyperband"
    assert any(row["status"] == "completed" for row in results.trials(search))


def what_the_search_says(runs):
    """On a timeout: each search's record and the tail of its log, so that a failure says why."""
    lines = []
    for search in search_store.list_searches(runs):
        log = search.path / search_store.LOG_FILE
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
        lines.append(f"{search.id}: {search.record}\n{tail}")
    return "\n".join(lines) or "no search was made"


def drive(env, runs):
    with app_server(env) as url, browser_page() as page:
        open_page(page, url, "search")
        # Report 001's space with Hyperband: at most 3 epochs makes a 6-trial iteration.
        for label, value in (("Most epochs per trial", "3"), ("Validation images", "100")):
            field = page.get_by_role("spinbutton", name=label)
            field.fill(value)
            field.press("Enter")
            wait_until_idle(page)
        page.get_by_role("combobox", name="Training images").click()
        page.get_by_role("option", name="all").click()
        wait_until_idle(page)
        assert page.get_by_role("spinbutton", name="Trials at most").input_value() == "6"
        page.get_by_role("button", name="Start search").click()

        # The first trial appears in the metrics on its own: the page refreshes every second.
        try:
            page.locator("[data-testid='stMetricValue']").filter(has_text="1 / 6").wait_for(timeout=180_000)
        except Exception as error:
            raise AssertionError(what_the_search_says(runs)) from error
        # The trials table (its cells are in the page for screen readers) shows the finished trial.
        page.locator("td[role='gridcell']").filter(has_text=re.compile("^completed$")).first.wait_for(state="attached")
        assert page.locator("[data-testid='stException']").count() == 0
        # Best so far and parallel axes: drawn once KerasTuner has scored the trial, which can be a
        # refresh after its run folder says completed.
        page.locator("[data-testid='stVegaLiteChart']").nth(1).wait_for(timeout=30_000)

        page.get_by_role("button", name="Stop search").click()
        page.get_by_text(re.compile("Stopped: stopped on request")).wait_for(timeout=120_000)
