"""A runs folder is shared by a class: copied, linked, hand-edited or damaged runs must not crash,
mislead or expose anything, and the shipped demo run stays."""
import errno
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

from cifar_tf.evaluation.predict import load_model
from cifar_tf.runs import files, outputs, store
from cifar_tf.search import store as search_store
from cifar_tf.settings import DEFAULT_RUNS_DIR
from helpers import ROOT


@pytest.fixture
def finished(tmp_path, trained_runs):
    folder = tmp_path / "runs"
    shutil.copytree(trained_runs, folder)
    return folder, next(r for r in store.list_runs(folder)[0] if r.name == "baseline")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "cifar_tf", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_a_copied_folder_is_its_own_run_and_never_the_original(finished):
    folder, original = finished
    shutil.copytree(original.path, folder / f"{original.id}-backup")
    runs = {r.id: r for r in store.list_runs(folder)[0]}
    copy = runs[f"{original.id}-backup"]
    assert copy.record["copied_from"] == original.id and runs[original.id].name == "baseline"
    store.rename_run(copy.id, "the copy", folder)
    assert store.load_run(original.id, folder).name == "baseline"
    store.delete_run(copy.id, folder)
    assert store.load_run(original.id, folder).model_path.is_file()
    assert not (folder / copy.id).exists()


def test_links_out_of_a_run_folder_are_never_read_or_served(finished, tmp_path):
    folder, run = finished
    secret = tmp_path / "secret.txt"
    secret.write_text("not for students")
    run.model_path.unlink()
    os.symlink(secret, run.model_path)
    with pytest.raises(ValueError, match="symbolic link"):
        load_model(run.model_path)
    with pytest.raises(files.UnsafeFile, match="symbolic link"):
        files.read_regular(run.model_path, store.MODEL_MAX_BYTES)   # what the Download button serves
    (run.path / store.EVALUATION_FILE).unlink()
    os.symlink(secret, run.path / store.EVALUATION_FILE)
    assert outputs.read_evaluation(run, corrupt_ok=True) is None
    with pytest.raises(ValueError, match="symbolic link"):
        outputs.read_evaluation(run)
    # A whole run folder that is a link is not a run of this folder.
    os.symlink(run.path, folder / "linked-run")
    found, problems = store.list_runs(folder)
    assert "linked-run" not in {r.id for r in found} and any("linked-run: a link" in p for p in problems)


def test_a_record_that_is_a_device_a_fifo_or_huge_is_skipped_at_once(runs_dir):
    zero, fifo, huge = (runs_dir / name for name in ("zero", "fifo", "huge"))
    for path in (zero, fifo, huge):
        path.mkdir()
    os.symlink("/dev/zero", zero / store.RUN_FILE)
    os.mkfifo(fifo / store.RUN_FILE)
    (huge / store.RUN_FILE).write_bytes(b" " * (store.RECORD_MAX_BYTES + 1))
    result = {}
    lister = threading.Thread(target=lambda: result.update(listing=store.list_runs(runs_dir)), daemon=True)
    lister.start()
    lister.join(timeout=10)
    assert not lister.is_alive(), "listing the runs hung on a FIFO"
    found, problems = result["listing"]
    assert found == [] and len(problems) == 3
    assert any("zero" in p and "symbolic link" in p for p in problems)
    assert any("fifo" in p and "not a regular file" in p for p in problems)
    assert any("huge" in p and "too large" in p for p in problems)


