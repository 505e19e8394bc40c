import numpy as np

from cifar_tf.runs import store
from helpers import open_app


def run_ids(folder):
    return {run.name: run.id for run in store.list_runs(folder)[0]}


def open_evaluate(run_id=None):
    from streamlit.testing.v1 import AppTest

    from helpers import APP

    at = AppTest.from_file(APP, default_timeout=90)
    if run_id:
        at.query_params["run"] = run_id
    at.run()
    return at.switch_page("pages/evaluate.py").run()


def test_evaluate_shows_metrics_report_matrix_and_images(app_env):
    run = store.load_run(run_ids(app_env)["stopped early"], app_env)
    evaluation = run.evaluation()
    at = open_evaluate(run.id)
    assert not at.exception
    assert at.selectbox(key="evaluate_run").value.id == run.id
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == f"{evaluation['accuracy']:.1%}"
    assert set(metrics) == {"Accuracy", "Loss", "Weighted F1", "Top-3 accuracy",
                            "ECE as trained", "ECE after temperature scaling", "Temperature T"}
    report = at.dataframe[0].value
    assert "cat" in report.index and "weighted avg" in report.index
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2  # the confusion matrix and, in the calibration tab, the reliability diagram
    assert charts[0].key == f"matrix_{run.id}"
    assert any(s.value == "Most confident mistakes" for s in at.subheader)
    assert len(at.get("image")) >= 1
    at.toggle(key="evaluate_normalize").set_value(True).run()
    assert not at.exception


def test_evaluate_says_how_many_test_images_the_run_was_scored_on(app_env):
    run = store.load_run(run_ids(app_env)["baseline"], app_env)
    scored = int(np.asarray(run.evaluation()["confusion_matrix"]).sum())
    assert scored < 10_000  # the tests' small synthetic test set
    at = open_evaluate(run.id)
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert any(f"on the {scored:,} test images it never saw" in c for c in captions), captions
    assert not any("10,000" in c for c in captions)
    assert "Scored on each test image as it is (no test-time augmentation)." in captions


def test_evaluate_says_which_views_a_runs_scores_average(app_env):
    from cifar_tf.evaluation import tta

    run = store.load_run(run_ids(app_env)["baseline"], app_env)
    run.update(test_time_augmentation=tta.describe())   # as a run of the airbench recipe records it
    at = open_evaluate(run.id)
    assert not at.exception
    assert any("test-time augmentation: 6 views averaged: identity ×0.25, flip ×0.25, shift down-right ×0.125"
               in c.value for c in at.caption)


def test_evaluate_defaults_to_the_best_run(app_env):
    found = store.list_runs(app_env)[0]
    best = max(found, key=lambda r: r.record["metrics"]["test_accuracy"])
    at = open_app("pages/evaluate.py")
    assert not at.exception
    assert at.selectbox(key="evaluate_run").value.id == best.id


def test_failed_run_gets_a_clear_message(app_env):
    failed = store.create_run(app_env, arch="simple_cnn", config={}, name="crashed", status="failed")
    failed.update(error="out of memory")
    at = open_evaluate(failed.id)
    assert not at.exception
    assert any("no test-set evaluation" in info.value and "failed" in info.value for info in at.info)
    assert not at.metric


def test_missing_dataset_is_said_instead_of_images(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "nowhere"))
    at = open_evaluate(run_ids(app_env)["baseline"])
    assert not at.exception
    assert len(at.metric) == 4
    assert any("not on this machine" in w.value for w in at.warning)
    assert not at.get("image")


def test_damaged_evaluation_is_an_error_message(app_env):
    run_id = run_ids(app_env)["baseline"]
    (app_env / run_id / store.EVALUATION_FILE).write_text("{oops")
    at = open_evaluate(run_id)
    assert not at.exception
    assert any("cannot be read" in e.value for e in at.error)


def test_grad_cam_shows_for_the_chosen_test_image(app_env):
    from helpers import open_app

    baseline = next(r for r in store.list_runs(app_env)[0] if r.name == "baseline")
    at = open_app()
    at.query_params["run"] = baseline.id
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception
    captions = [str(image.proto) for image in at.get("image")]
    assert any("for its answer" in c for c in captions) and any("for the true class" in c for c in captions)
