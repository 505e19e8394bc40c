"""The Reports page in a real browser: a report's figures beside a finished run of its lesson."""
import re

import pytest

from cifar_tf.labs import report_lessons as lessons
from helpers import app_server, browser_page, chromium_unavailable_reason, finished_run_with_curve, open_page

reason = chromium_unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(reason is not None, reason=f"browser tests skipped: {reason}")]


def test_the_reports_page_sets_a_reports_figure_beside_a_finished_runs(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    # A finished run of report 001's lesson, made by hand (no training): 75 % on the test set.
    run = finished_run_with_curve(runs, accuracy=0.75, name="our 001 run", per_class=[0.75] * 10)
    run.update(tags={lessons.LESSON_TAG: "001-cnn", lessons.ARM_TAG: "cnn", lessons.SCALE_TAG: "scaled",
                     lessons.START_TAG: "20250101-120000-abcd", "report": "001"})
    env = {"CIFAR_TF_RUNS_DIR": str(runs), "CIFAR10_DIR": str(tmp_path / "none")}
    with app_server(env) as url, browser_page() as page:
        open_page(page, url, "reports?report=001")
        assert page.locator("[data-testid='stException']").count() == 0
        page.get_by_text("Its figures beside ours", exact=True).scroll_into_view_if_needed()
        # The table's cells are in the page for screen readers: the figure's row holds both numbers.
        row = page.locator("tr[role='row']").filter(has_text="Test accuracy after 30 epochs")
        row.first.wait_for(state="attached", timeout=30_000)
        cells = row.first.locator("td[role='gridcell']").all_inner_texts()
        assert cells[:5] == ["Test accuracy after 30 epochs", "80.15%", "75.00%", "-5.15 points", "our 001 run"]
        assert re.search(r"scaled for a CPU", cells[5])
