"""Training end to end, through the command line a user types and the library beneath it."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cifar_tf.data.cifar10 import load_cifar10
from cifar_tf.runs import store
from cifar_tf.training.config import TrainConfig
from cifar_tf.training.run import train
from helpers import ROOT

TINY = ["--arch", "simple_cnn", "--val-size", "100", "--batch-size", "16", "--log-every", "2"]


def cli(*args, timeout=240):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "cifar_tf", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_cli_trains_a_completed_run_that_loads_anywhere(cifar_dir, runs_dir):
    result = cli("train", *TINY, "--epochs", "2", "--augment", "flip", "--name", "first try",
                 "--data-dir", cifar_dir, "--runs-dir", runs_dir)
    assert result.returncode == 0, result.stderr
    assert "completed" in result.stdout and "test accuracy" in result.stdout
    [run] = store.list_runs(runs_dir)[0]
    record = run.record
    assert record["status"] == "completed" and record["name"] == "first try"
    assert record["epochs_completed"] == 2 and record["params"] > 0 and record["device"]["kind"] == "cpu"
    for key in ("test_accuracy", "test_loss", "weighted_f1", "best_val_accuracy", "train_seconds",
                "images_per_second"):
        assert record["metrics"][key] is not None, key
    assert record["config"]["seed"] == 0 and record["config"]["val_size"] == 100
    steps, epochs = run.steps(), run.epochs()
    assert len(epochs) == 2 and epochs[-1]["val_accuracy"] is not None
    assert len(steps) >= 4 and {"loss", "accuracy", "lr", "images_per_second", "elapsed"} <= set(steps[0])
    assert run.evaluation()["count"] == 100

    # The saved model is self-contained: plain Keras, raw 0-255 images in, probabilities out.
    code = ("import keras, numpy as np, sys; m = keras.models.load_model(sys.argv[1]);"
            "x = np.load(sys.argv[2]); p = m.predict(x, verbose=0);"
            "print(p.dtype, round(float(p.sum(1).mean()), 4), (p.argmax(1) == np.load(sys.argv[3])).mean())")
    data = load_cifar10(cifar_dir)
    np.save(runs_dir / "x.npy", data.x_test)
    np.save(runs_dir / "y.npy", data.y_test)
    out = subprocess.run([sys.executable, "-c", code, run.model_path, runs_dir / "x.npy", runs_dir / "y.npy"],
                         capture_output=True, text=True, timeout=120, cwd="/")
    dtype, total, accuracy = out.stdout.split()
    assert dtype == "float32" and float(total) == pytest.approx(1.0, abs=1e-3)
    assert float(accuracy) > 0.5  # chance is 0.1 on these ten synthetic classes

    evaluation = json.loads(cli("evaluate", run.id, "--json", "--runs-dir", runs_dir).stdout)
    assert evaluation["accuracy"] == pytest.approx(record["metrics"]["test_accuracy"])
    listing = json.loads(cli("runs", "list", "--json", "--runs-dir", runs_dir).stdout)
    assert [r["id"] for r in listing["runs"]] == [run.id]


@pytest.mark.parametrize("args, flag", [
    (["--epochs", "0"], "--epochs"), (["--batch-size", "many"], "--batch-size"),
    (["--arch", "alexnet"], "--arch"), (["--optimizer", "adagrad"], "--optimizer"),
    (["--augment", "wobble"], "--augment"), (["--lr", "-1"], "--lr"),
    (["--arch-param", "depth=4"], "--arch-param"), (["--preset", "slowest"], "--preset"),
    (["--schedule", "cosine", "--warmup-epochs", "50"], "--warmup-epochs"),
    (["--val-size", "600"], "--val-size"),            # more than the 500 training images: no run folder
])
def test_bad_flags_name_the_flag_and_make_no_run(args, flag, cifar_dir, runs_dir):
    result = cli("train", "--data-dir", cifar_dir, "--runs-dir", runs_dir, *args)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(f"error: {flag}:"), result.stderr
    assert "Traceback" not in result.stderr
    assert list(runs_dir.iterdir()) == []


def test_missing_dataset_is_explained(tmp_path, runs_dir):
    result = cli("train", "--data-dir", tmp_path / "nowhere", "--runs-dir", runs_dir)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "not found" in result.stderr and "data download" in result.stderr
    assert list(runs_dir.iterdir()) == []


def start_long_training(cifar_dir, runs_dir):
    """A 50-epoch CLI run in its own process, returned once it has written its first step records."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-m", "cifar_tf", "train", *TINY, "--epochs", "50",
                                "--data-dir", str(cifar_dir), "--runs-dir", str(runs_dir)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not any(runs_dir.glob("*/steps.jsonl")):
        time.sleep(0.2)
    return process


