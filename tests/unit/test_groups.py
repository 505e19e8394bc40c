"""Repeats, groups of runs of one configuration, their bands, and whether two groups differ."""
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from cifar_tf.evaluation.significance import compare_means, verdict
from cifar_tf.runs import store
from cifar_tf.runs.repeats import GROUP_TAG, REPEATS, repeat_seeds, submit_repeats
from cifar_tf.training.config import TrainConfig
from cifar_tf.views import groups as grouping
from helpers import ROOT, finished_run_with_curve as finished

# --- is the difference real? ---------------------------------------------------------------------

def test_the_interval_is_welchs_and_a_clear_gap_is_called_real():
    sgd, adam = [0.900, 0.910, 0.905], [0.920, 0.925, 0.930]
    difference = compare_means(sgd, adam)
    welch = stats.ttest_ind(adam, sgd, equal_var=False).confidence_interval(0.95)
    assert difference.difference == pytest.approx(0.02)
    assert (difference.low, difference.high) == pytest.approx((welch.low, welch.high))
    assert difference.real
    sentence = verdict(difference, names=("SGD", "Adam"))
    assert sentence.startswith("Adam is ahead of SGD by 2.00 ± 1.13 points: more than the seed-to-seed spread")
    assert "n = 3 and 3" in sentence


def test_a_gap_inside_the_seed_spread_is_within_noise():
    difference = compare_means([0.90, 0.91], [0.905, 0.912])
    assert difference.known and not difference.real and difference.low < 0 < difference.high
    assert verdict(difference).startswith("Within noise")


def test_one_run_each_cannot_tell_and_says_to_repeat():
    difference = compare_means([0.80], [0.85])
    assert not difference.known and not difference.real
    assert difference.difference == pytest.approx(0.05)
    assert "one run cannot tell" in verdict(difference) and "×3" in verdict(difference)


def test_identical_repeats_make_an_exact_difference():
    difference = compare_means([0.5, 0.5], [0.6, 0.6])
    assert difference.real and difference.low == difference.high == pytest.approx(0.1)


@pytest.mark.parametrize("confidence", [0, 1, 1.5])
def test_a_confidence_outside_zero_to_one_is_refused_by_name(confidence):
    with pytest.raises(ValueError, match="confidence="):
        compare_means([0.1, 0.2], [0.3, 0.4], confidence=confidence)


# --- groups ---------------------------------------------------------------------------------------

def test_runs_differing_only_in_seed_and_name_form_one_group(runs_dir):
    a = [finished(runs_dir, accuracy=acc, seed=seed, name=f"sgd {seed}") for seed, acc in enumerate([0.5, 0.6])]
    b = finished(runs_dir, accuracy=0.7, optimizer="adam", name="adam")
    groups = grouping.group_runs([*a, b])
    assert [len(group.runs) for group in groups] == [2, 1]
    table = grouping.groups_table(groups)
    assert list(table["n"]) == [2, 1]
    assert table["test accuracy"][0] == pytest.approx(0.55)
    assert table["± std"][0] == pytest.approx(np.std([0.5, 0.6], ddof=1))
    assert (table["min"][0], table["max"][0]) == pytest.approx((0.5, 0.6))
    assert np.isnan(table["± std"][1])
    assert table["best val accuracy"][0] == pytest.approx(0.6) and table["best epoch"][0] == 3


def test_the_best_validation_accuracy_is_taken_at_its_own_epoch(runs_dir):
    run = finished(runs_dir, accuracy=0.5, curve=(0.4, 0.7, 0.6))
    table = grouping.groups_table(grouping.group_runs([run]))
    assert table["best val accuracy"][0] == pytest.approx(0.7) and table["best epoch"][0] == 2


