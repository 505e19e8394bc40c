import json

import numpy as np
import pandas as pd
import pytest

from cifar_tf import CLASS_NAMES
from cifar_tf.evaluation import metrics
from cifar_tf.runs import files, outputs, store
from cifar_tf.views import comparison, formatting, pictures
from cifar_tf.views import evaluation as evaluation_view
from helpers import chart_rows


@pytest.fixture(scope="module")
def trained(trained_runs):
    found, problems = store.list_runs(trained_runs)
    assert not problems
    return {run.name: run for run in found}


def made_run(folder, name, *, config=None, status="completed", **fields):
    run = store.create_run(folder, arch=(config or {}).get("arch", "simple_cnn"),
                              config=config or {}, name=name, status=status)
    return run.update(**fields) if fields else run


# --- table --------------------------------------------------------------------------------------

def test_runs_table_lists_every_run_with_its_numbers(trained):
    runs = list(trained.values())
    table = comparison.runs_table(runs)
    assert list(table.columns) == comparison.TABLE_COLUMNS
    assert set(table["name"]) == {"baseline", "stopped early"}
    row = table.set_index("name").loc["baseline"]
    metrics = trained["baseline"].record["metrics"]
    assert row["status"] == "completed" and row["arch"] == "simple_cnn"
    assert row["test accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert row["weighted F1"] == pytest.approx(metrics["weighted_f1"])
    assert row["params"] == trained["baseline"].record["params"] and row["epochs"] == 2
    assert row["device"] == trained["baseline"].record["device"]["name"]
    assert pd.api.types.is_datetime64_any_dtype(table["created"])
    assert table.set_index("name").loc["stopped early", "status"] == "stopped"


def test_runs_table_tolerates_failed_and_queued_runs(runs_dir):
    failed = made_run(runs_dir, "broken", status="failed", error="out of memory", device=None,
                      metrics=None, params=None)
    queued = made_run(runs_dir, "waiting", status="queued")
    queued.record.pop("created_at")
    table = comparison.runs_table([failed, queued])
    assert list(table["name"]) == ["broken", "waiting"]
    assert table[["test accuracy", "best val accuracy", "images/s"]].isna().all().all()
    assert table["params"].isna().all() and list(table["device"]) == ["", ""]
    assert pd.isna(table.loc[1, "created"]) and not pd.isna(table.loc[0, "created"])


def test_runs_table_says_where_each_run_trains(runs_dir):
    ray = {"kind": "ray", "node": None, "address": None, "host": None, "asks": "1 GPU", "cluster": "10.0.0.1:6379"}
    local = made_run(runs_dir, "here", executor={"kind": "local", "node": "teacher-pc"})
    waiting = made_run(runs_dir, "waits", status="queued", executor=ray)
    training = made_run(runs_dir, "trains", status="running",
                        executor={**ray, "node": "3f2a9c", "address": "10.0.0.7", "host": "pc-12"})
    older = made_run(runs_dir, "before executors")
    assert list(comparison.runs_table([local, waiting, training, older])["where"]) == [
        "on teacher-pc", "waiting for 1 GPU on the Ray cluster at 10.0.0.1:6379", "on Ray node 10.0.0.7 (pc-12)", ""]


def test_runs_table_of_nothing_is_empty_with_the_columns():
    table = comparison.runs_table([])
    assert table.empty and list(table.columns) == comparison.TABLE_COLUMNS


def test_run_labels_disambiguate_repeated_names(runs_dir):
    # New runs get unique names; a copied folder (or an older lab) can still repeat one.
    a, b, c = (made_run(runs_dir, name).update(name=name.rstrip("2")) for name in ("same", "same2", "other"))
    labels = comparison.run_labels([a, b, c])
    assert labels[2] == "other" and len(set(labels)) == 3
    assert labels[0].startswith("same (") and a.id[-6:] in labels[0]


# --- curves -------------------------------------------------------------------------------------

def test_curves_are_long_tables_per_run_and_epoch(trained):
    runs = [trained["baseline"], trained["stopped early"]]
    df = comparison.curves(runs, "val_accuracy")
    assert list(df.columns) == ["run", "epoch", "value"]
    baseline = df[df["run"] == "baseline"]
    assert list(baseline["epoch"]) == [1, 2]
    expected = [e["val_accuracy"] for e in trained["baseline"].epochs()]
    assert list(baseline["value"]) == pytest.approx(expected)
    with pytest.raises(ValueError, match="unknown metric"):
        comparison.curves(runs, "../etc/passwd")


def test_curves_skip_damaged_or_missing_values(runs_dir):
    run = made_run(runs_dir, "partial")
    for record in ({"epoch": 1, "loss": 2.0}, {"epoch": 2}, {"epoch": 3, "loss": "nan?"},
                   {"epoch": 4, "loss": 1.5}):
        files.append_jsonl(run.file(store.EPOCHS_FILE), record)
    with open(run.file(store.EPOCHS_FILE), "a") as f:
        f.write('{"epoch": 5, "lo')  # torn last line
    df = comparison.curves([run], "loss")
    assert list(df["epoch"]) == [1, 4] and list(df["value"]) == [2.0, 1.5]
    assert comparison.curves([made_run(runs_dir, "none yet")], "loss").empty


def test_curves_chart_draws_every_epoch_of_every_run_in_its_own_colour(trained):
    runs = list(trained.values())
    chart = comparison.curves_chart(comparison.curves(runs, "loss"), "loss")
    drawn = {(row["run"], row["epoch"]): row["value"] for row in chart_rows(chart)}
    for run in runs:
        for epoch in run.epochs():
            assert drawn[(run.name, epoch["epoch"])] == pytest.approx(epoch["loss"])
    spec = chart.to_dict()
    assert spec["encoding"]["color"]["scale"]["domain"] == [run.name for run in runs]
    assert spec["encoding"]["y"]["title"] == "training loss"


def test_learning_rate_curves_use_a_log_scale(trained):
    df = comparison.curves(list(trained.values()), "lr")
    spec = comparison.curves_chart(df, "lr").to_dict()
    assert spec["encoding"]["y"]["scale"]["type"] == "log"


# --- config diff --------------------------------------------------------------------------------

def test_config_diff_shows_only_the_settings_that_differ(runs_dir):
    base = {"arch": "resnet", "arch_params": {"depth": 20, "width": 16}, "lr": 0.1, "epochs": 10,
            "optimizer": "sgd", "dropout": None}
    a = made_run(runs_dir, "a", config=base)
    b = made_run(runs_dir, "b", config={**base, "lr": 0.01, "arch_params": {"depth": 56, "width": 16}})
    diff = comparison.config_diff([a, b])
    assert list(diff.columns) == ["a", "b"]
    assert list(diff.index) == ["arch_params.depth", "lr"]
    assert diff.loc["lr"].tolist() == ["0.1", "0.01"]
    assert diff.loc["arch_params.depth"].tolist() == ["20", "56"]


def test_config_diff_includes_arch_and_missing_settings(runs_dir):
    a = made_run(runs_dir, "same name", config={"arch": "simple_cnn", "lr": 0.1})
    b = made_run(runs_dir, "same name", config={"arch": "vgg", "lr": 0.1, "augment": "flip"})
    diff = comparison.config_diff([a, b])
    assert list(diff.index) == ["arch", "augment"]
    assert diff.loc["augment"].tolist() == [comparison.MISSING, "flip"]
    assert diff.columns[0] != diff.columns[1]  # duplicate names get an id suffix


def test_settings_table_shows_every_setting(runs_dir):
    a = made_run(runs_dir, "a", config={"arch": "vgg", "arch_params": {"depth": 11}, "lr": 0.1,
                                        "nesterov": True, "dropout": None})
    table = comparison.settings_table([a])
    assert table["a"].to_dict() == {"arch": "vgg", "arch_params.depth": "11", "lr": "0.1",
                                    "nesterov": "True", "dropout": "none"}


def test_config_diff_of_alike_runs_or_one_run_is_empty(trained, runs_dir):
    config = {"arch": "simple_cnn", "lr": 0.1}
    a, b = made_run(runs_dir, "a", config=config), made_run(runs_dir, "b", config=config)
    assert comparison.config_diff([a, b]).empty
    assert comparison.config_diff([trained["baseline"]]).empty
    real = comparison.config_diff([trained["baseline"], trained["stopped early"]])
    assert {"batch_size", "optimizer", "lr"} <= set(real.index) and "arch" not in real.index


# --- per-class results --------------------------------------------------------------------------

def test_per_class_accuracy_is_class_by_run(trained, runs_dir):
    failed = made_run(runs_dir, "failed", status="failed")
    df = comparison.per_class_accuracy([trained["baseline"], trained["stopped early"], failed])
    assert list(df.index) == list(CLASS_NAMES)
    assert list(df.columns) == ["baseline", "stopped early"]  # the failed run has no evaluation
    evaluation = trained["baseline"].evaluation()
    expected = [np.nan if v is None else v for v in evaluation["per_class_accuracy"].values()]
    np.testing.assert_allclose(df["baseline"].to_numpy(), expected)
    assert comparison.per_class_accuracy([failed]).empty


def test_per_class_accuracy_skips_a_damaged_evaluation(runs_dir, trained):
    damaged = made_run(runs_dir, "damaged")
    damaged.file(store.EVALUATION_FILE).write_text("{not json")
    df = comparison.per_class_accuracy([trained["baseline"], damaged])
    assert list(df.columns) == ["baseline"]


def test_per_class_chart_draws_a_bar_per_class_and_run_at_its_accuracy(trained):
    df = comparison.per_class_accuracy(list(trained.values()))
    chart = comparison.per_class_chart(df)
    bars = {(row["class"], row["run"]): row["accuracy"] for row in chart_rows(chart)}
    assert len(bars) == 10 * len(df.columns)
    for run in df.columns:
        for name in CLASS_NAMES:
            assert bars[(name, run)] == pytest.approx(df.loc[name, run])
    assert chart.to_dict()["encoding"]["y"]["sort"] == list(CLASS_NAMES)   # classes in CIFAR-10's order


# --- one run's evaluation -----------------------------------------------------------------------

def test_report_table_has_classes_then_summary_rows(trained):
    evaluation = trained["baseline"].evaluation()
    table = evaluation_view.report_table(evaluation)
    assert list(table.columns) == evaluation_view.REPORT_COLUMNS
    assert list(table.index) == [*CLASS_NAMES, "accuracy", "macro avg", "weighted avg"]
    cat = evaluation["report"]["cat"]
    assert table.loc["cat", "precision"] == pytest.approx(cat["precision"])
    assert table.loc["cat", "f1"] == pytest.approx(cat["f1-score"])
    assert table.loc["accuracy", "f1"] == pytest.approx(evaluation["accuracy"])
    assert table.loc["accuracy", "support"] == evaluation["count"]
    assert pd.isna(table.loc["accuracy", "precision"])


def test_confusion_frame_counts_and_normalises_rows():
    df = evaluation_view.confusion_frame([[3, 1], [0, 0]], ["a", "b"])
    assert df.set_index(["true", "predicted"]).loc[("a", "b"), "count"] == 1
    assert df.set_index(["true", "predicted"]).loc[("a", "a"), "rate"] == pytest.approx(0.75)
    assert df["rate"][df["true"] == "b"].tolist() == [0.0, 0.0]  # an empty row is not NaN


def test_confusion_chart_shows_every_cell_with_its_count_and_a_cell_selection():
    matrix = np.diag([5] * 10) + 1
    chart = evaluation_view.confusion_chart(matrix.tolist(), list(CLASS_NAMES))
    cells = {(row["true"], row["predicted"]): row["count"] for row in chart_rows(chart)}
    assert len(cells) == 100 and cells[("cat", "cat")] == 6 and cells[("cat", "dog")] == 1
    spec = chart.to_dict()
    heat, text = spec["layer"]
    assert heat["encoding"]["color"]["field"] == text["encoding"]["text"]["field"] == "count"
    (param,) = spec["params"]
    assert param["name"] == "cell" and param["select"]["type"] == "point"
    assert param["select"]["fields"] == ["true", "predicted"]
    shares = evaluation_view.confusion_chart(matrix.tolist(), list(CLASS_NAMES), normalize=True)
    written = {(row["true"], row["predicted"]): row["percent"] for row in chart_rows(shares)}
    assert written[("cat", "cat")] == 40 and written[("cat", "dog")] == 7     # 6 of 15, 1 of 15
    assert shares.to_dict()["layer"][1]["encoding"]["text"]["field"] == "percent"


def test_selected_cell_reads_the_chart_event():
    names = list(CLASS_NAMES)
    event = {"selection": {"cell": [{"true": "cat", "predicted": "dog"}]}}
    assert evaluation_view.selected_cell(event, names) == (3, 5)
    assert evaluation_view.selected_cell({"selection": {"cell": []}}, names) is None
    assert evaluation_view.selected_cell({"selection": {}}, names) is None
    assert evaluation_view.selected_cell(None, names) is None
    assert evaluation_view.selected_cell({"selection": {"cell": [{"true": "x", "predicted": "dog"}]}}, names) is None


def test_most_confused_cell_and_cell_examples():
    assert metrics.most_confused_cell([[5, 1, 0], [4, 2, 0], [0, 0, 9]]) == (1, 0)
    assert metrics.most_confused_cell([[5, 0], [0, 3]]) is None
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.7, 0.3]])
    labels = np.array([1, 1, 1, 0])
    assert metrics.cell_examples(probabilities, labels, 1, 0) == ([0, 1], 2)
    assert metrics.cell_examples(probabilities, labels, 1, 0, limit=1) == ([0], 2)
    assert metrics.cell_examples(probabilities, labels, 0, 1) == ([], 0)


