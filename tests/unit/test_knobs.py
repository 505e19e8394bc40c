"""A running run's knobs: a new learning rate at the next step, pause and resume, who may, their
events on the curves; forks from a saved epoch; and the commands for all of them."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.classroom.knobs import knob_state, set_knobs
from cifar_tf.classroom.roles import OWNER_TAG, Viewer
from cifar_tf.runs import control, store
from cifar_tf.training.config import TrainConfig
from cifar_tf.training.live import LiveMetrics
from cifar_tf.training.run import train
from helpers import ROOT, wait_for

QUIET = lambda *_: None  # noqa: E731
TINY = dict(arch="simple_cnn", batch_size=16, val_size=100, log_every=1)


def test_a_new_learning_rate_reaches_the_worker_at_its_next_step_and_is_recorded(cifar_dir, runs_dir, monkeypatch):
    asked_at = {}
    record_step = LiveMetrics.on_train_batch_end

    def owner_turns_the_knob(self, batch, logs=None):   # as if from a page, after step 3 was recorded
        record_step(self, batch, logs)
        if self.step == 3:
            asked_at["step"] = self.step
            set_knobs(Viewer(), self.run.id, runs_dir, lr=0.02, by="Ada")

    monkeypatch.setattr(LiveMetrics, "on_train_batch_end", owner_turns_the_knob)
    run = train(TrainConfig(epochs=1, optimizer="sgd", lr=0.001, **TINY), runs_dir=runs_dir, data_dir=cifar_dir,
                log=QUIET)
    assert run.status == "completed"
    [event] = control.read_events(run.path)
    assert event["what"] == "lr" and event["by"] == "Ada" and event["from"] == 0.001 and event["to"] == 0.02
    assert asked_at["step"] <= event["step"] <= asked_at["step"] + 2   # within two steps
    assert 0 < event["epoch"] < 1
    rates = {record["step"]: record["lr"] for record in run.steps()}
    assert rates[2] == pytest.approx(0.001)
    assert rates[event["step"] + 1] == pytest.approx(0.02)   # the rate of the step after it
    assert knob_state(store.load_run(run.id, runs_dir))["lr"] == 0.02


def test_a_schedule_keeps_its_shape_scaled_to_the_new_rate(cifar_dir, runs_dir, monkeypatch):
    record_step = LiveMetrics.on_train_batch_end

    def halve(self, batch, logs=None):
        record_step(self, batch, logs)
        if self.step == 5:
            set_knobs(Viewer(), self.run.id, runs_dir, lr=0.005)

    monkeypatch.setattr(LiveMetrics, "on_train_batch_end", halve)
    run = train(TrainConfig(epochs=2, optimizer="adam", lr=0.01, schedule="cosine", **TINY), runs_dir=runs_dir,
                data_dir=cifar_dir, log=QUIET)
    from cifar_tf.training.optim import make_schedule

    config = TrainConfig(epochs=2, optimizer="adam", lr=0.01, schedule="cosine", **TINY).validated()
    schedule = make_schedule(config, run.record["steps_per_epoch"])
    for record in run.steps():
        expected = float(schedule(record["step"])) * (0.5 if record["step"] > 5 else 1.0)
        assert record["lr"] == pytest.approx(expected, rel=1e-4), record["step"]


def test_pause_holds_the_step_count_still_and_resume_continues(cifar_dir, runs_dir):
    run = store.create_run(runs_dir, arch="simple_cnn", config={}, name="pausable")
    finished = {}
    worker = threading.Thread(target=lambda: finished.update(run=train(
        TrainConfig(epochs=3, **TINY), run=run, data_dir=cifar_dir, log=QUIET)), daemon=True)
    worker.start()
    wait_for(lambda: len(run.steps()) >= 2, timeout=120, every=0.05)
    set_knobs(Viewer(), run.id, runs_dir, paused=True, by="Ada")
    wait_for(lambda: store.load_run(run.id, runs_dir).record.get("phase") == "paused", timeout=60, every=0.05)
    held = len(run.steps())
    time.sleep(1.5)
    assert len(run.steps()) == held   # not one step while paused
    assert store.load_run(run.id, runs_dir).status == "running"
    set_knobs(Viewer(), run.id, runs_dir, paused=False, by="Ada")
    worker.join(timeout=240)
    done = finished["run"]
    assert done.status == "completed" and done.record["epochs_completed"] == 3
    assert len(done.steps()) > held
    pause, resume = control.read_events(run.path)
    assert (pause["what"], resume["what"]) == ("pause", "resume") and pause["step"] == resume["step"] == held


def test_a_stop_ends_a_pause(cifar_dir, runs_dir):
    run = store.create_run(runs_dir, arch="simple_cnn", config={}, name="paused then stopped")
    set_knobs(Viewer(), run.id, runs_dir, paused=True)   # asked before it starts: it waits before its first step
    finished = {}
    worker = threading.Thread(target=lambda: finished.update(run=train(
        TrainConfig(epochs=2, **TINY), run=run, data_dir=cifar_dir, log=QUIET)), daemon=True)
    worker.start()
    wait_for(lambda: store.load_run(run.id, runs_dir).record.get("phase") == "paused", timeout=120, every=0.05)
    assert run.steps() == []
    run.request_stop()
    worker.join(timeout=120)
    assert finished["run"].status == "stopped"


def test_only_the_owner_or_the_teacher_may_turn_a_runs_knobs(runs_dir):
    run = store.create_run(runs_dir, arch="simple_cnn", config={"lr": 0.001}, name="ada's",
                           tags={OWNER_TAG: {"name": "Ada", "seat": "seat-ada"}})
    ada = Viewer(class_mode=True, seat="seat-ada", name="Ada")
    bob = Viewer(class_mode=True, seat="seat-bob", name="Bob")
    teacher = Viewer(class_mode=True, seat="seat-t", name="Ms T", teacher=True)
    with pytest.raises(NotAllowed, match="belongs to Ada"):
        set_knobs(bob, run.id, runs_dir, lr=0.1)
    set_knobs(ada, run.id, runs_dir, lr=0.1)
    set_knobs(teacher, run.id, runs_dir, paused=True)
    asked = control.read_control(run.path)
    assert asked["lr"]["value"] == 0.1 and asked["lr"]["by"] == "Ada"
    assert asked["paused"]["value"] is True and asked["paused"]["by"] == "Ms T (teacher)"
    assert knob_state(run) == {"lr": 0.1, "paused": True, "events": []}
    with pytest.raises(ValueError, match="lr"):
        set_knobs(ada, run.id, runs_dir, lr=50)
    run.finish("completed")
    with pytest.raises(ValueError, match="completed"):
        set_knobs(ada, run.id, runs_dir, lr=0.01)


def test_events_are_marked_on_the_live_curves(runs_dir):
    from cifar_tf.views.live import LiveRun

    run = store.create_run(runs_dir, arch="simple_cnn", config={}, name="marked")
    for step in (1, 2, 3, 4):
        run.file(store.STEPS_FILE).open("a").write(json.dumps({"step": step, "loss": 2.0, "accuracy": 0.1}) + "\n")
    control.record_event(run.path, {"step": 2, "epoch": 0.5, "what": "lr", "from": 0.001, "to": 0.01, "by": "Ada"})
    control.record_event(run.path, {"step": 3, "epoch": 0.75, "what": "pause", "by": "Ada"})
    run.file(control.EVENTS_FILE).open("a").write('{"what": ["odd"], "epoch": 1}\n{"torn\n')
    watched = LiveRun(run.path)
    watched.refresh(4)
    spec = watched.spec("loss", final=True)
    rules = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"]
    assert [(m["epoch"], m["event"]) for m in rules[0]["data"]["values"]] == [(0.5, "lr 0.001 → 0.01"),
                                                                             (0.75, "paused")]


# --- forks ------------------------------------------------------------------------------------

class HereAndNow:
    """A manager that queues a run as the real one does (prepared under its lock), without starting it."""

    def __init__(self, runs_dir):
        self.runs_dir = runs_dir

    def submit(self, config, *, name=None, tags=None, record=None, prepare=None):
        run = store.create_run(self.runs_dir, arch=config.arch, config=config.to_dict(), name=name, status="queued",
                               tags=tags, record=record)
        prepare(run)
        return store.load_run(run.id, self.runs_dir)


def test_a_fork_starts_from_its_parents_saved_epoch_and_shares_its_curves_up_to_there(cifar_dir, runs_dir):
    from cifar_tf.training.fork import fork_run

    parent = train(TrainConfig(epochs=3, optimizer="sgd", lr=0.01, **TINY), runs_dir=runs_dir, data_dir=cifar_dir,
                   name="parent", log=QUIET)
    assert control.saved_epochs(parent.path) == [1, 2, 3]
    per_epoch = parent.record["steps_per_epoch"]
    fork = fork_run(HereAndNow(runs_dir), parent, {"lr": "0.05", "epochs": 4}, epoch=2, by="Ada")
    assert fork.record["fork"] == {"parent": parent.id, "parent_name": "parent", "epoch": 2,
                                   "changes": {"lr": "0.05", "epochs": 4}}
    assert fork.record["config"]["lr"] == 0.05 and fork.record["config"]["epochs"] == 4
    done = train(TrainConfig.from_dict(fork.record["config"]), run=fork, data_dir=cifar_dir, log=QUIET)
    assert done.status == "completed" and done.record["epochs_completed"] == 4

    epochs, parents = done.epochs(), parent.epochs()
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4]
    assert [e.get("inherited") for e in epochs] == [parent.id, parent.id, None, None]
    assert [e["val_loss"] for e in epochs[:2]] == [e["val_loss"] for e in parents[:2]]   # shared curves
    own = [s for s in done.steps() if not s.get("inherited")]
    assert own[0]["step"] == 2 * per_epoch + 1 and own[0]["epoch"] == 3   # it goes on from the parent's epoch
    assert own[0]["lr"] == pytest.approx(0.05)
    [event] = control.read_events(done.path)
    assert event["what"] == "fork" and event["epoch"] == 2 and event["from_run"] == parent.id
    assert epochs[2]["val_loss"] != parents[2]["val_loss"]   # a different third epoch: the rate changed


def test_forks_are_refused_with_reasons(cifar_dir, runs_dir):
    from cifar_tf.training.fork import fork_run
    from cifar_tf.validation import InvalidArgument

    parent = train(TrainConfig(epochs=1, **TINY), runs_dir=runs_dir, data_dir=cifar_dir, log=QUIET)
    manager = HereAndNow(runs_dir)
    with pytest.raises(InvalidArgument, match="arch"):
        fork_run(manager, parent, {"arch": "resnet20"})
    with pytest.raises(InvalidArgument, match="epochs"):
        fork_run(manager, parent, {"lr": 0.1})   # epochs 1: nothing left after epoch 1
    with pytest.raises(InvalidArgument, match="epoch"):
        fork_run(manager, parent, {"epochs": 3}, epoch=5)
    airbench = store.create_run(runs_dir, arch="fast_cnn", config={"recipe": "airbench"}, name="fast")
    with pytest.raises(ValueError, match="airbench"):
        fork_run(manager, airbench, {"lr": 0.1})
    empty = store.create_run(runs_dir, arch="simple_cnn", config={"recipe": "keras"}, name="no epochs yet")
    with pytest.raises(ValueError, match="kept no weights"):
        fork_run(manager, empty, {"lr": 0.1})


# --- the command line ----------------------------------------------------------------------------

def cli(*args):
    return subprocess.run([sys.executable, "-m", "cifar_tf", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=240, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_runs_set_pause_and_resume_from_the_command_line(runs_dir):
    run = store.create_run(runs_dir, arch="simple_cnn", config={"lr": 0.001}, name="from a terminal")
    result = cli("runs", "set", run.id, "lr=0.01", "--runs-dir", runs_dir)
    assert result.returncode == 0, result.stderr
    assert control.read_control(run.path)["lr"] == {**control.read_control(run.path)["lr"], "value": 0.01,
                                                    "by": "command line"}
    assert cli("runs", "pause", run.id, "--runs-dir", runs_dir).returncode == 0
    assert knob_state(run)["paused"] is True
    assert cli("runs", "resume", run.id, "--runs-dir", runs_dir).returncode == 0
    assert knob_state(run)["paused"] is False
    bad = cli("runs", "set", run.id, "momentum=0.5", "--runs-dir", runs_dir)
    assert bad.returncode == 2 and "lr=RATE" in bad.stderr
    run.finish("completed")
    ended = cli("runs", "set", run.id, "lr=0.01", "--runs-dir", runs_dir)
    assert ended.returncode == 1 and "completed" in ended.stderr


@pytest.mark.slow
def test_a_worker_obeys_its_knobs_and_a_fork_queued_from_the_command_line_trains(cifar_dir, runs_dir):
    from cifar_tf.runs.manager import RunManager

    manager = RunManager(runs_dir, max_concurrent=1, data_dir=cifar_dir)
    run = manager.submit(TrainConfig(epochs=4, **TINY), name="watched")
    wait_for(lambda: len(store.load_run(run.id, runs_dir).steps()) >= 2, timeout=180, every=0.1)
    assert cli("runs", "pause", run.id, "--runs-dir", runs_dir).returncode == 0
    wait_for(lambda: store.load_run(run.id, runs_dir).record.get("phase") == "paused", timeout=60, every=0.1)
    held = len(run.steps())
    time.sleep(2)
    assert len(run.steps()) == held
    assert cli("runs", "set", run.id, "lr=0.003", "--runs-dir", runs_dir).returncode == 0
    assert cli("runs", "resume", run.id, "--runs-dir", runs_dir).returncode == 0
    wait_for(lambda: not store.load_run(run.id, runs_dir).is_active(), timeout=240)
    done = store.load_run(run.id, runs_dir)
    assert done.status == "completed" and len(done.steps()) > held
    assert [e["what"] for e in control.read_events(done.path)] == ["pause", "lr", "resume"]

    result = cli("runs", "fork", run.id, "lr=0.0005", "--epoch", "3", "--runs-dir", runs_dir, "--json")
    assert result.returncode == 0, result.stderr
    fork_id = json.loads(result.stdout)["id"]
    RunManager(runs_dir, max_concurrent=1, data_dir=cifar_dir).poll()
    wait_for(lambda: not store.load_run(fork_id, runs_dir).is_active(), timeout=240)
    fork = store.load_run(fork_id, runs_dir)
    assert fork.status == "completed", fork.record.get("error")
    assert [e.get("inherited") is not None for e in fork.epochs()] == [True, True, True, False]
