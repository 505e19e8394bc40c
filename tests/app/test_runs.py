import json

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
