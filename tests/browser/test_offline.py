"""A classroom may have no internet: no page of the lab, class pages included, makes the browser ask
any host but the lab's own server (Streamlit draws a `:material/...:` page icon from fonts.gstatic.com;
the icons inside pages come from a font it serves itself)."""
import re

import pytest

from helpers import PAGES, chromium, chromium_unavailable_reason, lab_server, new_person, open_page, wait_until_idle

reason = chromium_unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(reason is not None, reason=f"browser tests skipped: {reason}")]
CODE = "quiet-owl-31"


def test_no_page_asks_any_host_but_the_lab(tmp_path, trained_runs):
    with lab_server(tmp_path, trained_runs, {"CIFAR_TF_TEACHER_CODE": CODE}) as (url, _), chromium() as browser:
        page = new_person(browser)
        open_page(page, url, "")
        page.get_by_label("Your name", exact=True).fill("Ada")
        page.get_by_role("button", name="Join the class").click()
        page.get_by_test_id("stSidebar").get_by_text("Ada", exact=True).wait_for()
        wait_until_idle(page)
        page.get_by_test_id("stSidebar").get_by_text("Teacher", exact=True).click()
        page.get_by_label("Teacher code", exact=True).fill(CODE)
        page.get_by_role("button", name="Unlock teacher rights").click()
        page.get_by_test_id("stSidebar").get_by_text(re.compile("· teacher")).wait_for()
        for slug in [*PAGES.values(), "leaderboard", "teacher"]:
            open_page(page, url, slug)
            page.wait_for_timeout(500)   # the page icon is set after the page is drawn
            assert page.locator("[data-testid='stException']").count() == 0, slug
        assert not browser.outside_requests, browser.outside_requests   # said again here, where it is tested
