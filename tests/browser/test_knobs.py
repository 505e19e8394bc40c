"""A running run's knobs in a real browser: its learning rate changed from the watch panel reaches
the worker, then pause and resume."""
import re
import time

import pytest

from cifar_tf.runs import control, store
from helpers import browser_page, chromium_unavailable_reason, lab_server, open_page, wait_until_idle

reason = chromium_unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(reason is not None, reason=f"browser tests skipped: {reason}")]


def wait_for(found, timeout):
    """What `found()` returns as soon as it is something; an AssertionError after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s")


def test_the_owner_turns_a_running_runs_knobs_from_the_watch_panel(tmp_path, trained_runs):
    with lab_server(tmp_path, trained_runs) as (url, runs), browser_page() as page:
        open_page(page, url, "train")
        epochs = page.get_by_label("Epochs")
        epochs.fill("40")
        epochs.press("Enter")
        wait_until_idle(page)
        page.get_by_label("Run name (optional)").fill("knobbed")
        page.get_by_label("Run name (optional)").press("Enter")
        wait_until_idle(page)
        page.get_by_role("button", name="Start training").click()
        [run] = wait_for(lambda: [r for r in store.list_runs(runs)[0] if r.name == "knobbed"], timeout=30)
        wait_for(lambda: len(store.load_run(run.id, runs).steps()) >= 1, timeout=120)

        main = page.get_by_test_id("stMainBlockContainer")
        rate = main.get_by_role("spinbutton", name="Learning rate now")
        rate.wait_for(timeout=30_000)
        rate.fill("0.01")
        rate.press("Enter")
        wait_until_idle(page)
        main.get_by_role("button", name="Set", exact=True).click()
        events = wait_for(lambda: [e for e in control.read_events(run.path) if e["what"] == "lr"], timeout=60)
        assert events[0]["to"] == pytest.approx(0.01) and events[0]["from"] == pytest.approx(0.001)
        assert events[0]["by"] == "the app"

        main.get_by_role("button", name="Pause", exact=True).click()
        page.get_by_text(re.compile(r"^Paused")).first.wait_for(timeout=60_000)
        held = len(store.load_run(run.id, runs).steps())
        page.wait_for_timeout(2000)
        assert len(store.load_run(run.id, runs).steps()) == held
        main.get_by_role("button", name="Resume", exact=True).click()
        wait_for(lambda: len(store.load_run(run.id, runs).steps()) > held, timeout=60)
        assert page.locator("[data-testid='stException']").count() == 0

        main.get_by_role("button", name="Stop", exact=True).click()
        wait_for(lambda: not store.load_run(run.id, runs).is_active(), timeout=120)
    assert [e["what"] for e in control.read_events(run.path)] == ["lr", "pause", "resume"]