def test_load_probabilities_checks_the_file_and_its_size(trained, runs_dir):
    run = trained["baseline"]
    probabilities = outputs.load_probabilities(run, count=100)
    assert probabilities.shape == (100, 10) and probabilities.dtype == np.float32
    with pytest.raises(ValueError, match="another copy of the data"):
        outputs.load_probabilities(run, count=10000)
    with pytest.raises(ValueError, match="no saved test-set probabilities"):
        outputs.load_probabilities(made_run(runs_dir, "failed", status="failed"))
    broken = made_run(runs_dir, "broken")
    broken.file(store.PROBABILITIES_FILE).write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be read"):
        outputs.load_probabilities(broken)


def test_read_evaluation_reports_damage_clearly(runs_dir):
    run = made_run(runs_dir, "x")
    assert outputs.read_evaluation(run) is None
    run.file(store.EVALUATION_FILE).write_text("[1, 2")
    with pytest.raises(ValueError, match="cannot be read"):
        outputs.read_evaluation(run)
    run.file(store.EVALUATION_FILE).write_text(json.dumps({"accuracy": 1}))
    with pytest.raises(ValueError, match="malformed .no loss"):
        outputs.read_evaluation(run)
    good = {"accuracy": 0.5, "loss": 1.0, "weighted_f1": 0.5, "top3_accuracy": 0.9,
            "class_names": ["a", "b"], "confusion_matrix": [[1, 0], [0, 1]], "report": {}}
    run.file(store.EVALUATION_FILE).write_text(json.dumps(good))
    assert outputs.read_evaluation(run) == good
    run.file(store.EVALUATION_FILE).write_text(json.dumps({**good, "confusion_matrix": [[1, 0]]}))
    with pytest.raises(ValueError, match="does not match the classes"):
        outputs.read_evaluation(run)
    assert outputs.read_evaluation(run, corrupt_ok=True) is None


