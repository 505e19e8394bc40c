"""The run manager behind the Train page: separate processes, a cap, a queue, stop requests."""
import time

import pytest

from cifar_tf import runs
from cifar_tf.config import TrainConfig
from cifar_tf.manager import RunManager

TINY = TrainConfig(arch="simple_cnn", epochs=1, batch_size=50, val_size=100, log_every=1)


def wait_for(predicate, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def status(manager, run):
    manager.poll()
    return runs.load_run(run.id, manager.runs_dir).status


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

    assert wait_for(lambda: status(manager, first) == "completed"), runs.load_run(first.id, runs_dir).record
    assert wait_for(lambda: status(manager, second) == "running")
    # Stop the running one once it has learnt something: it saves and ends as stopped.
    assert wait_for(lambda: len(runs.load_run(second.id, runs_dir).steps()) >= 2)
    manager.stop(second.id)
    assert wait_for(lambda: status(manager, second) == "stopped")
    stopped = runs.load_run(second.id, runs_dir)
    assert stopped.model_path.exists() and stopped.record["metrics"]["test_accuracy"] is not None
    assert (runs_dir / first.id / "worker.log").exists()


def test_a_worker_that_fails_shows_its_error(tmp_path, runs_dir):
    manager = RunManager(runs_dir, max_concurrent=1, data_dir=tmp_path / "no-data-here")
    run = manager.submit(TINY)
    assert wait_for(lambda: status(manager, run) == "failed")
    assert "not found" in runs.load_run(run.id, runs_dir).record["error"]


def test_orphaned_queue_is_picked_up_by_a_new_manager(cifar_dir, runs_dir):
    # A server that queued a run and died: the run folder is all that is left.
    orphan = runs.create_run(runs_dir, arch="simple_cnn", config=TINY.to_dict(), status="queued",
                             tags={"data_dir": str(cifar_dir)})
    manager = RunManager(runs_dir, max_concurrent=1)
    assert wait_for(lambda: status(manager, orphan) == "completed")


def test_invalid_config_is_refused_before_queueing(runs_dir):
    manager = RunManager(runs_dir, max_concurrent=1)
    with pytest.raises(ValueError, match="epochs"):
        manager.submit(TrainConfig(epochs=0))
    assert list(p for p in runs_dir.iterdir() if not p.name.startswith(".")) == []
