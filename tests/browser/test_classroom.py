"""Class mode end to end: a real `streamlit run` in class mode, and three browsers (two students and
the teacher), each with its own cookies, driven in headless Chromium."""
import json
import re
from pathlib import Path

import pytest

from helpers import (
    chromium,
    chromium_unavailable_reason,
    lab_server,
    new_person,
    open_page,
    wait_for,
    wait_until_idle,
)

reason = chromium_unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(reason is not None, reason=f"browser tests skipped: {reason}")]
CODE = "blue-whale-77"


@pytest.fixture(scope="module")
def server(tmp_path_factory, trained_runs):
    with lab_server(tmp_path_factory.mktemp("class"), trained_runs, {"CIFAR_TF_TEACHER_CODE": CODE}) as (url, runs):
        yield url, runs


@pytest.fixture(scope="module")
def people(server):
    """Ada, Bo and the teacher, each in a browser of their own, each having joined the class."""
    url, _ = server
    with chromium() as browser:
        pages = {name: new_person(browser) for name in ("Ada", "Bo", "Ms Teacher")}
        for name, page in pages.items():
            open_page(page, url, "")
            page.get_by_label("Your name", exact=True).fill(name)
            page.get_by_role("button", name="Join the class").click()
            sidebar(page).get_by_text(name, exact=True).wait_for()
            wait_until_idle(page)
        teacher = pages["Ms Teacher"]
        sidebar(teacher).get_by_text("Teacher", exact=True).click()
        teacher.get_by_label("Teacher code", exact=True).fill(CODE)
        teacher.get_by_role("button", name="Unlock teacher rights").click()
        sidebar(teacher).get_by_text(re.compile("· teacher")).wait_for()
        yield pages


def sidebar(page):
    return page.get_by_test_id("stSidebar")


def main(page):
    return page.get_by_test_id("stMain")


def stop_button(page):
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop", exact=True)


def pick_on_runs(page, url, name):
    open_page(page, url, "runs")
    picker = page.get_by_test_id("stMultiSelect").locator("input")
    picker.fill(name)
    picker.press("Enter")
    picker.press("Escape")
    wait_until_idle(page)
    page.get_by_role("heading", name=f"Manage “{name}”").wait_for()


def start_run(page, url, runs, name, epochs=None):
    """Start a run named `name` on the Train page as it stands; its id, from the runs folder."""
    open_page(page, url, "train")
    if epochs:
        box = page.get_by_label("Epochs", exact=True)
        box.fill(str(epochs))
        box.press("Enter")
        wait_until_idle(page)
    page.get_by_label("Run name (optional)").fill(name)
    page.get_by_label("Run name (optional)").press("Enter")
    wait_until_idle(page)
    page.get_by_role("button", name="Start training").click()
    assert wait_for(lambda: named(runs, name), timeout=30)
    wait_until_idle(page)
    return named(runs, name)


def named(runs, name):
    found = [path.parent.name for path in Path(runs).glob("*/run.json")
             if json.loads(path.read_text()).get("name") == name]
    return found[0] if found else None


def record(runs, run_id):
    return json.loads((Path(runs) / run_id / "run.json").read_text())


def test_a_name_is_typed_once_and_the_browser_keeps_it(server, people):
    page = people["Bo"]
    page.reload()
    wait_until_idle(page)
    assert sidebar(page).get_by_text("Bo", exact=True).count() == 1
    assert page.get_by_label("Your name", exact=True).count() == 0
    assert "cifar_tf_seat" in {cookie["name"] for cookie in page.context.cookies()}
    # A forged seat cookie is nobody's seat: here Ada's seat key, the hash the server keeps of her token.
    url, runs = server
    seats = json.loads((Path(runs) / ".class" / "seats.json").read_text())
    ada_seat = next(key for key, seat in seats.items() if seat["name"] == "Ada")
    forger = new_person(page.context.browser)
    forger.context.add_cookies([{"name": "cifar_tf_seat", "value": ada_seat, "url": url}])
    open_page(forger, url, "")
    forger.get_by_label("Your name", exact=True).wait_for()
    assert sidebar(forger).get_by_text("Ada", exact=True).count() == 0
    forger.context.close()
    # The teacher page is the teacher's alone.
    teacher = people["Ms Teacher"]
    teacher.reload()
    wait_until_idle(teacher)
    assert teacher.get_by_test_id("stSidebarNav").get_by_text("Teacher", exact=True).count() == 1
    assert page.get_by_test_id("stSidebarNav").get_by_text("Teacher", exact=True).count() == 0


def test_a_configuration_link_fills_the_train_form(server, people):
    url, _ = server
    page = people["Bo"]
    page.goto(f"{url}/train?arch=resnet20&epochs=3&lr=0.05")
    wait_until_idle(page)
    assert page.get_by_role("combobox", name="Architecture").input_value().startswith("resnet20:")
    assert page.get_by_label("Epochs", exact=True).input_value() == "3"
    assert page.get_by_label("Learning rate", exact=True).input_value() == "0.05"
    assert "arch=" not in page.url  # applied once, then taken out of the address