def test_gallery_enlarges_images_and_captions_predictions():
    images = np.zeros((3, 32, 32, 3), np.uint8)
    images[1, :16] = 255
    probabilities = np.array([[0.1, 0.9], [0.7, 0.3], [0.5, 0.5]])
    shown, captions = evaluation_view.gallery(images, probabilities, [1, 1, 0], [1, 0], ["cat", "dog"])
    shown = [np.asarray(p) for p in shown]
    assert [p.shape for p in shown] == [(128, 128, 3)] * 2
    assert shown[0][:64].min() == 255 and shown[0][64:].max() == 0  # sharp, not blurred
    assert captions == ["dog → cat 70% · dog 30%", "dog → dog 90% · cat 10%"]
    _, plain = evaluation_view.gallery(images, probabilities, [1, 1, 0], [0], ["cat", "dog"], show_true=False, k=1)
    assert plain == ["dog 90%"]
    assert np.asarray(pictures.enlarge(images[0], 64)).shape == (64, 64, 3)
    assert evaluation_view.probability_caption([0.996, 0.004, 0.0], ["a", "b", "c"]) == "a 100% · b <1% · c 0%"


def test_check_run_name():
    assert store.check_run_name("  wide   resnet\t") == ("wide resnet", None)
    assert store.check_run_name("   ")[1].startswith("Enter a name")
    assert "81 characters" in store.check_run_name("x" * 81)[1]
    assert store.check_run_name("x" * 80)[1] is None