@pytest.mark.slow
def test_sigterm_stops_a_run_and_keeps_what_it_learnt(cifar_dir, runs_dir):
    process = start_long_training(cifar_dir, runs_dir)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0
    [run] = store.list_runs(runs_dir)[0]
    assert run.status == "stopped" and run.model_path.exists()
    # Stopped in its first epoch or soon after: what it trained is recorded, a cut epoch as partial.
    assert run.record["epochs_completed"] < 50 and run.epochs()
    assert run.record["epochs_completed"] == sum(not e.get("partial") for e in run.epochs())
    assert run.record["metrics"]["test_accuracy"] is not None


@pytest.mark.slow
def test_a_killed_process_leaves_a_failed_run_not_a_running_one(cifar_dir, runs_dir):
    process = start_long_training(cifar_dir, runs_dir)
    process.kill()
    process.wait()
    [run] = store.list_runs(runs_dir)[0]
    assert run.status == "failed" and "ended without finishing" in run.record["error"]


def test_stop_file_sam_and_early_stopping_in_process(cifar_dir, runs_dir):
    config = TrainConfig(arch="simple_cnn", epochs=3, batch_size=50, val_size=100, sam_rho=0.05,
                         early_stopping=1, schedule="cosine", mixed_precision="bf16")
    run = store.create_run(runs_dir, arch="simple_cnn", config=config.to_dict())
    run.request_stop()  # asked before it starts: it stops after the first batch, and saves
    done = train(config, run=run, data_dir=cifar_dir, log=lambda *_: None)
    assert done.status == "stopped" and done.model_path.exists()
    assert done.record["device"]["precision"] == "mixed_bfloat16"
    assert not done.stop_requested()  # the request was consumed
    assert len(done.steps()) == 1


def test_failure_is_recorded(cifar_dir, runs_dir):
    config = TrainConfig(arch="simple_cnn", epochs=1, val_size=100)
    run = store.create_run(runs_dir, arch="simple_cnn", config=config.to_dict())
    with pytest.raises(Exception):
        train(config, run=run, data_dir=cifar_dir, data={"broken": True}, log=lambda *_: None)
    loaded = store.load_run(run.id, runs_dir)
    assert loaded.status == "failed" and loaded.record["error"]


@pytest.mark.slow
def test_transfer_learning_freezes_then_fine_tunes_from_a_weights_file(cifar_dir, runs_dir, tmp_path):
    import keras

    # Pretrained weights as a user would name them: a file, loaded through the same path as ImageNet's.
    base = keras.applications.MobileNetV2(include_top=False, weights=None, pooling="avg", input_shape=(32, 32, 3))
    weights = tmp_path / "mobilenet_base.weights.h5"
    base.save_weights(weights)
    config = TrainConfig(arch="mobilenetv2", arch_params={"weights": str(weights), "image_size": 32},
                         epochs=1, fine_tune_epochs=1, batch_size=50, val_size=100, log_every=1)
    run = train(config, runs_dir=runs_dir, data_dir=cifar_dir, log=lambda *_: None)
    assert run.status == "completed" and run.record["epochs_completed"] == 2
    epochs = run.epochs()
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[1]["lr"] == pytest.approx(epochs[0]["lr"] * 0.1)  # fine-tuning at a tenth of the rate
    assert run.record["total_steps"] == 2 * run.record["steps_per_epoch"]


