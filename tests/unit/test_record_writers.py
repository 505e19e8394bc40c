"""Records that lose or jam a class's work (issue 22): every writer of a run.json keeps the others'
fields, a record with no sign of life frees its slot, a torn record of a live worker keeps its slot
and is restored, a full disk reaches the run's status, budget-stopped runs count what their curves
show, and the record cache stays bounded."""
import errno
import os
import subprocess
import sys
import textwrap
import time

import pytest

from cifar_tf.classroom.budget import within_budget
from cifar_tf.classroom.challenge import BUDGET_TAG
from cifar_tf.classroom.queue import remaining_seconds
from cifar_tf.runs import liveness, records, store
from cifar_tf.runs.files import append_jsonl, atomic_write_json, now
from cifar_tf.runs.manager import RunManager
from cifar_tf.views import comparison
from cifar_tf.views.report import run_report
from helpers import ROOT

CONFIG = {"arch": "simple_cnn", "epochs": 1, "batch_size": 50, "val_size": 100}


def make_run(runs_dir, **kw):
    return store.create_run(runs_dir, arch="simple_cnn", config=dict(CONFIG), **kw)


def quiet_manager(runs_dir, monkeypatch):
    """A manager (one slot) whose launches are recorded instead of started."""
    manager = RunManager(runs_dir, max_concurrent=1)
    launched = []
    monkeypatch.setattr(manager.launcher, "launch", lambda run: launched.append(run.id))
    manager.launched = launched
    return manager


# --- 1. lost updates ----------------------------------------------------------------------------

def test_a_rename_made_while_a_run_trains_survives_the_workers_next_epoch(runs_dir):
    worker = make_run(runs_dir, name="original")          # the worker's own copy of the record
    store.rename_run(worker.id, "renamed by student", runs_dir)
    worker.update(epochs_completed=1)
    record = store.load_run(worker.id, runs_dir).record
    assert record["name"] == "renamed by student" and record["epochs_completed"] == 1
    assert worker.record["name"] == "renamed by student"  # a save reads back what others wrote


def test_a_standby_workers_start_keeps_what_the_manager_wrote_at_launch(runs_dir):
    queued = make_run(runs_dir, status="queued")
    worker = store.load_run(queued.id, runs_dir)          # read before the manager marked it running
    manager_copy = store.load_run(queued.id, runs_dir)
    manager_copy.start(pid=os.getpid(), executor={"kind": "local", "node": "here"}, placement={"gpu": None})
    worker.start(phase="loading data")
    record = store.load_run(queued.id, runs_dir).record
    assert record["executor"] == {"kind": "local", "node": "here"} and record["phase"] == "loading data"


def test_two_processes_writing_one_run_at_once_lose_nothing(runs_dir):
    run = make_run(runs_dir, name="name 0")
    go = runs_dir / "go"
    renamer = textwrap.dedent(f"""
        import os, time
        from cifar_tf.runs import store
        while not os.path.exists({str(go)!r}):
            time.sleep(0.001)
        for i in range(1, 151):
            store.rename_run({run.id!r}, f"name {{i}}", {str(runs_dir)!r})
    """)
    process = subprocess.Popen([sys.executable, "-c", renamer], cwd=ROOT)
    go.touch()
    i = 0
    while process.poll() is None or i < 150:
        i += 1
        run.update(epochs_completed=i)
    assert process.wait() == 0
    run.update(epochs_completed=i + 1)                    # the last word is the worker's, after the renamer's
    record = store.load_run(run.id, runs_dir).record
    assert (record["name"], record["epochs_completed"]) == ("name 150", i + 1)


# --- 2. a record that holds the only slot for ever ----------------------------------------------

@pytest.mark.parametrize("extra", [{}, {"executor": {"kind": "ray"}}], ids=["stub", "ray without Ray"])
def test_a_running_record_without_any_sign_of_life_frees_its_slot(runs_dir, monkeypatch, extra):
    (runs_dir / "stub").mkdir()
    atomic_write_json(runs_dir / "stub" / "run.json", {"id": "stub", "status": "running", "config": {}, **extra})
    waiting = make_run(runs_dir, status="queued")
    manager = quiet_manager(runs_dir, monkeypatch)
    manager.poll()
    assert manager.launched == [waiting.id]
    stub = store.load_run("stub", runs_dir)
    assert stub.status == "failed" and "no heartbeat" in stub.record["error"]


def test_a_ray_run_silent_past_the_limit_is_dead_on_a_server_without_ray(runs_dir, monkeypatch):
    run = make_run(runs_dir)
    run.update(executor={"kind": "ray"}, pid=None, started_at=now())
    manager = quiet_manager(runs_dir, monkeypatch)
    manager.poll()
    assert store.load_run(run.id, runs_dir).status == "running"   # within the limit: it may still answer
    monkeypatch.setattr(liveness, "HEARTBEAT_TIMEOUT_S", -1)
    manager.poll()
    assert store.load_run(run.id, runs_dir).status == "failed"


# --- 3. a torn record over a live worker --------------------------------------------------------