def test_escape_markdown_neutralises_formatting_and_html():
    escaped = formatting.escape_markdown("**bold** <b>x</b> :red[y] [a](http://e)")
    assert "**" not in escaped and "<b>" not in escaped and ":red[" not in escaped
    assert escaped.replace("\\", "") == "**bold** <b>x</b> :red[y] [a](http://e)"


def test_the_evaluate_page_counts_the_test_images_the_run_was_scored_on():
    small = {"confusion_matrix": (np.eye(10, dtype=int) * 90 + 1).tolist()}  # a 1,000-image test set
    assert evaluation_view.test_count(small) == 1000
    assert "on the 1,000 test images it never saw" in evaluation_view.page_caption(small)
    assert "10,000" not in evaluation_view.page_caption(small)
    for unknown in (None, {}, {"confusion_matrix": "oops"}, {"confusion_matrix": [[1, 2], [3]]}):
        assert evaluation_view.test_count(unknown) is None
        assert "on the test images it never saw" in evaluation_view.page_caption(unknown)


def test_csv_text_rounds_numbers_to_a_sensible_precision():
    table = pd.DataFrame({"score": [float(np.float32(0.17)), np.nan], "seconds": [61.23456, 2.0],
                          "other": [0.1 + 0.2, 1 / 3e7], "count": pd.array([3, None], dtype="Int64"),
                          "name": ["a", "b"]})
    text = formatting.csv_text(table, {"score": 4, "seconds": 1})
    assert text.splitlines() == ["score,seconds,other,count,name", "0.17,61.2,0.3,3,a", ",2.0,3.33333e-08,,b"]


