"""What class mode's pages draw, without a browser: the Train form under a challenge, the run
report, the runs as CSV, the leaderboard in large type, the report's charts."""
import csv
import io
import re

import numpy as np
import pytest

from cifar_tf.classroom import challenge as rules
from cifar_tf.classroom.leaderboard import COLUMNS
from cifar_tf.classroom.links import config_from_link
from cifar_tf.runs import store
from cifar_tf.training.config import TrainConfig
from cifar_tf.training.presets import preset_config
from cifar_tf.views import train_form as form
from cifar_tf.views.class_form import FormRules, field_of
from cifar_tf.views.classroom import projector_html
from cifar_tf.views.comparison import comparison_csv
from cifar_tf.views.report import run_report
from cifar_tf.views.svg import line_chart, nice_ticks


def challenge(base=None, **overrides):
    settings = {"editable": ["learning rate", "epochs"], "max_epochs": 3, "preset": "quick"}
    settings.update(overrides)
    return rules.new_challenge("Quick", base or preset_config("quick"), **settings)


def test_without_a_challenge_the_form_is_as_it_always_was():
    free = FormRules()
    assert all(free.shows(key) for key in form.initial_state())
    assert free.number_bounds("epochs") == form.number_bounds("epochs")
    state = {}
    assert free.prepare(state) is False
    assert state == form.initial_state()


def test_a_challenge_shows_only_its_open_settings_within_its_limits():
    rules_ = FormRules(challenge(preset_config("quick", train_limit=5000), max_train_images=5000,
                                 archs=["simple_cnn", "resnet20"]))
    assert rules_.shows("cfg_epochs") and rules_.shows("cfg_lr")
    assert not any(rules_.shows(key) for key in ("cfg_batch_size", "cfg_arch", "cfg_augment", "cfg_sam",
                                                  "cfg_dropout_on", "hp_simple_cnn_filters1"))
    assert not rules_.shows_section("advanced") and not rules_.shows_section("regularisation")
    assert rules_.number_bounds("epochs")["max_value"] == 3
    assert rules_.train_limits(form.TRAIN_LIMITS) == [1000, 2000, 5000]
    assert rules_.archs(["vgg16", "resnet20", "simple_cnn"]) == ["resnet20", "simple_cnn"]
    assert field_of("cfg_sam") == "sam_rho" and field_of("hp_resnet20_width") == "arch_params"


def test_the_form_starts_from_the_challenge_and_gives_back_its_fixed_settings():
    quick = challenge()
    rules_ = FormRules(quick)
    state = dict(form.initial_state(), cfg_batch_size=512)  # a session that had the form before
    assert rules_.prepare(state) is True  # the challenge is new to this form: its values
    assert state["cfg_epochs"] == 3 and state["cfg_train_limit"] == 10000 and state["cfg_batch_size"] == 64
    assert rules_.prepare(state) is False
    state.update(cfg_lr=0.01, cfg_batch_size=1024)  # a hidden widget's value cannot get through
    config, problem = rules_.config(state)
    assert problem is None and config.lr == 0.01 and config.batch_size == 64
    assert rules.problems(quick, config) == []


def test_a_link_is_fitted_to_the_challenge_and_says_what_changed():
    rules_ = FormRules(challenge(preset_config("quick", train_limit=2000), archs=["simple_cnn"],
                                 editable=["architecture", "epochs", "training images"], max_train_images=2000))
    link, problems = config_from_link("http://lab/train?preset=quick&arch=vgg16&epochs=50&train_limit=0&batch_size=8")
    assert problems == []
    fitted, changes = rules_.fit(link)
    assert (fitted.arch, fitted.epochs, fitted.train_limit, fitted.batch_size) == ("simple_cnn", 3, 2000, 64)
    assert rules.problems(rules_.challenge, fitted) == []
    # Silently clamped before: now each change is listed, as the Train page shows them.
    assert changes == ["arch vgg16 -> simple_cnn (the challenge allows simple_cnn only)",
                       "epochs 50 -> 3 (the challenge allows at most 3)",
                       "batch_size 8 -> 64 (the challenge fixes it)",
                       "train_limit all -> 2000 (the challenge allows at most 2,000 training images)"]
    assert rules_.fit(fitted) == (fitted, [])
    assert FormRules().fit(link) == (link, [])  # no challenge: the link as it is


def test_the_summary_says_what_students_may_change():
    text = FormRules(challenge(time_budget_s=300)).summary()
    assert "Quick" in text and "quick preset" in text and "you may change epochs, learning rate" in text
    assert "at most 3 epochs" in text and "5 min of training per run" in text
    assert FormRules().summary() is None
    fitted = FormRules(challenge(max_epochs=2)).summary()  # the quick preset's 3 epochs, cut to 2
    assert "start from the quick preset fitted to the limits" in fitted and "at most 2 epochs" in fitted


# --- the report -----------------------------------------------------------------------------------

@pytest.fixture
def scored_run(runs_dir):
    run = store.create_run(runs_dir, arch="simple_cnn", config=TrainConfig(epochs=2).to_dict(),
                           name="<script>alert(1)</script> & co", status="completed")
    run.update(metrics={"test_accuracy": 0.8125, "test_loss": 0.5, "weighted_f1": 0.8, "top3_accuracy": 0.95,
                        "train_seconds": 61.0}, params=1234, epochs_completed=2)
    for epoch, (loss, accuracy) in enumerate([(1.5, 0.4), (0.9, 0.7)], start=1):
        with open(run.path / store.EPOCHS_FILE, "a") as f:
            f.write(f'{{"epoch": {epoch}, "loss": {loss}, "accuracy": {accuracy}, "val_loss": null}}\n')
    from cifar_tf.evaluation.metrics import evaluate_probabilities
    from cifar_tf.runs.files import atomic_save_npy, atomic_write_json

    labels = np.arange(20) % 10
    probabilities = np.full((20, 10), 0.01)
    probabilities[np.arange(20), (labels + (np.arange(20) < 4)) % 10] = 0.91  # four mistakes
    atomic_write_json(run.path / store.EVALUATION_FILE, evaluate_probabilities(probabilities, labels))
    atomic_save_npy(run.path / store.PROBABILITIES_FILE, probabilities.astype(np.float32))
    return store.load_run(run.id, runs_dir), labels