def test_fine_tuning_needs_a_pretrained_base(cifar_dir, runs_dir):
    result = cli("train", "--arch", "simple_cnn", "--fine-tune-epochs", "2", "--data-dir", cifar_dir,
                 "--runs-dir", runs_dir)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith("error: --fine-tune-epochs:")


def test_the_default_validation_split_fits_a_small_dataset(tmp_path, runs_dir):
    """5,000 training images (a 1,000-per-batch copy): the defaults train; an explicit split that
    does not fit keeps its message."""
    from helpers import write_cifar10

    from cifar_tf.data.cifar10 import validation_size

    assert (validation_size(None, 50000), validation_size(None, 5000), validation_size(None, 30)) == (5000, 500, 3)
    small = write_cifar10(tmp_path / "small", per_batch=40, test_size=50)   # 200 training images
    result = cli("train", "--data-dir", small, "--runs-dir", runs_dir, "--arch", "simple_cnn", "--epochs", "1",
                 "--train-limit", "200", "--batch-size", "50", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["val_size"] == 20 and record["train_size"] == 180 and record["config"]["val_size"] is None
    refused = cli("train", "--data-dir", small, "--runs-dir", runs_dir, "--val-size", "200")
    assert refused.returncode == 2 and "error: --val-size: 200 is not valid: expected an integer from 0 up to 199" \
        in refused.stderr


def test_a_run_stopped_mid_epoch_is_recorded_where_it_stopped(cifar_dir, runs_dir):
    run = store.create_run(runs_dir, arch="simple_cnn", config={}, name="stopped mid-epoch")

    # Asked to stop once the 8th step record is written: at batch 4 of the second epoch (10 batches of
    # 40 images, a record after the first batch and then every 2), which is then its last.
    run.stop_requested = lambda: len(run.steps()) >= 8
    train(TrainConfig(arch="simple_cnn", epochs=3, batch_size=40, val_size=100, log_every=2), run=run,
          data_dir=cifar_dir, log=lambda *_: None)
    record = store.load_run(run.id, runs_dir).record
    assert record["status"] == "stopped" and record["epochs_completed"] == 1
    epochs = store.load_run(run.id, runs_dir).epochs()
    assert [e["epoch"] for e in epochs] == [1, 1.4] and epochs[-1]["partial"]


def test_a_standby_workers_warm_up_leaves_no_trace_on_the_run_it_takes(cifar_dir, runs_dir):
    """The standby worker trains a tiny model before it is handed a run (worker.warm_up): the run
    then trains exactly as it would have without: same losses, same precision."""
    from cifar_tf.training.presets import preset_with
    from cifar_tf.training.worker import warm_up

    config = preset_with("fast", epochs=1, batch_size=100, val_size=100, log_every=1, mixed_precision="bf16")

    def trained():
        run = train(config, runs_dir=runs_dir, data_dir=cifar_dir, log=lambda *_: None)
        return [step["loss"] for step in run.steps()], run.record["device"]["precision"]

    before = trained()
    warm_up()
    assert trained() == before and before[1] == "mixed_bfloat16" and len(before[0]) == 4


def test_a_run_pinned_to_one_core_records_one_thread():
    """run.json's device says the threads the process may use (what TensorFlow sizes its pools
    by), not the machine's core count: `bench --slow-cpu` pins training to one core of two."""
    import keras

    from cifar_tf.training.device import configure

    cores, policy = os.sched_getaffinity(0), keras.mixed_precision.global_policy()
    if len(cores) < 2:
        pytest.skip("needs two cores")
    os.sched_setaffinity(0, {max(cores)})
    try:
        assert configure()["threads"] == 1
    finally:
        os.sched_setaffinity(0, cores)
    try:
        assert configure()["threads"] == len(cores)
    finally:
        keras.mixed_precision.set_global_policy(policy)   # configure set this process's policy
