"""The run manager behind the Train page: separate processes, a cap, a queue, stop requests."""
import signal
import subprocess
import sys

import pytest

from cifar_tf.runs import manager as manager_lib
from cifar_tf.runs import store
from cifar_tf.runs.liveness import pid_alive
from cifar_tf.runs.manager import RunManager
from cifar_tf.training.config import TrainConfig
from helpers import wait_for

TINY = TrainConfig(arch="simple_cnn", epochs=1, batch_size=50, val_size=100, log_every=1)
pytestmark = pytest.mark.slow


def status(manager, run):
    manager.poll()
    return store.load_run(run.id, manager.runs_dir).status


def test_queue_runs_one_at_a_time_and_stop_requests(cifar_dir, runs_dir):
    manager = RunManager(runs_dir, max_concurrent=1, data_dir=cifar_dir)
    first = manager.submit(TINY, name="first")
    second = manager.submit(TINY.__class__(**{**TINY.to_dict(), "epochs": 30}), name="second")
    third = manager.submit(TINY, name="third")
    assert first.status == "running" and first.record["pid"]
    assert second.status == "queued" and third.status == "queued"
    assert manager.queue_position(second.id) == 1 and manager.queue_position(third.id) == 2

    # A queued run that is stopped never starts.
    assert manager.stop(third.id).status == "stopped"
    assert manager.queue_position(third.id) is None

    assert wait_for(lambda: status(manager, first) == "completed"), store.load_run(first.id, runs_dir).record
    assert wait_for(lambda: status(manager, second) == "running")
    # Stop the running one once it has learnt something: it saves and ends as stopped.
    assert wait_for(lambda: len(store.load_run(second.id, runs_dir).steps()) >= 2)
    manager.stop(second.id)
    assert wait_for(lambda: status(manager, second) == "stopped")
    stopped = store.load_run(second.id, runs_dir)
    assert stopped.model_path.exists() and stopped.record["metrics"]["test_accuracy"] is not None
    assert (runs_dir / first.id / "worker.log").exists()


def test_a_submission_the_data_cannot_hold_is_refused_and_leaves_nothing(tmp_path, cifar_dir, runs_dir):
    from cifar_tf.data.cifar10 import DatasetNotFound
    from cifar_tf.validation import InvalidArgument

    with pytest.raises(DatasetNotFound, match="CIFAR10_DIR"):
        RunManager(runs_dir, max_concurrent=1, data_dir=tmp_path / "no-data-here").submit(TINY)
    with pytest.raises(InvalidArgument, match="val_size"):   # 500 training images: 600 cannot be held out
        RunManager(runs_dir, max_concurrent=1, data_dir=cifar_dir).submit(TINY.__class__(**{**TINY.to_dict(),
                                                                                            "val_size": 600}))
    assert [p for p in runs_dir.iterdir() if not p.name.startswith(".")] == []


def test_a_worker_that_fails_shows_its_error(cifar_dir, runs_dir):
    run = store.create_run(runs_dir, arch="simple_cnn", config={**TINY.to_dict(), "epochs": "x"}, status="queued",
                           tags={"data_dir": str(cifar_dir)})
    manager = RunManager(runs_dir, max_concurrent=1)
    # A record of the wrong shape is skipped, not trained; a worker refusing its config fails the run.
    assert run.id not in {r.id for r in store.list_runs(runs_dir)[0]}
    run = store.create_run(runs_dir, arch="simple_cnn", config={**TINY.to_dict(), "arch_params": {"depth": 4}},
                           status="queued", tags={"data_dir": str(cifar_dir)})
    assert wait_for(lambda: status(manager, run) == "failed")
    assert "depth" in store.load_run(run.id, runs_dir).record["error"]


def test_orphaned_queue_is_picked_up_by_a_new_manager(cifar_dir, runs_dir):
    # A server that queued a run and died: the run folder is all that is left.
    orphan = store.create_run(runs_dir, arch="simple_cnn", config=TINY.to_dict(), status="queued",
                             tags={"data_dir": str(cifar_dir)})
    manager = RunManager(runs_dir, max_concurrent=1)
    assert wait_for(lambda: status(manager, orphan) == "completed")


def test_invalid_config_is_refused_before_queueing(runs_dir):
    manager = RunManager(runs_dir, max_concurrent=1)
    with pytest.raises(ValueError, match="epochs"):
        manager.submit(TrainConfig(epochs=0))
    assert list(p for p in runs_dir.iterdir() if not p.name.startswith(".")) == []


def stubborn_worker(run):
    """A process that looks like the run's worker (`python -m cifar_tf worker FOLDER`) and ignores
    SIGTERM and STOP files, as a worker stuck in a long step would."""
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    process = subprocess.Popen([sys.executable, "-c", code, "cifar_tf", "worker", str(run.path.resolve())])
    run.start()
    run.update(pid=process.pid)
    return process


def test_stop_escalates_whichever_manager_started_the_run(runs_dir, monkeypatch):
    """A run started by another page's (or another server's) manager: Stop still ends it."""
    monkeypatch.setattr(manager_lib, "STOP_GRACE_S", 0.5)
    run = store.create_run(runs_dir, arch="simple_cnn", config=TINY.to_dict())
    worker = stubborn_worker(run)
    try:
        manager = RunManager(runs_dir, max_concurrent=1)   # it did not start this worker
        manager.stop(run.id)
        assert (run.path / store.STOP_FILE).exists()
        assert wait_for(lambda: manager.poll() or worker.poll() is not None, timeout=10, every=0.2)
        assert worker.returncode == -signal.SIGKILL      # SIGTERM was ignored, so SIGKILL followed
    finally:
        worker.kill()
        worker.wait()


