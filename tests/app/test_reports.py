"""The Reports page: a report's summary and figures, its figures beside a finished run's, its
lessons started through the app's run manager, and handed out as a class challenge."""
import pytest
from streamlit.testing.v1 import AppTest

from cifar_tf.classroom.room import Classroom
from cifar_tf.labs import report_lessons as lessons
from cifar_tf.runs import store
from helpers import APP, finished_run_with_curve, shown, write_cifar10

CODE = "apple-pie-314"


@pytest.fixture
def quiet_manager(monkeypatch):
    """The page's run manager, queueing runs without starting any training process."""
    from cifar_tf.runs.manager import RunManager
    from pages.common import _manager

    monkeypatch.setattr(RunManager, "poll", lambda self: None)
    monkeypatch.setattr(RunManager, "start_background", lambda self: self)
    _manager.clear()
    yield
    _manager.clear()


def open_reports(report, token=None):
    at = AppTest.from_file(APP, default_timeout=120)
    if token:
        at.session_state["class_seat"] = token
    at.query_params["report"] = report
    at.run()
    at.switch_page("pages/reports.py").run()
    return at


def texts(at):
    return " ".join(shown(m.value) for m in at.markdown)


def figures(at):
    return at.dataframe[0].value.set_index("figure")


def test_the_page_shows_the_reports_figure_beside_a_finished_runs(app_env):
    run = finished_run_with_curve(app_env, accuracy=0.75, name="my report-001 run", curve=(0.5, 0.6, 0.7),
                                  per_class=[0.5, 0.9, 0.6, 0.5, 0.7, 0.6, 0.9, 0.8, 0.8, 0.9])
    run.update(tags={lessons.LESSON_TAG: "001-cnn", lessons.ARM_TAG: "cnn", lessons.SCALE_TAG: "scaled",
                     lessons.START_TAG: "20250101-120000-abcd"})
    at = open_reports("001")
    assert not at.exception, at.exception
    assert at.selectbox(key="reports_pick").value == "001"
    text = texts(at)
    assert "0.8015" in text and "0.7978" in text and "1,563 steps" in text
    # Each preset's differences from the report are on the page, not only in a tooltip.
    assert "Differs from the report:" in text and "not its text's two convs" in text
    row = figures(at).loc["Test accuracy after 30 epochs"]
    assert (row["report"], row["ours"], row["difference"]) == ("80.15%", "75.00%", "-5.15 points")
    assert row["our run"] == "my report-001 run" and "scaled for a CPU" in row["why they may differ"]
    assert "validated on the test set" in row["why they may differ"]
    assert figures(at).loc["cat: accuracy on the class"]["report"] == "53.50%"
    # The lesson's runs together: their curves and per-class accuracy with the report's beside them.
    assert len(at.get("arrow_vega_lite_chart")) + len(at.get("vega_lite_chart")) >= 2
    assert any("Hyperband" in shown(i.value) for i in at.info) or "Hyperband" in text


def test_report_000_says_where_its_imagenet_weights_go_when_offline(app_env):
    at = open_reports("000")
    assert not at.exception
    [warning] = [shown(w.value) for w in at.warning]
    assert "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5" in warning and "keras-home/models" in warning
    assert next(b for b in at.button if b.label.startswith("Start the lesson")).disabled
    assert "53.00%" in figures(at)["report"].tolist()


def test_starting_a_lesson_queues_its_runs_tagged_with_it(app_env, quiet_manager, monkeypatch, tmp_path):
    monkeypatch.setenv("CIFAR10_DIR", str(write_cifar10(tmp_path / "data", per_batch=1000)))  # 5,000 images
    at = open_reports("003")
    assert not at.exception
    assert "maximum training loss" in texts(at)   # the report's sharpness beside ours
    next(b for b in at.button if b.label == "Start the lesson (8 runs)").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    runs = lessons.lesson_runs(store.list_runs(app_env)[0], "003-sharpness-grid")
    assert len(runs) == 8 and {run.status for run in runs} == {"queued"}
    assert len({run.record["tags"][lessons.START_TAG] for run in runs}) == 1
    assert {run.record["tags"][lessons.SCALE_TAG] for run in runs} == {"scaled"}
    assert {run.record["config"]["arch_params"]["width"] for run in runs} == {16}
    assert any("0/8 finished" in str(option) for option in at.selectbox(key="lesson_pick_003-sharpness-grid").options)


def test_the_teacher_hands_a_lesson_out_as_a_challenge(app_env, quiet_manager, monkeypatch):
    monkeypatch.setenv("CIFAR_TF_TEACHER_CODE", CODE)
    room = Classroom(app_env)
    student = room.join("Ada")
    assert not any(b.label == "Hand out as a challenge" for b in open_reports("004", student).button)
    token = room.join("Ms Teacher")
    room.unlock(room.viewer(token), CODE)
    at = open_reports("004", token)
    next(b for b in at.button if b.label == "Hand out as a challenge").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    challenge = room.challenge()
    assert challenge.preset == "seed004" and challenge.max_epochs == 3 and challenge.max_train_images == 3000
    assert set(challenge.archs) == {"keras_vgg19", "resnet50", "densenet121", "concat_cnn"}
    assert "architecture" in challenge.editable


def frame(at, column):
    """The page's table that has `column`."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_report_003_sets_our_sharpness_beside_its_definition_for_the_lessons_finished_runs(app_env):
    from cifar_tf.labs import measures

    runs = {run.name: run for run in store.list_runs(app_env)[0]}
    grid = runs["baseline"]   # a small trained run, as one of the lesson's
    grid.update(tags={lessons.LESSON_TAG: "003-sharpness-grid", lessons.START_TAG: "20250101-120000-abcd",
                      lessons.ARM_TAG: "resnet18-sgd-plain", lessons.SCALE_TAG: "scaled"})
    at = open_reports("003")
    assert not at.exception
    assert "maximum training loss" in texts(at) and "L2 ball of radius rho" in texts(at)
    assert any("How they differ" in shown(c.value) for c in at.caption)
    theirs, ours = frame(at, "gap (val loss − loss)"), frame(at, "sharpness (ρ 0.05)")
    last = [e for e in grid.epochs() if "val_loss" in e][-1]
    assert list(theirs["run"]) == ["baseline"]
    assert theirs["gap (val loss − loss)"][0] == pytest.approx(last["val_loss"] - last["loss"])
    assert ours["sharpness (ρ 0.05)"].isna().all()   # not measured yet
    at.button(key="sharpness_measure").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    measured = measures.cached(store.load_run(grid.id, app_env), "sharpness")
    ours = frame(at, "sharpness (ρ 0.05)")
    assert ours["sharpness (ρ 0.05)"][0] == pytest.approx(measured["sharpness"]) and measured["sharpness"] >= 0
    assert ours["λ max"][0] == pytest.approx(measured["hessian_eigenvalue"])
    assert not any(b.key == "sharpness_measure" for b in at.button)   # every finished run is measured