def test_a_torn_record_of_a_live_worker_keeps_its_slot_and_is_restored(runs_dir, monkeypatch, capsys):
    worker = make_run(runs_dir, name="training")
    worker.start()
    worker.beat()
    (worker.path / "run.json").write_text('{"id": "' + worker.id + '", "stat')   # torn mid-write
    waiting = make_run(runs_dir, status="queued")
    manager = quiet_manager(runs_dir, monkeypatch)
    manager.poll()
    assert manager.launched == []                         # one training already holds the only slot

    worker.update(epochs_completed=1)                      # the worker's next epoch
    record = store.load_run(worker.id, runs_dir).record
    assert record["name"] == "training" and record["epochs_completed"] == 1 and record["status"] == "running"
    assert "could not be read back" in record["restored"]
    assert "could not be read back" in capsys.readouterr().err   # a worker's stderr is its worker.log
    assert store.load_run(waiting.id, runs_dir).status == "queued"


def test_a_torn_record_with_no_live_worker_does_not_hold_a_slot(runs_dir, monkeypatch):
    dead = make_run(runs_dir)
    (dead.path / "run.json").write_text("{")
    waiting = make_run(runs_dir, status="queued")
    manager = quiet_manager(runs_dir, monkeypatch)
    manager.poll()
    assert manager.launched == [waiting.id]


# --- 4. disk full ---------------------------------------------------------------------------------

def test_a_worker_killed_by_a_full_disk_says_so_in_the_runs_status(runs_dir, monkeypatch):
    """The worker's last record write fails too (the disk is full): its log is all that knows why."""
    run = make_run(runs_dir)
    worker = textwrap.dedent(f"""
        import errno
        from cifar_tf.runs import records, store
        run = store.load_run({run.id!r}, {str(runs_dir)!r})
        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")
        records.atomic_write_json = full
        run.finish("failed", error="OSError: [Errno 28] No space left on device")
    """)
    with open(run.file(liveness.WORKER_LOG), "ab") as log:
        process = subprocess.Popen([sys.executable, "-c", worker], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        run.start(pid=process.pid)                        # as the manager's launch records it
        assert process.wait(timeout=60) == 1
    assert store.load_run(run.id, runs_dir).status == "failed"   # shown so at once, written by the manager
    quiet_manager(runs_dir, monkeypatch).poll()
    error = store.load_run(run.id, runs_dir).record["error"]
    assert error.startswith("the training process ended without finishing")
    assert error.endswith("OSError: [Errno 28] No space left on device")


def test_the_last_error_line_is_read_from_the_tail_of_a_long_log(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("epoch 1: loss 2.3\n" * 20_000 + "Traceback (most recent call last):\n  File \"x\"\n"
                   "OSError: [Errno 28] No space left on device\nlater noise\n")
    assert liveness.last_error_line(log) == "OSError: [Errno 28] No space left on device"
    assert liveness.last_error_line(tmp_path / "none.log") is None


def test_an_enospc_while_saving_a_record_reaches_the_worker(runs_dir, monkeypatch):
    run = make_run(runs_dir)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(records, "atomic_write_json", full)
    with pytest.raises(OSError, match="No space left"):  # never swallowed: the worker dies saying why
        run.update(epochs_completed=1)


# --- 5. budget-stopped runs ---------------------------------------------------------------------

def test_a_run_stopped_inside_an_epoch_counts_what_its_curves_show(runs_dir):
    run = make_run(runs_dir)
    run.start()
    append_jsonl(run.file(store.EPOCHS_FILE), {"epoch": 1, "val_accuracy": 0.3})
    append_jsonl(run.file(store.EPOCHS_FILE), {"epoch": 1.48, "val_accuracy": 0.4, "partial": True})
    run.finish("stopped", epochs_completed=0, metrics={})    # a worker that missed the first epoch
    record = store.load_run(run.id, runs_dir).record
    assert record["epochs_completed"] == 1 and record["epochs_trained"] == 1.48
    assert comparison.runs_table([store.load_run(run.id, runs_dir)])["epochs"].tolist() == [1.48]
    assert "epochs<b>1.48</b>" in run_report(store.load_run(run.id, runs_dir))


def test_time_left_is_capped_by_the_budget_that_will_stop_the_run(runs_dir):
    clock = time.time
    run = make_run(runs_dir, tags={BUDGET_TAG: 60})
    run.start()
    run.update(total_steps=10_000, started_at=now())
    append_jsonl(run.file(store.STEPS_FILE), {"step": 10, "elapsed": 30.0})   # its steps say 8 h
    left = remaining_seconds(store.load_run(run.id, runs_dir), [], clock)
    assert 0 < left <= 60
    assert within_budget(run, 10_000.0, clock) == pytest.approx(left, abs=2)
    assert within_budget(make_run(runs_dir), 123.0, clock) == 123.0    # no budget: the run's own estimate


# --- 6. the record cache ------------------------------------------------------------------------

def test_the_record_cache_is_bounded(runs_dir, monkeypatch):
    monkeypatch.setattr(records, "CACHE_SIZE", 5)
    monkeypatch.setattr(records, "_RECORDS", type(records._RECORDS)())
    for _ in range(8):
        make_run(runs_dir)
    assert len(store.list_runs(runs_dir)[0]) == 8 and len(records._RECORDS) == 5
