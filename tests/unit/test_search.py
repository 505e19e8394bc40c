"""Hyperparameter search: spaces, KerasTuner-driven trials saved as runs, stop, resume, CLI, distributed."""
import json
import os
import socket
import subprocess
import sys

import pytest

from cifar_tf.runs import store
from cifar_tf.runs.manager import RunManager
from cifar_tf.search import results, tuner
from cifar_tf.search import space as spaces
from cifar_tf.search import store as search_store
from cifar_tf.validation import InvalidArgument
from helpers import ROOT, wait_for

# Tiny trials: a few thousand parameters, 200 training and 100 validation images.
TINY = {"arch": "simple_cnn", "base": {"batch_size": 50, "arch_params": {"filters3": 8}},
        "hyperparameters": {"filters1": {"type": "int", "min": 4, "max": 8, "step": 4},
                            "lr": {"type": "float", "min": 1e-3, "max": 1e-2, "sampling": "log"}}}
DATA = dict(train_limit=200, val_size=100)
QUIET = lambda *_: None  # noqa: E731


def tiny_search(runs_dir, cifar_dir, **budget):
    return search_store.new_search(runs_dir, space=TINY, data_dir=cifar_dir, check_values=False,
                                 **{"tuner": "random", "max_trials": 2, "epochs": 1, **DATA, **budget})


def cli(*args, env=None, timeout=240):
    return subprocess.run([sys.executable, "-m", "cifar_tf", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})


def statuses(search):
    return {row["trial"]: row["status"] for row in results.trials(search_store.read_search(search.path))}


# --- spaces ---------------------------------------------------------------------------------------

def test_preset_spaces_reproduce_the_reports():
    seed001 = spaces.load_space("seed001")
    assert seed001["arch"] == "hyper_cnn" and seed001["tuner"] == "hyperband" and seed001["epochs"] == 10
    assert seed001["hyperparameters"]["filters1"] == {"type": "int", "min": 32, "max": 64, "step": 16,
                                                      "sampling": "linear"}
    assert seed001["hyperparameters"]["filters2"]["step"] == 32
    assert seed001["hyperparameters"]["optimizer"]["values"] == ["adam", "sgd"]
    seed002 = spaces.load_space("seed002")
    assert seed002["arch"] == "resnet_style" and seed002["tuner"] == "random"
    assert seed002["hyperparameters"]["dense_units"]["values"] == [512, 768, 1024]
    assert seed002["hyperparameters"]["schedule"]["values"] == ["cosine", "exponential"]

    # Training fields set the config; other names are the architecture's keywords; Hyperband's own
    # bookkeeping is left out.
    config = spaces.trial_config(seed001, {"lr": 3e-4, "optimizer": "sgd", "filters1": 48,
                                               "tuner/epochs": 4}, epochs=4, train_limit=2000, val_size=500)
    assert (config.lr, config.optimizer, config.momentum, config.epochs) == (3e-4, "sgd", 0.9, 4)
    assert config.arch_params == {"filters1": 48}
    assert (config.train_limit, config.val_size, config.batch_size) == (2000, 500, 32)


def test_space_files_load_and_errors_name_the_key(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(TINY))
    assert spaces.load_space(str(path))["hyperparameters"]["lr"]["sampling"] == "log"

    def problem(space):
        with pytest.raises(InvalidArgument) as caught:
            spaces.check_space(space)
        assert caught.value.name == "space"
        return caught.value.allowed

    hps = TINY["hyperparameters"]
    assert "hyperparameters.lr.max" in problem({**TINY, "hyperparameters": {
        "lr": {"type": "float", "min": 0.1, "max": 0.01}}})
    assert "hyperparameters.lr.min" in problem({**TINY, "hyperparameters": {
        "lr": {"type": "float", "min": 0, "max": 0.1, "sampling": "log"}}})
    assert "hyperparameters.depth.type" in problem({**TINY, "hyperparameters": {"depth": {"type": "range"}}})
    assert "hyperparameters.filters1.step" in problem({**TINY, "hyperparameters": {
        "filters1": {"type": "int", "min": 4, "max": 9, "step": 4}}})
    assert "hyperparameters.opt.values" in problem({**TINY, "hyperparameters": {
        "opt": {"type": "choice", "values": ["adam", 1]}}})
    assert "hyperparameters.epochs" in problem({**TINY, "hyperparameters": {
        **hps, "epochs": {"type": "int", "min": 1, "max": 5}}})
    assert "base.epochs" in problem({**TINY, "base": {"epochs": 3}})
    assert "arch" in problem({key: value for key, value in TINY.items() if key != "arch"})
    assert "colour" in problem({**TINY, "colour": "blue"})
    with pytest.raises(InvalidArgument, match="an existing JSON file"):
        spaces.load_space(str(tmp_path / "missing.json"))