def test_bands_are_the_mean_and_spread_of_each_epoch(runs_dir):
    runs = [finished(runs_dir, accuracy=0.5, seed=0, curve=(0.2, 0.4)),
            finished(runs_dir, accuracy=0.5, seed=1, curve=(0.4, 0.6))]
    data = grouping.band_data(grouping.group_runs(runs), "val_accuracy", "elapsed")
    summary = grouping.band_summary(data)
    assert list(summary["mean"]) == pytest.approx([0.3, 0.5])
    assert list(summary["low"]) == pytest.approx([0.3 - np.std([0.2, 0.4], ddof=1), 0.5 - np.std([0.4, 0.6], ddof=1)])
    assert list(summary["x"]) == pytest.approx([10.0, 20.0])
    spec = grouping.band_chart(data, "val_accuracy", "elapsed", show_runs=True).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "area", "line"]


def test_groups_that_differ_by_class_name_the_classes_beyond_noise(runs_dir):
    base = [0.5] * 10
    cats_better = [*base[:3], 0.9, *base[4:]]
    sgd = [finished(runs_dir, accuracy=0.5, seed=s, per_class=[v + 0.01 * s for v in base]) for s in range(3)]
    adam = [finished(runs_dir, accuracy=0.55, seed=s, optimizer="adam", per_class=[v + 0.01 * s for v in cats_better])
            for s in range(3)]
    first, second = grouping.group_runs([*sgd, *adam])
    per_class = grouping.per_class_differences(first, second)
    assert list(per_class[per_class["beyond noise"]]["class"]) == ["cat"]
    difference, sentence = grouping.compare_groups(first, second)
    assert difference.real and "ahead" in sentence


# --- repeats ---------------------------------------------------------------------------------------

class Recorder:
    def __init__(self, runs_dir):
        self.runs_dir = runs_dir

    def submit(self, config, *, name=None, tags=None):
        return store.create_run(self.runs_dir, arch=config.arch, config=config.to_dict(), name=name,
                                status="queued", tags=tags)


def test_repeats_are_one_group_with_consecutive_seeds(runs_dir):
    runs = submit_repeats(Recorder(runs_dir), TrainConfig(arch="simple_cnn", seed=7), 3, name="lr test")
    assert [run.record["config"]["seed"] for run in runs] == [7, 8, 9]
    assert [run.name for run in runs] == ["lr test · seed 7", "lr test · seed 8", "lr test · seed 9"]
    assert len({run.record["tags"][GROUP_TAG] for run in runs}) == 1
    assert len(grouping.group_runs(runs)) == 1


def test_repeating_a_group_again_takes_new_seeds():
    assert repeat_seeds(0, 3, taken=[0, 1, 3]) == [2, 4, 5]


@pytest.mark.parametrize("repeats", [0, REPEATS.high + 1, 2.5, True])
def test_a_repeat_count_out_of_range_is_refused(repeats):
    with pytest.raises(ValueError, match=f"repeat={repeats!r} is not valid: expected an integer from 1 up to {REPEATS.high}"):
        repeat_seeds(0, repeats)


def test_the_cli_lists_groups_and_compares_two(runs_dir):
    sgd = [finished(runs_dir, accuracy=acc, seed=seed) for seed, acc in enumerate([0.50, 0.51, 0.505])]
    adam = [finished(runs_dir, accuracy=acc, seed=seed, optimizer="adam") for seed, acc in enumerate([0.6, 0.61, 0.62])]
    run = [sys.executable, "-m", "cifar_tf", "runs"]
    listed = subprocess.run([*run, "groups", "--json", "--runs-dir", str(runs_dir)], capture_output=True, text=True,
                            cwd=ROOT, check=True)
    groups = json.loads(listed.stdout)["groups"]
    assert [group["n"] for group in groups] == [3, 3]
    compared = subprocess.run([*run, "compare", sgd[1].id, adam[0].id, "--json", "--runs-dir", str(runs_dir)],
                              capture_output=True, text=True, cwd=ROOT, check=True)
    result = json.loads(compared.stdout)
    assert result["beyond_noise"] is True and result["difference"] == pytest.approx(0.105)
    assert "more than the seed-to-seed spread" in result["verdict"]
    refused = subprocess.run([sys.executable, "-m", "cifar_tf", "train", "--repeat", "0", "--runs-dir", str(runs_dir)], capture_output=True,
                             text=True, cwd=ROOT)
    assert refused.returncode != 0 and "--repeat: 0 is not valid: expected an integer from 1 up to 20" in refused.stderr
