"""Search folders: a search lives in `<runs_dir>/.searches/<id>/` (hidden, so run listings skip it):

    search.json   tuner, space, budget, status, pid, times, best trial
    tuner/        KerasTuner's own project: the oracle's state and one trial.json per trial
    STOP          asks the search to stop; search.log holds a background search's output

Every trial is trained by `train()` into an ordinary run folder tagged
`{"search": id, "trial": trial_id}`. A new search is queued: the run manager starts it
(`cifar_tf.runs.searches`, `RunManager.submit_search`) when the cap on training has room for it.
This module imports neither TensorFlow nor KerasTuner, so the app lists searches instantly.
Reading never writes: a running search whose process is gone is shown as failed, and can be resumed.
"""
import os
import secrets
import socket
import time
from dataclasses import dataclass

from .. import settings
from ..runs import store as runs_store
from ..runs.files import now
from ..runs.searches import (LOG_FILE, SEARCH_FILE, SEARCHES_DIR, SearchFolder, SearchNotFound,  # noqa: F401
                             load_search_folder, read_search_folder, scan_searches)
from ..runs.searches import searches_dir as _searches_dir
from ..training.config import LIMITS
from ..validation import Limit, check_choice, check_int
from .space import TUNER_LABELS, TUNERS, check_space_values, load_space, space_label

PROJECT_DIR = "tuner"        # KerasTuner's project folder inside the search folder


@dataclass
class Search(SearchFolder):
    """A search folder and its record: a worker's bookkeeping (status, pid, heartbeat, STOP) in search.json."""

    @staticmethod
    def problem(record):
        return _problem(record)

    @property
    def project_dir(self):
        return self.path / PROJECT_DIR

    @property
    def space(self):
        return self.record["space"]

    @property
    def budget(self):
        return self.record["budget"]


def searches_dir(runs_dir=None):
    return _searches_dir(runs_store.resolve_runs_dir(runs_dir))


# What a search's budget may hold: read by the check, the command line and the Search page.
BUDGET_LIMITS = {
    "max_trials": Limit(int, 1, 10_000),      # each trial is a training run: days of them already
    "epochs": LIMITS["epochs"],               # per trial (Hyperband: at most), as any run's
    "train_limit": LIMITS["train_limit"],
    # Trials are scored on validation images from the training set, never the test set: at least one.
    "val_size": LIMITS["val_size"]._replace(low=1),
    "time_limit": Limit(float, 0, None),      # seconds; 0: no limit
}


def check_budget(*, max_trials, epochs, train_limit=0, val_size=None, time_limit=0):
    """The budget of a search, checked: trials, epochs per trial (Hyperband: at most), data, seconds.
    A val_size of None is the default split (5,000, or a tenth of the training images if fewer)."""
    given = {"max_trials": max_trials, "epochs": epochs, "train_limit": train_limit, "val_size": val_size,
             "time_limit": time_limit}
    return {name: None if name == "val_size" and value is None else BUDGET_LIMITS[name].check(name, value)
            for name, value in given.items()}