@pytest.mark.parametrize("change, reason", [
    (lambda r: r["metrics"].update(test_accuracy="0.9"), "metrics.test_accuracy is '0.9'"),
    (lambda r: r.update(name=12345), "name is 12345"),
    (lambda r: r["config"].update(epochs="x"), "config.epochs is 'x'"),
    (lambda r: r.update(config=[1, 2]), "config is [1, 2]"),
    (lambda r: r.update(status="dancing"), "unknown status 'dancing'"),
    (lambda r: r.pop("id"), "it has no id"),
])
def test_a_record_of_the_wrong_shape_is_skipped_with_its_reason(finished, change, reason):
    folder, run = finished
    record = json.loads((run.path / store.RUN_FILE).read_text())
    change(record)
    (run.path / store.RUN_FILE).write_text(json.dumps(record))
    found, problems = store.list_runs(folder)
    assert run.id not in {r.id for r in found}
    assert any(p.startswith(f"{run.id}: ") and reason in p for p in problems), problems
    result = cli("runs", "list", "--runs-dir", folder)
    assert result.returncode == 0 and "stopped early" in result.stdout and reason in result.stderr


def test_a_record_nested_200000_levels_deep_is_skipped(finished):
    folder, run = finished
    (run.path / store.RUN_FILE).write_text("[" * 200_000 + "]" * 200_000)
    found, problems = store.list_runs(folder)
    assert run.id not in {r.id for r in found}
    assert any(run.id in p and "nested too deeply" in p for p in problems)


def test_a_search_record_without_its_tuner_is_skipped(runs_dir):
    search = search_store.new_search(runs_dir, space="seed001", max_trials=1, epochs=1, check_values=False)
    record = json.loads((search.path / search_store.SEARCH_FILE).read_text())
    del record["tuner"]
    (search.path / search_store.SEARCH_FILE).write_text(json.dumps(record))
    assert search_store.list_searches(runs_dir) == []
    result = cli("searches", "list", "--runs-dir", runs_dir)
    assert result.returncode == 0 and "no searches yet" in result.stdout


def test_the_shipped_demo_run_cannot_be_deleted_or_renamed():
    demo = store.demo_run()
    assert demo is not None and store.is_shipped(demo)
    with pytest.raises(PermissionError, match="ships with the lab"):
        store.delete_run(demo.id, DEFAULT_RUNS_DIR)
    with pytest.raises(PermissionError, match="ships with the lab"):
        store.rename_run(demo.id, "mine now", DEFAULT_RUNS_DIR)
    result = cli("runs", "delete", demo.id, "--runs-dir", DEFAULT_RUNS_DIR)
    assert result.returncode == 1 and "ships with the lab" in result.stderr and "Traceback" not in result.stderr
    assert store.demo_run().model_path.is_file()


def test_a_failed_run_shows_no_evaluation_even_if_its_folder_has_one(finished):
    folder, run = finished
    run.update(status="failed", error="OSError: disk full")
    assert outputs.read_evaluation(store.load_run(run.id, folder)) is None


def test_a_full_disk_at_save_fails_the_run_and_leaves_no_partial_model(cifar_dir, runs_dir, monkeypatch):
    import keras

    from cifar_tf.training.config import TrainConfig
    from cifar_tf.training.run import train

    def disk_full(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", disk_full)
    with pytest.raises(OSError):
        train(TrainConfig(arch="simple_cnn", epochs=1, batch_size=50, val_size=100), runs_dir=runs_dir,
              data_dir=cifar_dir, log=lambda *_: None)
    [run] = store.list_runs(runs_dir)[0]
    assert run.status == "failed" and "No space left" in run.record["error"]
    # The lock its record's writers take turns with, and the weights of its one epoch, kept for forks.
    assert sorted(p.name for p in run.path.iterdir() if not p.name.endswith(".jsonl")) == [
        store.RECORD_LOCK_FILE, "checkpoints", "heartbeat", "run.json"]
    assert [p.name for p in (run.path / "checkpoints").iterdir()] == ["epoch-0001.weights.h5"]


def test_a_worker_killed_while_saving_leaves_nothing_half_written(finished):
    from cifar_tf.runs.manager import RunManager

    folder, run = finished
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run.update(status="running", pid=dead.pid, host=run.record["host"])
    (run.path / f"{store.PARTIAL_PREFIX}{dead.pid}.keras").write_bytes(b"")
    RunManager(folder).poll()
    assert store.load_run(run.id, folder).status == "failed"
    assert not list(run.path.glob(f"{store.PARTIAL_PREFIX}*"))
