"""The KerasTuner side of a search: a tuner whose trials are training runs, and the process around it.

`run_search(folder)` is what `python -m cifar_tf search` and the app's background process run.
A KerasTuner oracle (random search, Hyperband or Bayesian optimisation) picks each trial's values;
`TrainingTuner.run_trial` turns them into a TrainConfig, trains it with `train()` into a run
folder tagged with the search, and returns the run's best validation accuracy as the objective.

The oracle keeps its state in the search folder after every trial, so a search that crashed or was
stopped continues where it was (`overwrite=False` reloads it; the interrupted trial runs again).

Distributed mode is KerasTuner's own: with `KERASTUNER_ORACLE_IP`/`KERASTUNER_ORACLE_PORT` set,
the process with `KERASTUNER_TUNER_ID=chief` serves the oracle and the others (`tuner0`,
`tuner1`...) ask it for trials and train them. All of them share the runs folder.
"""
import _thread
import gc
import math
import os
import signal
import socket
import subprocess
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass

import keras
import keras_tuner as kt

from .. import settings
from ..runs import store as runs_store
from ..training.config import check_config
from ..training.run import Heartbeat, prepare_data, train
from .process import SearchControl, SearchStopped
from .results import best_trial
from .space import OBJECTIVE, hyperband_rounds, trial_config
from .store import PROJECT_DIR, read_search, role

TIME_LIMIT = "time limit reached"


def hyperparameters(space):
    """A KerasTuner HyperParameters holding a checked space's ranges."""
    hp = kt.HyperParameters()
    for name, spec in space["hyperparameters"].items():
        if spec["type"] == "choice":
            hp.Choice(name, spec["values"])
        else:
            make = hp.Int if spec["type"] == "int" else hp.Float
            make(name, spec["min"], spec["max"], step=spec.get("step"), sampling=spec["sampling"])
    return hp


def make_oracle(search):
    budget = search.budget
    common = dict(objective=kt.Objective(OBJECTIVE, direction="max"),
                  hyperparameters=hyperparameters(search.space), seed=search.record["seed"])
    if search.record["tuner"] == "random":
        return kt.oracles.RandomSearchOracle(max_trials=budget["max_trials"], **common)
    if search.record["tuner"] == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(max_trials=budget["max_trials"], **common)
    # As many Hyperband iterations as the trial budget holds; its base class stops at max_trials.
    per_round = sum(trials for trials, _ in hyperband_rounds(budget["epochs"]))
    oracle = kt.oracles.HyperbandOracle(max_epochs=budget["epochs"], **common,
                                        hyperband_iterations=math.ceil(budget["max_trials"] / per_round))
    oracle.max_trials = budget["max_trials"]
    return oracle


@dataclass
class TrialRun(runs_store.Run):
    """A trial's run: it also stops when its search is asked to."""
    control: SearchControl = None

    def stop_requested(self):
        return super().stop_requested() or self.control.reason() is not None


class TrainingTuner(kt.Tuner):
    """Trains each trial as a normal run and reports its best validation accuracy."""

    def __init__(self, search, *, data, control, log=print):
        # Not `self.search`: that is KerasTuner's method.
        self.search_record, self.data, self.control, self.log = search, data, control, log
        super().__init__(oracle=make_oracle(search), directory=str(search.path),
                         project_name=PROJECT_DIR, overwrite=False)

    def on_search_begin(self):
        self.save()  # so that a crash during the first trial still resumes from here

    def pre_create_trial(self):
        reason = self.control.reason()
        if reason:
            raise SearchStopped(reason)

    def run_trial(self, trial, *args, **kwargs):
        values, budget = trial.hyperparameters.values, self.search_record.budget
        try:
            config = check_config(trial_config(
                self.search_record.space, values, epochs=values.get("tuner/epochs", budget["epochs"]),
                train_limit=budget["train_limit"], val_size=budget["val_size"]))
        except ValueError as error:
            raise kt.errors.FailedTrialError(str(error)) from None
        shown = ", ".join(f"{k}={_short(v)}" for k, v in values.items() if not k.startswith("tuner/"))
        self.log(f"trial {trial.trial_id}: {shown}, {config.epochs} epochs")
        keras.backend.clear_session()  # the previous trial's model and graphs
        gc.collect()
        created = runs_store.create_run(self.search_record.runs_dir, arch=config.arch, config=config.to_dict(),
                                      name=f"{self.search_record.name} · trial {trial.trial_id}",
                                      tags={**self.search_record.record.get("tags", {}),  # its owner
                                            "search": self.search_record.id, "trial": trial.trial_id})
        run = train(config, run=TrialRun(created.path, created.record, control=self.control),
                    data=self.data, log=self.log)
        if run.status == "stopped":
            # Not reported to the oracle: it stays "running" there and a resumed search reruns it.
            raise SearchStopped(self.control.reason() or "stopped on request")
        score = run.record["metrics"]["best_val_accuracy"]
        self.log(f"trial {trial.trial_id}: {OBJECTIVE} {score:.4f} (run {run.id})")
        return {OBJECTIVE: score}

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if role() == "local":  # the chief owns search.json in distributed mode
            self.search_record.update(best=best_trial(self.search_record))