class Dataset:
    def __init__(self, labels):
        self.y_test = labels
        self.x_test = np.random.default_rng(0).integers(0, 255, (len(labels), 32, 32, 3), dtype=np.uint8)


def test_the_report_is_one_offline_file_with_every_part(scored_run):
    run, labels = scored_run
    html = run_report(run, owner="Bo <b>", dataset=Dataset(labels))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "Bo &lt;b&gt;" in html
    assert "81.2%" in html and "1,234" in html and "1:01" in html
    assert html.count("<svg") == 3 and "Confusion matrix" in html and "Per-class report" in html  # loss, accuracy
    assert html.count('aria-label="reliability diagram"') == 1 and "<h2>Calibration</h2>" in html
    assert html.count("data:image/png;base64,") == 4  # the four mistakes, inline
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing to fetch
    assert "epochs</td><td>2</td>" in html  # the configuration


def test_without_the_dataset_the_report_says_the_mistakes_are_missing(scored_run):
    run, _ = scored_run
    html = run_report(run)
    assert "data:image/png" not in html and "test images were not on the machine" in html


def test_a_run_without_evaluation_still_gets_a_report(runs_dir):
    run = store.create_run(runs_dir, arch="simple_cnn", config={}, status="failed")
    html = run_report(run)
    assert "no test-set evaluation" in html and "No finished epochs" in html


# --- CSV, projector, charts -----------------------------------------------------------------------

def test_the_runs_as_csv_have_every_setting_and_no_formulas(scored_run):
    run, _ = scored_run
    run.record["name"] = "=HYPERLINK(\"http://x\")"
    rows = list(csv.DictReader(io.StringIO(comparison_csv([run], {run.id: "@Bo"}))))
    assert len(rows) == 1
    row = rows[0]
    assert row["name"].startswith("'=") and row["owner"] == "'@Bo"
    assert row["test accuracy"] == "0.8125" and row["setting: epochs"] == "2" and row["setting: arch"] == "simple_cnn"


def test_the_runs_as_csv_round_their_numbers(scored_run):
    run, _ = scored_run
    run.update(metrics={**run.record["metrics"], "test_accuracy": float(np.float32(0.17)), "train_seconds": 61.23456,
                        "best_val_accuracy": 0.123456789, "images_per_second": 1234.5678, "weighted_f1": 0.2})
    assert float(np.float32(0.17)) == 0.17000000178813934  # what a float32 metric is as a Python float
    text = comparison_csv([store.load_run(run.id, run.path.parent)])
    assert "0.17000000178813934" not in text
    row = next(csv.DictReader(io.StringIO(text)))
    assert (row["test accuracy"], row["best val accuracy"], row["weighted F1"]) == ("0.17", "0.1235", "0.2")
    assert (row["training time (s)"], row["images/s"], row["epochs"]) == ("61.2", "1234.6", "2.0")


def test_the_projector_view_escapes_names_and_ranks_in_large_type():
    rows = [dict(zip(COLUMNS, [1, "<i>Bo</i>", 0.74, 42.0, 1234.0, "simple_cnn", "<b>run</b>", 1, "r-1"])),
            dict(zip(COLUMNS, [2, "Ada", 0.61, None, None, "simple_cnn", "a", 2, "r-2"]))]
    html = projector_html(rows)
    assert "&lt;i&gt;Bo&lt;/i&gt;" in html and "<i>Bo</i>" not in html and "&lt;b&gt;run&lt;/b&gt;" in html
    assert html.index("Bo") < html.index("Ada") and "74.0%" in html and "0:42" in html
    assert "href='train?run=r-1'" in html


def test_chart_ticks_are_round_and_cover_the_data():
    assert nice_ticks(0.3, 0.93) == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(1, 10, count=8, integers=True) == [0, 2, 4, 6, 8, 10]
    svg = line_chart({"training": [(1, 0.5), (2, None), (3, 0.8)]}, title="Accuracy <&>", y_label="accuracy",
                     percent=True)
    assert svg.startswith("<svg") and "Accuracy &lt;&amp;&gt;" in svg and svg.count("<circle") == 2
    assert "no points recorded" in line_chart({"training": []}, title="Loss", y_label="loss")


def test_a_charts_legend_wraps_so_that_no_name_runs_over_the_next():
    import re

    names = [f"ResNet18, SGD, seed {seed}, from a lesson" for seed in range(8)]
    svg = line_chart({name: [(1, 0.3), (2, 0.5)] for name in names}, title="Accuracy", y_label="accuracy")
    entries = [(float(x), float(y), name) for x, y, name in re.findall(r'<text x="([\d.]+)" y="([\d.]+)">([^<]*)</text>', svg)
               if name in names]
    assert [name for _, _, name in entries] == names
    assert len(set(re.findall(r'fill="(#[0-9a-f]{6})"/><text', svg))) == 8           # a colour each
    for (x, y, name), (next_x, next_y, _) in zip(entries, entries[1:]):
        assert next_y > y or next_x >= x + 7 * len(name), name                    # wrapped, or after it
    assert max(x + 7 * len(name) for x, _, name in entries) <= 520                 # within the chart
