import json

import pandas as pd

from cifar_tf.runs import store
from helpers import open_app


def run_ids(folder):
    return {run.name: run.id for run in store.list_runs(folder)[0]}


def table(at):
    return at.dataframe[0].value


def pick(at, folder, *names):
    ids = run_ids(folder)
    return at.multiselect(key="runs_compare").set_value([ids[name] for name in names]).run()


def test_runs_page_lists_both_runs_and_hints_to_select(app_env):
    at = open_app("pages/runs.py")
    assert not at.exception
    assert at.title[0].value == "Runs"
    assert set(table(at)["name"]) == {"baseline", "stopped early"}
    assert any("Select one or more runs" in info.value for info in at.info)


def test_comparing_two_runs_shows_curves_diff_and_per_class(app_env):
    at = pick(open_app("pages/runs.py"), app_env, "baseline", "stopped early")
    assert not at.exception
    subheaders = [s.value for s in at.subheader]
    assert {"Learning curves", "Settings that differ", "Per-class test accuracy"} <= set(subheaders)
    diff = at.dataframe[1].value
    assert {"optimizer", "batch_size"} <= set(diff.index)
    assert list(diff.columns) == ["baseline", "stopped early"]
    assert any("exactly one run" in c.value for c in at.caption)
    at = pick(at, app_env, "baseline")
    assert "Settings" in [s.value for s in at.subheader]
    assert "optimizer" in at.dataframe[1].value.index
    at.button_group[0].set_value("loss").run()  # the metric chooser
    assert not at.exception


def test_rename_a_run(app_env):
    at = pick(open_app("pages/runs.py"), app_env, "baseline")
    run_id = run_ids(app_env)["baseline"]
    box = at.text_input(key=f"rename_{run_id}")
    box.set_value("x" * 81).run()
    assert any("Too long" in c.value for c in at.caption)
    assert next(b for b in at.button if b.label == "Rename").disabled
    at.text_input(key=f"rename_{run_id}").set_value("  my best  run ").run()
    next(b for b in at.button if b.label == "Rename").click().run()
    assert not at.exception
    assert any("renamed" in s.value for s in at.success)
    assert "my best run" in set(table(at)["name"])
    assert json.loads((app_env / run_id / "run.json").read_text())["name"] == "my best run"


def test_delete_a_run_after_confirming(app_env):
    at = pick(open_app("pages/runs.py"), app_env, "stopped early")
    run_id = run_ids(app_env)["stopped early"]
    delete = next(b for b in at.button if b.label == "Delete run")
    assert delete.disabled  # not before the box is ticked
    at.checkbox(key=f"sure_{run_id}").check().run()
    next(b for b in at.button if b.label == "Delete run").click().run()
    assert not at.exception
    assert not (app_env / run_id).exists()
    assert list(table(at)["name"]) == ["baseline"]
    assert any("deleted" in s.value for s in at.success)
    assert at.multiselect(key="runs_compare").value == []


def test_running_run_cannot_be_deleted(app_env):
    run = store.create_run(app_env, arch="simple_cnn", config={}, name="busy", status="queued")
    at = pick(open_app("pages/runs.py"), app_env, "busy")
    assert not at.exception
    assert any("stop it" in w.value for w in at.warning)
    assert not any(b.label == "Delete run" for b in at.button)
    assert (app_env / run.id).exists()


def test_download_button_names_the_file_after_the_run(app_env):
    at = pick(open_app("pages/runs.py"), app_env, "baseline")
    run_id = run_ids(app_env)["baseline"]
    assert not at.exception
    assert any(f"{run_id}.keras" in c.value for c in at.caption)
    labels = [button.label for button in at.get("download_button")]
    assert sorted(labels) == ["Download as CSV", "Download model", "Download report"]


def test_corrupt_folder_is_a_warning_not_a_crash(app_env):
    (app_env / "garbage").mkdir()
    (app_env / "garbage" / "run.json").write_text("{not json")
    at = open_app("pages/runs.py")
    assert not at.exception
    assert any("Skipped a folder" in c.value and "garbage" in c.value for c in at.caption)
    assert len(table(at)) == 2


def test_empty_runs_folder_points_to_train(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("CIFAR_TF_RUNS_DIR", str(tmp_path / "nothing"))
    at = open_app("pages/runs.py")
    assert not at.exception
    assert any("No runs yet" in info.value for info in at.info)


def lesson_run(folder, name, arm, start, *, accuracy, lesson="003-sharpness-grid"):
    """A finished run made by hand, tagged as a lesson's Start on the Reports page tags it."""
    from cifar_tf.labs import report_lessons as lessons
    from helpers import finished_run_with_curve

    run = finished_run_with_curve(folder, accuracy=accuracy, name=name, per_class=[accuracy] * 10)
    return run.update(tags={lessons.LESSON_TAG: lesson, lessons.START_TAG: start, lessons.ARM_TAG: arm,
                            lessons.SCALE_TAG: "scaled", "report": "003"})


def test_a_lesson_picked_by_name_compares_its_runs_together(app_env):
    lesson_run(app_env, "grid adam", "resnet18-adam-plain", "20260101-090000-aaaa", accuracy=0.4)
    lesson_run(app_env, "grid sgd", "resnet18-sgd-plain", "20260101-090000-aaaa", accuracy=0.3)
    lesson_run(app_env, "earlier start", "resnet18-sgd-plain", "20250101-090000-bbbb", accuracy=0.2)
    at = open_app("pages/runs.py")
    assert not at.exception
    lessons = dict(zip(table(at)["name"], table(at)["lesson"]))
    assert lessons["grid sgd"].startswith("Report 003 · ResNet18 and VGG16") and lessons["grid sgd"].endswith("scaled for a CPU")
    assert pd.isna(lessons["baseline"])   # no lesson started it
    picker = at.selectbox(key="runs_lesson")
    assert picker.value is None and len(picker.options) == 2
    newest = next(option for option in picker.options if "2026-01-01 09:00" in option)
    assert "Report 003" in newest and "2/2 finished" in newest
    picker.select(newest).run()   # one pick: the lesson's two runs, in the lesson's arm order
    assert not at.exception
    ids = run_ids(app_env)
    assert at.multiselect(key="runs_compare").value == [ids["grid sgd"], ids["grid adam"]]
    # The same comparison as one HTML file to hand out.
    assert "Download the lesson's report" in [button.proto.label for button in at.get("download_button")]
    assert any("Confusion matrices" in m.value for m in at.markdown)
    # The curves overlaid, the per-class accuracy, and one confusion matrix per run side by side.
    assert len(at.get("vega_lite_chart")) == 4
    assert {"grid sgd", "grid adam"} <= {c.value for c in at.caption}