def run_search(path, *, data_dir=None, log=print):
    """Run, resume or join (as a distributed worker) the search in folder `path`; return it.

    `data_dir` is where this machine has CIFAR-10, if not where the search was created.
    """
    search = read_search(path)
    mode, budget = role(), search.budget
    workers = []
    if mode == "local" and search.record.get("workers", 1) > 1:
        workers, mode = _start_local_workers(search), "chief"
    owner = mode != "worker"  # the local process or the chief keeps search.json
    previous_elapsed = float(search.record.get("elapsed_s") or 0.0)
    control = SearchControl(search, budget["time_limit"], previous_elapsed if owner else 0.0)
    if owner:
        (search.path / runs_store.STOP_FILE).unlink(missing_ok=True)
        search.start(ended_by=None, role=mode)
    handlers = _install_signal_handlers(control, chief=mode == "chief")
    status, ended_by, error = "completed", None, None
    try:
        with Heartbeat(search) if owner else nullcontext():
            data = None
            if mode != "chief":  # the chief only hands out trials
                base = trial_config(search.space, {}, epochs=budget["epochs"],
                                               train_limit=budget["train_limit"], val_size=budget["val_size"])
                data = prepare_data(base, data_dir or search.record.get("data_dir"))  # once for every trial
            if control.reason() == TIME_LIMIT:
                raise SearchStopped(TIME_LIMIT)
            tuner = TrainingTuner(search, data=data, control=control, log=log)
            if mode == "chief":
                _watch(control)
                log(f"search {search.id}: serving the oracle on {settings.tuner_oracle_address()}")
            tuner.search(verbose=0)
            done = len(tuner.oracle.trials) if owner else 0
            if done >= budget["max_trials"]:
                ended_by = f"all {done} trials done"
            elif search.record["tuner"] == "hyperband":
                ended_by = "every Hyperband iteration done"
            else:
                ended_by = "no untried values left in the space"
    except SearchStopped as stop:
        ended_by = stop.reason
        status = "completed" if stop.reason == TIME_LIMIT else "stopped"
    except Exception as failure:  # noqa: BLE001 - a search must never stay "running" after a crash
        status, ended_by = "failed", "an error"
        lines = [line for line in str(failure).strip().splitlines() if line.strip()]
        error = f"{type(failure).__name__}: " + (" … ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else "")
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        _end_local_workers(search, workers)
    log(f"search {search.id}: {status} ({ended_by})" + (f": {error}" if error else ""))
    if owner:
        search.finish(status, ended_by=ended_by, error=error, best=best_trial(search),
                      elapsed_s=round(previous_elapsed + time.time() - control.started, 1))
    return search


def _start_local_workers(search):
    """Several trials at once on one machine: this process becomes the chief of local workers.

    KerasTuner's distributed mode on 127.0.0.1; the workers are placed on the GPUs as runs are
    (`runs.placement`), each seeing only its own.
    """
    from .. import settings
    from ..runs.local import spawn
    from ..runs.placement import pick_gpu, process_env

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    oracle = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port}
    os.environ.update(oracle, KERASTUNER_TUNER_ID="chief")  # KerasTuner reads its mode from here
    backend, placed, workers = settings.train_backend(), [], []
    for i in range(search.record["workers"]):
        placed.append(pick_gpu(placed))
        workers.append(spawn(["search-worker", str(search.path)], search.path / f"worker{i}.log",
                             env={**oracle, "KERASTUNER_TUNER_ID": f"tuner{i}", **process_env(placed[-1], backend)}))
    return workers


def _end_local_workers(search, workers, grace_s=120):
    """Wait for the local workers, asking those still busy to stop (a stopped or failed chief)."""
    if not workers:
        return
    if any(worker.poll() is None for worker in workers):
        search.request_stop()
    for worker in workers:
        try:
            worker.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            worker.kill()
    for key in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        os.environ.pop(key, None)


def _install_signal_handlers(control, *, chief):
    """SIGINT/SIGTERM stop the search; train() takes them over while a trial trains."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop_chief(signum, frame):
        # The chief waits inside KerasTuner's server loop: only an exception gets it out.
        raise SearchStopped(control.reason() or "stopped on request")

    handler = stop_chief if chief else control.on_signal
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def _watch(control, every=1.0):
    """For the chief: turn a STOP file or the time limit into a signal to the main thread."""
    def loop():
        while control.reason() is None:
            time.sleep(every)
        _thread.interrupt_main(signal.SIGTERM)

    threading.Thread(target=loop, daemon=True, name="search-watch").start()


def _short(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)