def test_ranges_are_checked_at_both_ends_before_anything_trains(runs_dir):
    space = {**TINY, "hyperparameters": {"filters1": {"type": "int", "min": 4, "max": 5000}}}
    with pytest.raises(InvalidArgument, match="hyperparameters.filters1"):
        search_store.new_search(runs_dir, space=space, max_trials=2, epochs=1)
    space = {**TINY, "hyperparameters": {"colour": {"type": "int", "min": 4, "max": 8}}}
    with pytest.raises(InvalidArgument, match="a hyperparameter of simple_cnn"):
        search_store.new_search(runs_dir, space=space, max_trials=2, epochs=1)
    assert not search_store.list_searches(runs_dir)


# --- searches -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_random_search_saves_tagged_runs_and_prints_the_best(cifar_dir, runs_dir):
    done = cli("search", "--tuner", "random", "--space", "seed001", "--max-trials", 2, "--epochs", 1,
               "--train-limit", 200, "--val-size", 100, "--data-dir", cifar_dir, "--runs-dir", runs_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trial  status     filters1  filters2  dense_units  lr" in done.stdout
    assert "best: trial " in done.stdout and "val_accuracy" in done.stdout

    found, problems = store.list_runs(runs_dir)  # the search folder is hidden from run listings
    assert len(found) == 2 and not problems
    tags = [run.record["tags"] for run in found]
    assert len({t["search"] for t in tags}) == 1 and sorted(t["trial"] for t in tags) == ["0", "1"]
    assert all(run.status == "completed" and run.model_path.exists() for run in found)
    assert all(run.record["config"]["epochs"] == 1 and run.record["val_size"] == 100 for run in found)

    search = search_store.load_search(tags[0]["search"], runs_dir)
    best = search.record["best"]
    assert search.status == "completed" and search.record["ended_by"] == "all 2 trials done"
    assert best["val_accuracy"] == max(r.record["metrics"]["best_val_accuracy"] for r in found)
    assert f"run {best['run']}" in done.stdout

    # Running a finished search again trains nothing and reports it, here as JSON.
    again = cli("search", "--search-id", search.id, "--runs-dir", runs_dir, "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads(again.stdout)
    assert report["search"]["status"] == "completed" and len(report["trials"]) == 2
    assert len(store.list_runs(runs_dir)[0]) == 2
    listing = cli("searches", "list", "--runs-dir", runs_dir)
    assert search.id in listing.stdout and "completed" in listing.stdout


@pytest.mark.parametrize("flags, message", [
    (["--max-trials", "0"], "error: --max-trials: '0' is not valid"),
    (["--epochs", "many"], "error: --epochs: 'many' is not valid"),
    (["--time-limit", "-5"], "error: --time-limit: '-5' is not valid"),
    (["--val-size", "0"], "error: --val-size: '0' is not valid"),
    (["--tuner", "grid"], "error: --tuner: 'grid' is not valid: expected one of random, hyperband, bayesian"),
    (["--space", "seed999"], "error: --space: 'seed999' is not valid: expected seed001, seed002 or a JSON file"),
])
def test_cli_refuses_bad_values(flags, message, runs_dir):
    base = {"--space": "seed001"}
    base.update(dict(zip(flags[::2], flags[1::2])))
    done = cli("search", *[x for pair in base.items() for x in pair], "--runs-dir", runs_dir, timeout=60)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (runs_dir / search_store.SEARCHES_DIR).exists()


@pytest.mark.slow
def test_hyperband_gives_the_best_trials_more_epochs_up_to_max_epochs(cifar_dir, runs_dir):
    from cifar_tf.search.tuner import run_search

    search = tiny_search(runs_dir, cifar_dir, tuner="hyperband", max_trials=4, epochs=3)
    search = run_search(search.path, log=QUIET)
    rows = results.trials(search)
    # One Hyperband round with at most 3 epochs: three 1-epoch trials, then the best for 3 epochs.
    assert search.status == "completed" and [r["epochs"] for r in rows] == [1, 1, 1, 3]
    best_short = max(rows[:3], key=lambda r: r["score"])
    assert rows[3]["values"] == best_short["values"]
    trained = {run.record["tags"]["trial"]: run.record["epochs_completed"] for run in results.trial_runs(search)}
    assert trained == {"0": 1, "1": 1, "2": 1, "3": 3}


@pytest.mark.slow
def test_stop_request_keeps_finished_trials_and_resume_continues(cifar_dir, runs_dir):
    from cifar_tf.search.tuner import run_search

    # In a background process, as the run manager starts it; long trials so that one can be caught.
    search = tiny_search(runs_dir, cifar_dir, max_trials=3, epochs=10)
    manager = RunManager(runs_dir, max_concurrent=1)
    manager.poll()
    process = manager.executors["local"]._processes[search.id]
    try:
        assert wait_for(lambda: list(statuses(search).values()) == ["completed", "running"]
                        and len(results.trial_runs(search)) == 2), statuses(search)
        manager.stop_search(search.id)
        process.wait(timeout=120)
    finally:
        process.kill()
    search = search_store.read_search(search.path)
    assert search.status == "stopped" and search.record["ended_by"] == "stopped on request"
    assert statuses(search) == {"0": "completed", "1": "stopped"}
    first, interrupted = results.trial_runs(search)
    assert first.status == "completed" and interrupted.status == "stopped"
    assert interrupted.record["epochs_completed"] < 10

    # Resuming reruns the interrupted trial only, then finishes the budget.
    search.update(budget={**search.budget, "epochs": 1})  # shorter trials from here on: test time
    search = run_search(search.path, log=QUIET)
    assert search.status == "completed" and statuses(search) == {"0": "completed", "1": "completed",
                                                                 "2": "completed"}
    trial_runs = results.trial_runs(search)
    assert [r.record["tags"]["trial"] for r in trial_runs] == ["0", "1", "1", "2"]
    assert trial_runs[0].id == first.id and search.record["best"] is not None


@pytest.mark.slow
def test_resume_after_a_crash_does_not_redo_finished_trials(cifar_dir, runs_dir, monkeypatch):

    class Crash(BaseException):
        """The process dies: nothing after it is written."""

    real_train, calls = tuner.train, []

    def crash_on_second_trial(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Crash()
        return real_train(*args, **kwargs)

    search = tiny_search(runs_dir, cifar_dir, max_trials=2)
    monkeypatch.setattr(tuner, "train", crash_on_second_trial)
    with pytest.raises(Crash):
        tuner.run_search(search.path, log=QUIET)
    dead = subprocess.Popen(["true"])
    dead.wait()
    search = search_store.read_search(search.path)
    search.update(pid=dead.pid)  # as if the crashed process had been this one
    assert search_store.read_search(search.path).status == "failed"

    monkeypatch.setattr(tuner, "train", real_train)
    first = results.trial_runs(search)[0]
    search = tuner.run_search(search.path, log=QUIET)
    assert search.status == "completed" and statuses(search) == {"0": "completed", "1": "completed"}
    # Trial 0 is not trained again; trial 1, cut short by the crash, is.
    trial_runs = results.trial_runs(search)
    assert [r.record["tags"]["trial"] for r in trial_runs] == ["0", "1", "1"]
    assert trial_runs[0].id == first.id and trial_runs[2].status == "completed"


def test_a_searchs_trials_are_runs_of_its_owner(cifar_dir, runs_dir, monkeypatch):
    owner = {"name": "Ada", "seat": "her-seat"}
    search = tiny_search(runs_dir, cifar_dir, max_trials=1, tags={"owner": owner})

    def scored(config, *, run, data, log):   # a trial without the training
        run.finish("completed", metrics={"best_val_accuracy": 0.5})
        return run

    monkeypatch.setattr(tuner, "train", scored)
    search = tuner.run_search(search.path, log=QUIET)
    [trial] = results.trial_runs(search)
    assert search.status == "completed" and trial.record["tags"] == {"owner": owner, "search": search.id, "trial": "0"}


def test_time_limit_ends_the_search_as_completed(cifar_dir, runs_dir):
    from cifar_tf.search.tuner import run_search

    search = tiny_search(runs_dir, cifar_dir, max_trials=50, time_limit=0.001)
    search = run_search(search.path, log=QUIET)
    assert search.status == "completed" and search.record["ended_by"] == "time limit reached"
    assert len(results.trials(search)) <= 1


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_distributed_search_with_a_chief_and_two_workers(cifar_dir, runs_dir, tmp_path):
    # KerasTuner's distributed mode on one machine: the same command three times, only the tuner id differs.
    space = tmp_path / "tiny.json"
    space.write_text(json.dumps(TINY))
    command = [sys.executable, "-m", "cifar_tf", "search", "--tuner", "random", "--space", str(space),
               "--max-trials", "2", "--epochs", "1", "--train-limit", "200", "--val-size", "100",
               "--data-dir", str(cifar_dir), "--runs-dir", str(runs_dir), "--search-id", "shared"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERASTUNER_ORACLE_IP": "127.0.0.1",
           "KERASTUNER_ORACLE_PORT": str(free_port())}
    processes = {tuner_id: subprocess.Popen(command, cwd=ROOT, env={**env, "KERASTUNER_TUNER_ID": tuner_id},
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for tuner_id in ("chief", "tuner0", "tuner1")}
    try:
        outputs = {name: process.communicate(timeout=240)[0] for name, process in processes.items()}
    finally:
        for process in processes.values():
            process.kill()
    for name, process in processes.items():
        assert process.returncode == 0, f"{name}:\n{outputs[name][-3000:]}"
    assert "serving the oracle on 127.0.0.1" in outputs["chief"]

    search = search_store.load_search("shared", runs_dir)
    assert search.status == "completed" and search.record["role"] == "chief"
    trial_runs = results.trial_runs(search)
    assert sorted(r.record["tags"]["trial"] for r in trial_runs) == ["0", "1"]
    # The chief only hands out trials; the workers train them.
    chief_pid = processes["chief"].pid
    assert all(r.status == "completed" and r.record["pid"] != chief_pid for r in trial_runs)
    assert "trial " in outputs["tuner0"] + outputs["tuner1"]