def test_no_evaluation_message_says_why(runs_dir):
    assert "failed" in evaluation_view.no_evaluation_message(made_run(runs_dir, "f", status="failed"))
    assert "still training" in evaluation_view.no_evaluation_message(made_run(runs_dir, "r", status="running"))


def test_settings_tables_leave_out_what_does_nothing_for_the_run(runs_dir):
    from cifar_tf.training.config import TrainConfig

    adam = made_run(runs_dir, "adam", config=TrainConfig(optimizer="adam", schedule="constant").to_dict())
    sgd = made_run(runs_dir, "sgd", config=TrainConfig(optimizer="sgd", schedule="step").to_dict())
    table = comparison.settings_table([adam, sgd])
    assert table.loc["momentum", "sgd"] == "0.9" and table.loc["momentum", "adam"] == comparison.MISSING
    assert table.loc["decay_every", "adam"] == comparison.MISSING and table.loc["decay_every", "sgd"] == "10"
    assert "warmup_epochs" not in table.index


def test_a_run_says_what_it_trains_with():
    from cifar_tf.views.formatting import trained_with

    class Run:
        def __init__(self, record):
            self.record = record

    assert trained_with(Run({"device": None})) == ""
    gpu = Run({"device": {"kind": "gpu", "name": "NVIDIA H200", "backend": "jax", "precision": "mixed_bfloat16",
                          "xla": True}, "placement": {"gpu": "3", "backend": "jax"}})
    assert trained_with(gpu) == "JAX on NVIDIA H200 (GPU 3), bfloat16 mixed precision, XLA"
    cpu = Run({"device": {"kind": "cpu", "name": "AMD EPYC", "backend": "tensorflow", "precision": "float32",
                          "xla": False}})
    assert trained_with(cpu) == "TensorFlow on AMD EPYC, float32"
