"""The learning-rate range test: its rules on known curves, a real sweep on a tiny model, its chart,
its queueing as a run of its own kind, and its command."""
import json
import math
import os
import subprocess
import sys

import pytest

from cifar_tf.runs import store
from cifar_tf.training.config import TrainConfig
from cifar_tf.training.lrfind import KIND, RangeTest, check_range_config, points_of, suggest, valley_index
from cifar_tf.validation import InvalidArgument
from cifar_tf.views.lrfind import chart_rows, range_chart, result, suggestion_text
from helpers import ROOT

TINY = TrainConfig(arch="simple_cnn", batch_size=16, val_size=100, optimizer="sgd")


def curve(n=100, start=1e-6, end=10.0):
    """A textbook range-test curve: flat, a long fall, a minimum near 1e-2, then divergence."""
    test = RangeTest(start_lr=start, end_lr=end, steps=n)
    points = []
    for step in range(n):
        lr = test.lr_at(step)
        x = math.log10(lr)
        loss = 2.3 - 1.5 / (1 + math.exp(-2.5 * (x + 3.5))) + (max(0.0, x + 2) ** 2) * 1.5
        points.append({"step": step + 1, "lr": lr, "loss": loss, "smoothed": loss})
    return points


def test_the_rules_read_a_rate_off_the_falling_part_of_a_known_curve():
    points = curve()
    found = suggest(points)
    assert found["rule"] == "valley" and found["suggested"] == found["valley"]
    # The loss falls from about 1e-5 to its minimum near 1e-2: both rules land inside that fall.
    assert 1e-5 < found["valley"] < 1e-2 and 1e-5 < found["steepest"] < 1e-2
    assert found["steepest"] == pytest.approx(10 ** -3.5, rel=0.3)   # the sigmoid's steepest point
    # The longest fall spans steps 0..9; as fastai's, a third and a sixth of its length past its start (-1).
    assert valley_index([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2]) == 3
    assert suggest(points[:5])["suggested"] is None   # too few points to say anything


def test_range_test_settings_are_checked_by_name():
    with pytest.raises(InvalidArgument, match="end_lr"):
        RangeTest(start_lr=1.0, end_lr=0.1).validated()
    with pytest.raises(InvalidArgument, match="steps"):
        RangeTest(steps=3).validated()
    with pytest.raises(InvalidArgument, match="recipe"):
        check_range_config(TrainConfig(arch="fast_cnn", recipe="airbench", optimizer="sgd", schedule="onecycle"))
    assert RangeTest.from_dict({"steps": 50, "unknown": 1}).steps == 50


def test_the_range_test_on_a_tiny_model_suggests_a_rate_inside_its_sweep_and_charts_every_point(cifar_dir,
                                                                                                runs_dir):
    from cifar_tf.training.range_test import range_test

    test = RangeTest(start_lr=1e-5, end_lr=10.0, steps=40)
    run = range_test(TINY, test, runs_dir=runs_dir, data_dir=cifar_dir, log=lambda *_: None)
    assert run.status == "completed", run.record.get("error")
    assert run.record["kind"] == KIND and run.record["lrfind"]["steps"] == 40
    points = points_of(run)
    assert 10 <= len(points) <= 40 and [p["step"] for p in points] == list(range(1, len(points) + 1))
    assert points[0]["lr"] == pytest.approx(1e-5)
    assert all(b["lr"] > a["lr"] for a, b in zip(points, points[1:]))   # exponential: rising every step
    suggested = run.record["metrics"]["suggested_lr"]
    assert test.start_lr <= suggested <= test.end_lr
    assert run.record["lrfind"]["suggested"] == suggested and run.record["lrfind"]["rule"] == "valley"
    assert not run.model_path.exists()   # a range test saves no model

    shown_points, found = result(store.load_run(run.id, runs_dir))
    spec = range_chart(shown_points, found)
    drawn = spec["layer"][0]["data"]["values"]
    assert drawn == chart_rows(points)
    assert sorted({row["step"] for row in drawn}) == [p["step"] for p in points]   # every recorded point
    assert spec["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    assert {m["rule"] for m in spec["layer"][1]["data"]["values"]} == {"valley", "steepest"}
    assert "valley" in suggestion_text(found) and f"{suggested:.2g}" in suggestion_text(found)


def test_a_diverging_sweep_stops_early(cifar_dir, runs_dir):
    from cifar_tf.training.range_test import range_test

    run = range_test(TrainConfig(arch="simple_cnn", batch_size=16, val_size=100, optimizer="sgd", momentum=0.99),
                     RangeTest(start_lr=1e-4, end_lr=100.0, steps=120, divergence=1.5), runs_dir=runs_dir,
                     data_dir=cifar_dir, log=lambda *_: None)
    assert run.record["lrfind"]["points"] < 120
    assert "diverged" in run.record["lrfind"]["ended"] or "not finite" in run.record["lrfind"]["ended"]


def test_a_queued_range_test_is_a_run_of_its_own_kind_that_a_worker_runs(cifar_dir, runs_dir):
    from cifar_tf.runs.manager import RunManager
    from cifar_tf.training.lrfind import submit_range_test
    from helpers import wait_for

    manager = RunManager(runs_dir, max_concurrent=1, data_dir=cifar_dir)
    run = submit_range_test(manager, TINY, RangeTest(start_lr=1e-5, end_lr=1.0, steps=20), name="which rate?")
    assert run.record["kind"] == KIND and run.name == "which rate?"
    wait_for(lambda: not store.load_run(run.id, runs_dir).is_active(), timeout=240)
    done = store.load_run(run.id, runs_dir)
    assert done.status == "completed", done.record.get("error")
    assert len(points_of(done)) == 20 and 1e-5 <= done.record["metrics"]["suggested_lr"] <= 1.0


@pytest.mark.slow
def test_lrfind_from_the_command_line_prints_its_suggestion_and_points(cifar_dir, runs_dir):
    result = subprocess.run([sys.executable, "-m", "cifar_tf", "lrfind", "--arch", "simple_cnn", "--val-size", "100",
                             "--batch-size", "16", "--optimizer", "adam", "--steps", "20", "--start-lr", "1e-5",
                             "--end-lr", "1", "--json", "--data-dir", str(cifar_dir), "--runs-dir", str(runs_dir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == "completed" and answer["rule"] == "valley" and len(answer["points"]) == 20
    assert 1e-5 <= answer["suggested"] <= 1.0
    bad = subprocess.run([sys.executable, "-m", "cifar_tf", "lrfind", "--start-lr", "1", "--end-lr", "0.1",
                          "--data-dir", str(cifar_dir), "--runs-dir", str(runs_dir)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "--end-lr" in bad.stderr