def test_a_frozen_worker_is_ended_when_it_is_declared_dead(runs_dir, monkeypatch):
    """A worker whose heartbeat went silent is recorded as failed and stopped for good, so that
    it cannot come back to life and finish a run everyone was told had failed."""
    run = store.create_run(runs_dir, arch="simple_cnn", config=TINY.to_dict())
    worker = stubborn_worker(run)
    try:
        worker.send_signal(signal.SIGSTOP)
        monkeypatch.setattr("cifar_tf.runs.liveness.HEARTBEAT_TIMEOUT_S", -1)
        RunManager(runs_dir, max_concurrent=1).poll()
        assert worker.wait(timeout=10) == -signal.SIGKILL
        assert store.load_run(run.id, runs_dir).record["status"] == "failed"
    finally:
        worker.kill()
        worker.wait()


def test_a_recycled_pid_is_never_signalled(runs_dir, monkeypatch):
    monkeypatch.setattr(manager_lib, "STOP_GRACE_S", 0.0)
    run = store.create_run(runs_dir, arch="simple_cnn", config=TINY.to_dict())
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        run.start()
        run.update(pid=stranger.pid)           # the worker died and its pid went to another process
        manager = RunManager(runs_dir, max_concurrent=1)
        manager.stop(run.id)
        manager.poll()
        manager.poll()
        assert pid_alive(stranger.pid) and stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_finished_worker_starts_the_next_queued_run_with_no_manager_running(cifar_dir, runs_dir):
    """A server stopped with runs queued: the queue goes on as each run ends."""
    from cifar_tf.training.worker import run_worker

    first = store.create_run(runs_dir, arch="simple_cnn", config=TINY.to_dict(), status="queued",
                             tags={"data_dir": str(cifar_dir)})
    second = store.create_run(runs_dir, arch="simple_cnn", config=TINY.to_dict(), status="queued",
                              tags={"data_dir": str(cifar_dir)})
    first.start()
    assert run_worker(first.path) == 0          # as the worker process would, in this one
    assert store.load_run(first.id, runs_dir).status == "completed"
    assert store.load_run(second.id, runs_dir).status in ("running", "completed")
    assert wait_for(lambda: store.load_run(second.id, runs_dir).status == "completed")


def test_submit_and_runs_wait_from_the_command_line(cifar_dir, runs_dir):
    """`submit` queues through the same manager as the app (here: a local process) and prints the
    id; `--wait` and `runs wait` return 0 once the run completed."""
    import socket

    from helpers import ROOT

    cli = [sys.executable, "-m", "cifar_tf"]
    where = ["--runs-dir", str(runs_dir), "--data-dir", str(cifar_dir)]
    done = subprocess.run([*cli, "submit", *where, "--arch", "simple_cnn", "--epochs", "1", "--batch-size", "50",
                           "--val-size", "100", "--wait"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run_id, *progress = done.stdout.splitlines()
    assert progress[-1].startswith(f"{run_id} completed: test accuracy")
    assert set(progress[:-1]) <= {f"{run_id} running on {socket.gethostname()}"}  # unless it ran between two looks
    run = store.load_run(run_id, runs_dir)
    assert run.record["executor"] == {"kind": "local", "node": socket.gethostname()} and run.model_path.is_file()
    again = subprocess.run([*cli, "runs", "wait", "--all", run_id, "--runs-dir", str(runs_dir)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.strip() == progress[-1], again.stderr[-3000:]


def test_a_standby_worker_takes_the_next_run_and_is_replaced_when_it_ends(cifar_dir, runs_dir):
    """The app's manager keeps a worker with TensorFlow imported waiting: the next run is handed to
    it (no new process, no TensorFlow start to wait for), Stop still reaches it, its output goes to
    the run's log, and once nothing trains a new one waits for the run after."""
    from cifar_tf.runs.liveness import is_worker_of

    manager = RunManager(runs_dir, max_concurrent=1, data_dir=cifar_dir, standby=True)
    manager.poll()
    standby = manager.executors["local"]._standby
    assert standby is not None and standby.poll() is None
    run = manager.submit(TrainConfig(**{**TINY.to_dict(), "epochs": 30}), name="handed over")
    assert run.record["pid"] == standby.pid
    assert wait_for(lambda: len(store.load_run(run.id, runs_dir).steps()) >= 2, timeout=120)
    assert is_worker_of(standby.pid, store.load_run(run.id, runs_dir))   # what Stop's escalation checks
    manager.stop(run.id)
    assert wait_for(lambda: status(manager, run) == "stopped", timeout=120)
    assert standby.wait(timeout=30) == 0
    assert f"run {run.id}: stopped after" in (runs_dir / run.id / "worker.log").read_text()
    manager.poll()
    after = manager.executors["local"]._standby
    assert after is not None and after.pid != standby.pid and after.poll() is None
    after.stdin.close()                                  # the app is gone: the standby leaves
    assert after.wait(timeout=60) == 0


def test_a_stub_record_with_no_sign_of_life_does_not_keep_a_real_run_queued(cifar_dir, runs_dir):
    """`{"id": "stub", "status": "running", "config": {}}`: no pid, no heartbeat, no start time."""
    (runs_dir / "stub").mkdir()
    (runs_dir / "stub" / "run.json").write_text('{"id": "stub", "status": "running", "config": {}}')
    manager = RunManager(runs_dir, max_concurrent=1, data_dir=cifar_dir)
    run = manager.submit(TINY, name="real")
    assert run.status == "running"
    assert store.load_run("stub", runs_dir).status == "failed"
    assert wait_for(lambda: status(manager, run) == "completed")