def test_a_student_cannot_stop_or_delete_anothers_run_but_the_teacher_can(server, people):
    url, runs = server
    ada, bo, teacher = people["Ada"], people["Bo"], people["Ms Teacher"]
    run_id = start_run(ada, url, runs, "ada long run", epochs=40)
    stop_button(ada).wait_for()
    assert record(runs, run_id)["tags"]["owner"]["name"] == "Ada"
    # Bo edits the address to open Ada's run: he can watch it, not stop it.
    bo.goto(f"{url}/train?run={run_id}")
    wait_until_idle(bo)
    main(bo).get_by_text("belongs to Ada").wait_for()
    assert stop_button(bo).count() == 0
    # The teacher stops it.
    teacher.goto(f"{url}/train?run={run_id}")
    wait_until_idle(teacher)
    stop_button(teacher).click()
    assert wait_for(lambda: record(runs, run_id)["status"] == "stopped", timeout=120)
    # On Runs, renaming and deleting it are off for Bo...
    pick_on_runs(bo, url, "ada long run")
    assert main(bo).get_by_text("belongs to Ada").count() == 1
    assert bo.get_by_role("button", name="Rename").is_disabled()
    assert bo.get_by_role("button", name="Delete run").is_disabled()
    # ... and on for the teacher, who deletes it.
    pick_on_runs(teacher, url, "ada long run")
    teacher.get_by_text("Yes, delete it for good").click()
    wait_until_idle(teacher)
    teacher.get_by_role("button", name="Delete run").click()
    assert wait_for(lambda: not (Path(runs) / run_id).exists(), timeout=30)


def test_a_challenge_refuses_what_it_does_not_allow_and_the_leaderboard_ranks_the_students(server, people):
    url, runs = server
    ada, bo, teacher = people["Ada"], people["Bo"], people["Ms Teacher"]
    open_page(teacher, url, "teacher")
    teacher.get_by_role("tab", name="Challenge").click()
    teacher.get_by_label("Title", exact=True).fill("One quick epoch")
    teacher.get_by_label("…or from a configuration link", exact=True).fill(f"{url}/train?epochs=1&val_size=200&train_limit=1000")
    teacher.get_by_role("button", name="Set the challenge").click()
    teacher.get_by_text(re.compile("Challenge “One quick epoch” set")).wait_for()
    # Outside the challenge (the Sharpness lab's own settings, which its form cannot bring within): the
    # button is off, its help says why.
    open_page(ada, url, "lab_sharpness")
    assert ada.get_by_role("button", name="Train both").is_disabled()
    # Within it, both students train; only the open settings are on their form.
    open_page(bo, url, "train")
    assert main(bo).get_by_text(re.compile("Challenge “One quick epoch”")).count() == 1
    assert bo.get_by_label("Batch size", exact=True).count() == 0 and bo.get_by_label("Learning rate", exact=True).count() == 1
    ids = [start_run(ada, url, runs, "ada quick"), start_run(bo, url, runs, "bo quick")]
    assert wait_for(lambda: all(record(runs, i)["status"] == "completed" for i in ids), timeout=240), \
        [(record(runs, i)["status"], record(runs, i)["error"]) for i in ids]
    scores = {record(runs, i)["tags"]["owner"]["name"]: record(runs, i)["metrics"] for i in ids}
    expected = sorted(scores, key=lambda name: (-scores[name]["test_accuracy"], scores[name]["train_seconds"]))
    teacher.goto(f"{url}/leaderboard?view=projector")
    wait_until_idle(teacher)
    board = teacher.locator("table.board")
    board.wait_for()
    rows = board.locator("tr").all_inner_texts()[1:]
    assert [row.split("\t")[1].strip() for row in rows] == expected, rows
    assert f"{scores[expected[0]]['test_accuracy']:.1%}" in rows[0]


def test_the_report_downloads_and_opens_offline(server, people, tmp_path):
    url, runs = server
    ada = people["Ada"]
    pick_on_runs(ada, url, "ada quick")
    with ada.expect_download() as download:
        ada.get_by_role("button", name="Download report").click()
    path = tmp_path / "report.html"
    download.value.save_as(path)
    run_id = re.search(r"([\w-]+)-report\.html", download.value.suggested_filename).group(1)
    accuracy = record(runs, run_id)["metrics"]["test_accuracy"]
    offline = ada.context.browser.new_context(offline=True).new_page()
    offline.goto(path.as_uri())
    assert offline.locator("h1").inner_text() == "ada quick"
    assert f"{accuracy:.1%}" in offline.locator(".numbers").inner_text()
    assert offline.locator("svg").count() == 3 and offline.locator("table.confusion").count() == 1
    assert offline.get_by_role("img", name="reliability diagram").count() == 1  # loss, accuracy, calibration
