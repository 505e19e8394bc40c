"""The five reports as lessons: each lesson's presets build the report's network with the report's
settings, `reports --json` lists them all, the report's figures sit beside ours, and a scaled lesson
runs end to end through the run manager."""
import argparse
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from cifar_tf.data.augment import parse_augmentation
from cifar_tf.labs import report_lessons as lessons
from cifar_tf.labs.reports import REPORTS, get_report
from cifar_tf.models.registry import build_model
from cifar_tf.runs import store
from cifar_tf.search import space as spaces
from cifar_tf.training.optim import make_schedule
from cifar_tf.training.presets import PRESETS, preset_notes
from helpers import ROOT, finished_run_with_curve, wait_for

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.backend.clear_session()
    yield
    keras.backend.clear_session()


def configs(lesson_id, scale="full"):
    return dict((arm.name, config) for arm, config in lessons.lesson_configs(lesson_id, scale))


def trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def model_of(config, **changes):
    return build_model(config.arch, **{**config.arch_params, **changes})


# Parameter counts written out layer by layer: (kernel, inputs, outputs) convs with or without a
# bias, BatchNorm's four numbers per channel (Keras counts the moving statistics too), Dense layers.
def conv(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def bn(channels):
    return 4 * channels


def dense(cin, cout):
    return cin * cout + cout


# --- each report's network and settings ----------------------------------------------------------

def test_000_is_densenet121_transfer_against_the_same_network_with_sam():
    arms = configs("000-transfer-vs-sam")
    plain, sam = arms["transfer"], arms["sam"]
    assert plain.arch == sam.arch == "densenet121" and plain.arch_params["weights"] == "imagenet"
    assert plain.epochs == sam.epochs == 10 and (plain.sam_rho, sam.sam_rho) == (0.0, 0.05)
    assert {**plain.to_dict(), "sam_rho": 0.05} == sam.to_dict()   # the same run, with SAM
    # ImageNet weights are not here (no network in tests): the same network without them, whose
    # base keras.applications counts 7,037,504 parameters without its top.
    model = model_of(plain, weights=None)
    assert model.get_layer("base").count_params() == 7_037_504
    assert model.count_params() == 7_037_504 + dense(1024, 256) + dense(256, 10)
    # Offline, the page and the command line say which file to put where.
    missing = lessons.missing_weights(lessons.get_lesson("000-transfer-vs-sam"), "scaled")
    assert [entry["file"] for entry in missing] == ["densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"]
    message = lessons.weights_message(missing[0])
    assert "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5" in message and "$KERAS_HOME/models/" in message
    assert message.count(missing[0]["folder"]) == 1 and "keras-home" in missing[0]["folder"]
    # The scaled lesson stops at epoch 3, the report's first checkpoint.
    assert configs("000-transfer-vs-sam", "scaled")["transfer"].epochs == 3
    assert PRESETS["transfer"]["config"]["arch"] == "mobilenetv2" and "not report 000" in PRESETS["transfer"]["description"]


def test_001_is_its_code_cnn_with_one_learning_rate_drop_and_its_augmentation():
    config = configs("001-cnn")["cnn"]
    assert (config.epochs, config.batch_size, config.optimizer) == (30, 32, "adam")  # 1,563 steps of 32
    expected = (conv(3, 3, 32) + bn(32) + conv(3, 32, 64) + bn(64) + conv(3, 64, 64) + bn(64)
                + dense(4 * 4 * 64, 64) + bn(64) + dense(64, 10))
    assert expected == 123_466 and model_of(config).count_params() == expected
    # The report's log: 1e-3 until epoch 10, then 1e-4 to the end (epochs counted from 0).
    steps = 1563
    schedule = make_schedule(config, steps)
    rate = {epoch: float(keras.ops.convert_to_numpy(schedule(epoch * steps))) for epoch in (0, 9, 10, 22, 29)}
    assert rate[0] == rate[9] == pytest.approx(1e-3)
    assert rate[10] == rate[22] == rate[29] == pytest.approx(1e-4)
    assert float(keras.ops.convert_to_numpy(schedule(10 * steps - 1))) == pytest.approx(1e-3)
    aug = parse_augmentation(config.augment)
    assert (aug.rotation, aug.shift, aug.shear, aug.zoom, aug.flip) == (15, 0.1, 0.2, 0.2, True)
    scaled = configs("001-cnn", "scaled")["cnn"]
    assert scaled.epochs > scaled.decay_every and scaled.train_limit == 10000   # the drop still shows


def test_001_search_is_its_two_conv_hypermodel_with_its_hyperband_budget():
    space = spaces.load_space("seed001")
    assert space["arch"] == "hyper_cnn" and space["tuner"] == "hyperband" and space["epochs"] == 10
    assert space["base"]["early_stopping"] == 3
    # build_hypermodel at conv_1 32, conv_2 96, dense 128: two convs, a max-pool after each.
    expected = (conv(3, 3, 32) + bn(32) + conv(3, 32, 96) + bn(96) + dense(6 * 6 * 96, 128) + bn(128)
                + dense(128, 10))
    assert expected == 473_450
    assert build_model("hyper_cnn", filters1=32, filters2=96, dense_units=128).count_params() == expected
    assert build_model("simple_cnn", filters2=96, dense_units=128).count_params() == 217_770  # the third conv
    full = lessons.search_budget(lessons.get_lesson("001-search"), "full")
    assert (full["max_trials"], full["epochs"], full["train_limit"]) == (60, 10, 0)   # two iterations
    assert full["max_trials"] == 2 * sum(trials for trials, _ in spaces.hyperband_rounds(10))
    scaled = lessons.search_budget(lessons.get_lesson("001-search"), "scaled")
    assert (scaled["max_trials"], scaled["epochs"], scaled["train_limit"]) == (10, 4, 5000)
    assert "scaled" not in lessons.get_lesson("001-search").full_note
    assert "the report ran two" in lessons.get_lesson("001-search").scaled_note
    # The command line's default is the report's budget too, not 10 trials of 2 epochs.
    from cifar_tf.cli.search import _search_settings

    def settings(**flags):
        args = dict(max_trials=None, epochs=None, train_limit=None, val_size=None, time_limit=None, tuner=None,
                    space="seed001")
        return _search_settings(argparse.Namespace(**{**args, **flags}))
    assert spaces.default_max_trials("seed001", space) == 60
    assert settings() == {"space": space, "max_trials": 60}
    assert settings(epochs="4") == {"space": space, "epochs": 4, "max_trials": 2 * spaces.hyperband_trials(4)}
    assert settings(max_trials="3")["max_trials"] == 3
    assert spaces.default_max_trials("seed002", spaces.load_space("seed002")) == 10


def test_002_is_its_best_resnet_with_rotation_shift_flip_and_zoom():
    config = configs("002-best")["resnet"]
    assert config.arch == "resnet_style" and config.arch_params == {"depth": 4, "dense_units": 1024, "l2": 5e-4}
    assert (config.batch_size, config.epochs, config.optimizer, config.dropout) == (128, 40, "adam", 0.3)
    assert config.lr == pytest.approx(0.0002920517093676461) and config.schedule == "exponential"
    # A 3x3 stem of 32 filters, four residual stages (the first at 32 px, each later one halving it
    # with a 1x1 projection), global average pooling, Dense 1024, the classes: our reading of its layers.
    stages = bn(32) + conv(3, 3, 32, False)
    width = 32
    for stage in range(4):
        out = 32 * 2 ** stage
        stages += conv(3, width, out, False) + bn(out) + conv(3, out, out, False) + bn(out)
        if out != width:
            stages += conv(1, width, out, False) + bn(out)
        width = out
    expected = stages + dense(256, 1024) + dense(1024, 10)
    assert expected == 1_502_698 and model_of(config).count_params() == expected
    aug = parse_augmentation(config.augment)
    assert aug.rotation and aug.shift and aug.flip and aug.zoom and not (aug.crop or aug.shear or aug.cutout)
    differences = " ".join(preset_notes("seed002")["differences"])
    assert "guesses" in differences.lower() and "rotation 15" in differences and "zoom 0.1" in differences
    schedule = make_schedule(config, 100)
    assert float(keras.ops.convert_to_numpy(schedule(10 * 100))) == pytest.approx(config.lr * 0.5)


def test_003_is_the_grid_of_eight_runs():
    arms = configs("003-sharpness-grid")
    grid = {(c.arch, c.optimizer, c.sam_rho > 0) for c in arms.values()}
    assert len(arms) == 8 and grid == {(a, o, s) for a in ("resnet18", "vgg16") for o in ("sgd", "adam")
                                       for s in (False, True)}
    assert {c.sam_rho for c in arms.values()} == {0.0, 0.05}
    # The CIFAR variants (kuangliu/pytorch-cifar): PyTorch counts 11,173,962 trainable parameters for
    # ResNet18; for VGG16 14,728,266, less the 4,224 conv biases we drop before BatchNorm.
    assert trainable(model_of(arms["resnet18-sgd-plain"])) == 11_173_962
    vgg_convs = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    widths = list(zip([3] + vgg_convs[:-1], vgg_convs))
    expected = sum(conv(3, a, b, False) + 2 * b for a, b in widths) + dense(512, 10)
    assert expected == 14_728_266 - sum(vgg_convs)
    assert trainable(model_of(arms["vgg16-adam-sam"])) == expected
    scaled = configs("003-sharpness-grid", "scaled")
    assert all(c.arch_params["width"] == 16 and c.epochs == 4 and c.train_limit == 4000 for c in scaled.values())
    report = get_report("003")
    assert "maximum training loss" in report.extra["their_sharpness"] and "rho" in report.extra["our_sharpness"]


def test_004_is_the_four_networks_at_batch_32_with_early_stopping_and_the_data_set_warning():
    arms = configs("004-four-networks")
    assert {c.arch for c in arms.values()} == {"keras_vgg19", "resnet50", "densenet121", "concat_cnn"}
    assert all(c.batch_size == 32 and c.early_stopping == 3 for c in arms.values())
    assert [arms[name].epochs for name in ("vgg19", "resnet50", "densenet121", "concat")] == [5, 5, 5, 10]
    # keras.applications' bases without their top, at 32x32x3 and without ImageNet weights.
    known = {"vgg19": 20_024_384, "resnet50": 23_587_712, "densenet121": 7_037_504}
    for name, count in known.items():
        assert arms[name].arch_params.get("weights") is None
        assert model_of(arms[name]).get_layer("base").count_params() == count, name
        keras.backend.clear_session()
    # The concatenating CNN as its text describes it: a conv stem and max-pool, three blocks of two
    # concatenated conv pairs with BatchNorm and average pooling, a last max-pool, Dense 256 and 128.
    expected = (conv(3, 3, 32) + 4 * conv(3, 32, 32) + bn(64) + 4 * conv(3, 64, 64) + bn(128)
                + 4 * conv(3, 128, 128) + bn(256) + dense(256, 256) + dense(256, 128) + dense(128, 10))
    assert model_of(arms["concat"]).count_params() == expected == 877_706
    warning = " ".join(preset_notes("seed004")["differences"]) + " ".join(get_report("004").caveats)
    assert "50,576" in warning and "32 px" in warning and "not from CIFAR-10's test set" in warning
    assert lessons.gd_minimum()[2] == pytest.approx(-2.2807097055009007, abs=1e-6)


def test_every_figure_is_in_its_report_text():
    seeds = ROOT.parent / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip("the reports are not next to this checkout")
    texts = {report.id: (seeds / report.file).read_text(encoding="utf-8") for report in REPORTS.values()}
    written = {"000": ["53%", "70%", "52%", "63%"], "001": ["0.8015", "0.7978", "813", "937", "535"],
               "002": ["0.9191", "0.81"], "004": ["-2.2807097055009007", "50576", "0.99", "0.95", "0.98"]}
    for report_id, numbers in written.items():
        assert all(number in texts[report_id] for number in numbers), report_id
    assert "Epoch 30/30" in texts["001"] and "1563/1563" in texts["001"]   # 30 epochs of batches of 32
    assert "learning_rate: 1.0000e-04" in texts["001"] and "1265/1265" in texts["004"]
    assert not REPORTS["003"].figures   # its results are pictures only


# --- the figures beside ours ------------------------------------------------------------------------

def tagged(run, lesson, arm, scale="scaled", start="20250101-120000-abcd"):
    run.update(tags={lessons.LESSON_TAG: lesson, lessons.ARM_TAG: arm, lessons.SCALE_TAG: scale,
                     lessons.START_TAG: start})
    return store.load_run(run.id, run.path.parent)


def test_side_by_side_puts_ours_beside_the_report_and_says_why(runs_dir):
    run = tagged(finished_run_with_curve(runs_dir, accuracy=0.75, curve=(0.4, 0.5, 0.61),
                                         per_class=[0.7] * 10), "000-transfer-vs-sam", "transfer")
    rows = {row["figure"]: row for row in lessons.side_by_side("000", [run])}
    epoch3 = rows["DenseNet121 transfer: accuracy after epoch 3"]
    assert epoch3["report"] == 0.53 and epoch3["ours"] == pytest.approx(0.61)
    assert epoch3["difference"] == pytest.approx(0.08) and epoch3["run"].id == run.id
    assert "scaled for a CPU" in epoch3["why"] and "validation split" in epoch3["why"]
    epoch10 = rows["DenseNet121 transfer: accuracy after epoch 10"]
    assert epoch10["ours"] is None and "trained 3 epochs, not 10" in epoch10["why"]
    assert rows["With SAM: accuracy after epoch 3"]["ours"] is None
    assert "no finished run" in rows["With SAM: accuracy after epoch 3"]["why"]

    gd = lessons.side_by_side("004", [])[0]
    assert round(gd["report"], 4) == -2.2807 and abs(gd["difference"]) < 1e-6


def test_runs_group_by_lesson_start_in_arm_order_newest_first(runs_dir):
    def run(name, lesson, arm, start):
        return tagged(finished_run_with_curve(runs_dir, accuracy=0.5, name=name), lesson, arm, start=start)

    sam = run("sam", "000-transfer-vs-sam", "sam", "20250102-080000-aaaa")
    transfer = run("transfer", "000-transfer-vs-sam", "transfer", "20250102-080000-aaaa")
    older = run("older", "000-transfer-vs-sam", "transfer", "20250101-080000-bbbb")
    cnn = run("cnn", "001-cnn", "cnn", "20250101-090000-cccc")
    unknown = run("copied", "999-gone", "x", "20240101-080000-dddd")   # a lesson this lab does not know
    plain = finished_run_with_curve(runs_dir, accuracy=0.5, name="plain")
    odd = finished_run_with_curve(runs_dir, accuracy=0.5, name="odd").update(tags={lessons.LESSON_TAG: ["003"]})
    groups = lessons.lesson_groups([sam, older, plain, cnn, transfer, unknown, odd])
    assert [(g["lesson"], g["start"][:15]) for g in groups] == [
        ("000-transfer-vs-sam", "20250102-080000"), ("001-cnn", "20250101-090000"),
        ("000-transfer-vs-sam", "20250101-080000"), ("999-gone", "20240101-080000")]
    assert [r.name for r in groups[0]["runs"]] == ["transfer", "sam"]   # the lesson's arm order
    assert (groups[0]["report"], groups[0]["scale"]) == ("000", "scaled")
    assert groups[-1]["title"] == "999-gone" and [r.name for r in groups[-1]["runs"]] == ["copied"]
    assert [g["start"] for g in lessons.lesson_starts([sam, older, cnn], "000-transfer-vs-sam")] == [
        "20250102-080000-aaaa", "20250101-080000-bbbb"]
    assert lessons.run_lesson(plain) is None and lessons.run_lesson(odd) is None
    assert lessons.lesson_label(sam) == ("Report 000 · DenseNet121 transfer learning, without and with SAM · "
                                         "scaled for a CPU")
    assert lessons.run_lesson(sam)["arm_label"] == "DenseNet121 transfer + SAM"


def test_a_lesson_runs_html_report_names_its_report_and_lesson(runs_dir):
    from cifar_tf.views.report import run_report

    run = tagged(finished_run_with_curve(runs_dir, accuracy=0.5, name="r"), "001-cnn", "cnn")
    html = run_report(run)
    assert ("One of the runs of report 001&#39;s lesson “The report&#39;s CNN: augmentation and one learning-rate "
            "drop” (001-cnn): its run “simple_cnn, report 001&#39;s recipe”, scaled for a CPU, started 2025-01-01 "
            "12:00.") in html
    assert "One of the runs of" not in run_report(finished_run_with_curve(runs_dir, accuracy=0.5, name="plain"))


def test_a_lessons_html_report_sets_its_runs_side_by_side(runs_dir):
    from cifar_tf.views.report import lesson_report

    def arm(name, arm, optimizer, accuracy, per_class):
        return tagged(finished_run_with_curve(runs_dir, accuracy=accuracy, name=name, optimizer=optimizer,
                                              curve=(0.3, accuracy), per_class=per_class), "000-transfer-vs-sam", arm)

    transfer = arm("plain <b>", "transfer", "sgd", 0.61, [0.6] * 9 + [0.7])
    sam = arm("with SAM", "sam", "adam", 0.67, [0.65] * 9 + [0.92])
    [group] = lessons.lesson_groups([sam, transfer])
    html = lesson_report(group)
    assert "<title>Report 000 · DenseNet121 transfer learning, without and with SAM · CIFAR-10 Lab report</title>" in html
    assert "2 runs of lesson 000-transfer-vs-sam, started together (scaled for a CPU)" in html
    # The numbers of both, in the lesson's arm order; a run's name is text, never markup.
    table = html.split("<h2>The runs</h2>")[1]
    assert table.index("plain &lt;b&gt;") < table.index("with SAM") and "<b>" not in html.split("<body>")[1]
    assert "<td>61.0%</td>" in html and "<td>67.0%</td>" in html
    # One chart per metric with a line per run (the legend names both), accuracy on each class side by side.
    charts = html.split("<svg")[1:]
    assert len(charts) == 2 and all("plain &lt;b&gt;" in chart and "with SAM" in chart for chart in charts)
    assert "<tr><td>truck</td><td>70.0%</td><td>92.0%</td></tr>" in html
    assert html.count('<table class="confusion small">') == 2
    assert "<tr><td>optimizer</td><td>sgd</td><td>adam</td></tr>" in html
    assert "http" not in html.replace("http://www.w3.org/2000/svg", "")   # opens offline


def test_a_lesson_can_be_handed_out_as_a_challenge():
    from cifar_tf.classroom.challenge import new_challenge, problems

    challenge = new_challenge(**lessons.challenge_settings("003-sharpness-grid", "scaled"))
    assert challenge.preset == "seed003" and challenge.max_epochs == 4 and challenge.max_train_images == 4000
    assert {"architecture", "optimizer", "learning rate", "SAM"} <= set(challenge.editable)
    for _, config in lessons.lesson_configs("003-sharpness-grid", "scaled"):
        assert not problems(challenge, config)   # every run of the lesson is allowed


# --- the command line --------------------------------------------------------------------------------

def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "cifar_tf", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def test_reports_json_lists_all_five_with_their_experiments(runs_dir):
    done = cli("reports", "--json", "--runs-dir", runs_dir)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [r["id"] for r in listed] == ["000", "001", "002", "003", "004"]
    assert all(r["question"] and r["setup"] and r["lessons"] for r in listed)
    by_id = {r["id"]: r for r in listed}
    assert [arm["full"]["arch"] for arm in by_id["000"]["lessons"][0]["arms"]] == ["densenet121", "densenet121"]
    assert by_id["001"]["lessons"][1]["search"]["full"]["max_trials"] == 60
    assert len(by_id["003"]["lessons"][0]["arms"]) == 8 and by_id["003"]["sharpness"]["their_sharpness"]
    assert {arm["scaled"]["train_limit"] for arm in by_id["004"]["lessons"][0]["arms"]} == {3000}
    assert by_id["002"]["side_by_side"][0]["report"] == 0.9191 and by_id["002"]["side_by_side"][0]["ours"] is None
    assert any(row["report"] == -2.2807097055009007 for row in by_id["004"]["side_by_side"])

    one = cli("reports", "4", "--runs-dir", runs_dir)
    assert one.returncode == 0 and "50,576" in one.stdout and "-2.2807" in one.stdout
    bad = cli("reports", "007", "--runs-dir", runs_dir)
    assert bad.returncode == 2 and "error: --report: '007' is not valid" in bad.stderr


# --- a lesson end to end --------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_scaled_lesson_runs_end_to_end_through_the_run_manager(cifar_dir, runs_dir):
    from cifar_tf.runs.manager import RunManager

    manager = RunManager(runs_dir, max_concurrent=1, data_dir=cifar_dir)
    # Report 001's scaled lesson on the 500-image synthetic set: fewer images and epochs still.
    start, runs = lessons.submit_lesson(manager, "001-cnn", "scaled",
                                        overrides=dict(train_limit=400, val_size=100, epochs=2, log_every=5))
    assert len(runs) == 1 and runs[0].record["tags"][lessons.START_TAG] == start

    def finished():
        manager.poll()
        return store.load_run(runs[0].id, runs_dir).status in ("completed", "failed")
    assert wait_for(finished, timeout=150)
    run = store.load_run(runs[0].id, runs_dir)
    assert run.status == "completed", run.record.get("error")
    assert run.record["config"]["schedule"] == "drop" and run.record["config"]["augment"] == "seed001"
    assert run.record["tags"][lessons.SCALE_TAG] == "scaled" and run.record["tags"][lessons.ARM_TAG] == "cnn"
    everything = store.list_runs(runs_dir)[0]
    assert [entry["start"] for entry in lessons.lesson_starts(everything, "001-cnn")] == [start]
    rows = {row["figure"]: row for row in lessons.side_by_side("001", everything)}
    accuracy = rows["Test accuracy after 30 epochs"]
    assert accuracy["ours"] == pytest.approx(run.record["metrics"]["test_accuracy"]) and accuracy["run"].id == run.id
    assert rows["Weighted F1 on the test set"]["ours"] is not None
    assert rows["cat: accuracy on the class"]["ours"] is not None and "another run" in rows["cat: accuracy on the class"]["why"]