def new_search(runs_dir=None, *, tuner=None, space, max_trials=10, epochs=None, train_limit=0,
               val_size=None, time_limit=0, name=None, data_dir=None, search_id=None, workers=None,
               check_values=True, tags=None, status="queued"):
    """Create a search folder and return it; nothing is trained yet.

    `workers` trials run at once (default: as many as runs, one per GPU, see the run manager);
    `tags` as a run's (its owner in class mode). `status` queued: for the run manager to start;
    running: this process trains it (the command line's `search`), and no manager starts it."""
    from ..runs.local import default_max_concurrent

    label = space_label(space)
    space = load_space(space)
    tuner = check_choice("tuner", tuner or space["tuner"], TUNERS)
    budget = check_budget(max_trials=max_trials, epochs=epochs or space["epochs"], train_limit=train_limit,
                          val_size=val_size, time_limit=time_limit)
    workers = check_int("workers", workers or default_max_concurrent(), low=1, high=64)
    status = check_choice("status", status, ("queued", "running"))
    search_id = runs_store.check_run_id(search_id) if search_id else runs_store.new_run_id()
    if check_values:
        check_space_values(space, budget)
    folder = searches_dir(runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / search_id
    path.mkdir()  # fails if it exists: another process created this search first
    created = now()
    record = {
        "id": search_id, "name": runs_store.clean_name(name) or f"{TUNER_LABELS[tuner]} · {label}",
        "tuner": tuner, "space_name": label, "space": space, "budget": budget,
        "data_dir": str(data_dir) if data_dir else None, "workers": workers,
        "seed": 1 + secrets.randbelow(9999),  # KerasTuner's oracles read 0 as "pick one"
        "status": status, "created_at": created, "created_ns": time.time_ns(), "started_at": None, "finished_at": None,
        "updated_at": created, "elapsed_s": 0.0, "ended_by": None, "best": None, "error": None,
        "pid": os.getpid() if status == "running" else None, "host": socket.gethostname(), "tags": dict(tags or {}),
    }
    search = Search(path, record)
    search.save()
    return search


def read_search(path):
    """Read one search folder; a running search whose process is gone is reported as failed.
    A search.json of the wrong shape (hand-edited, damaged) raises SearchNotFound with the reason."""
    return read_search_folder(path, Search)


def _problem(record):
    """Why `record` is not a search record the pages can show, or None."""
    problem = SearchFolder.problem(record)   # what queuing it needs
    if problem:
        return problem
    if record.get("tuner") not in TUNERS:
        return f"tuner is {record.get('tuner')!r}, expected one of {', '.join(TUNERS)}"
    for key in ("name", "space_name"):
        if not isinstance(record.get(key), str):
            return f"{key} is {record.get(key)!r}, expected text"
    space, budget = record.get("space"), record.get("budget")
    if not isinstance(space, dict) or not isinstance(space.get("hyperparameters"), dict) \
            or not isinstance(space.get("arch"), str):
        return "its space has no architecture or hyperparameters"
    if not isinstance(budget, dict):
        return "it has no budget"
    for key in ("max_trials", "epochs", "train_limit"):
        if not isinstance(budget.get(key), int) or isinstance(budget.get(key), bool):
            return f"budget.{key} is {budget.get(key)!r}, expected an integer"
    if not (budget.get("val_size") is None or isinstance(budget.get("val_size"), int)):
        return f"budget.val_size is {budget.get('val_size')!r}, expected an integer"
    if not isinstance(budget.get("time_limit", 0), (int, float)):
        return f"budget.time_limit is {budget.get('time_limit')!r}, expected a number"
    return None


def load_search(search_id, runs_dir=None):
    return load_search_folder(search_id, runs_store.resolve_runs_dir(runs_dir), Search)


def list_searches(runs_dir=None):
    """Every readable search, newest first."""
    return scan_searches(runs_store.resolve_runs_dir(runs_dir), Search)


def difference(search, *, tuner=None, space=None, **budget):
    """How `search` differs from the settings given (None: not given), or None if it does not."""
    record = search.record
    if tuner is not None and tuner != record["tuner"]:
        return f"tuner {record['tuner']}, not {tuner}"
    if space is not None and space != record["space"]:
        return f"a different space ({record['space_name']})"
    for key, value in budget.items():
        if value is not None and value != record["budget"].get(key):
            return f"{key} {record['budget'].get(key)}, not {value}"
    return None


def create_or_join(runs_dir, search_id, create, wait_s=60):
    """The search `search_id`, made by `create()` unless another process made it first.

    Every machine of a distributed search may run the same command: the first creates the
    folder, the others wait for its search.json and join.
    """
    path = searches_dir(runs_dir) / runs_store.check_run_id(search_id)
    if not path.exists():
        try:
            return create()
        except FileExistsError:
            pass
    deadline = time.time() + wait_s
    while True:
        try:
            return read_search(path)
        except SearchNotFound:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def role():
    """'chief', 'worker' or 'local': this process's part in KerasTuner's distributed mode."""
    return settings.tuner_role()
