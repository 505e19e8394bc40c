"""Hyperparameter searches: their spaces, their folders, and the processes that run them.

A search space is data: the architecture, the fixed training settings (`base`), and for each
hyperparameter that varies its type and range, for example

    {"arch": "simple_cnn", "base": {"batch_size": 32},
     "hyperparameters": {"lr": {"type": "float", "min": 1e-4, "max": 1e-3, "sampling": "log"},
                         "optimizer": {"type": "choice", "values": ["adam", "sgd"]}}}

A hyperparameter named like a `TrainConfig` field sets that field; any other name is a keyword
of the architecture's builder (`filters1`, `depth`, `l2`...). `SPACES` holds the reference
reports' searches; a JSON file in the same form is accepted anywhere a space name is.

A search lives in `<runs_dir>/.searches/<id>/` (hidden, so run listings skip it):

    search.json   tuner, space, budget, status, pid, times, best trial
    tuner/        KerasTuner's own project: the oracle's state and one trial.json per trial
    STOP          asks the search to stop; search.log holds a background search's output

Every trial is trained by `train()` into an ordinary run folder tagged
`{"search": id, "trial": trial_id}`. KerasTuner drives the search (`cifar_tf.tuner`); this
module imports neither TensorFlow nor KerasTuner, so the app lists searches instantly.
"""
import json
import math
import os
import secrets
import signal
import socket
import time
from dataclasses import fields
from pathlib import Path

from . import runs as runs_lib
from .config import TrainConfig
from .validation import InvalidArgument, check_choice, check_float, check_int

TUNERS = ("random", "hyperband", "bayesian")
TUNER_LABELS = {"random": "Random search", "hyperband": "Hyperband", "bayesian": "Bayesian optimisation"}
HP_TYPES = ("int", "float", "choice")
SAMPLINGS = ("linear", "log")
OBJECTIVE = "val_accuracy"

SEARCHES_DIR = ".searches"
SEARCH_FILE = "search.json"
PROJECT_DIR = "tuner"        # KerasTuner's project folder inside the search folder
LOG_FILE = "search.log"

# Fields a search sets itself (budget) or that would change the data between trials: a space
# may not vary them, so every trial of a search sees the same training and validation images.
BUDGET_FIELDS = ("epochs", "train_limit", "val_size")
NOT_SEARCHABLE = ("arch", "arch_params", "seed", "mixed_precision", "xla", "log_every") + BUDGET_FIELDS
CONFIG_FIELDS = tuple(f.name for f in fields(TrainConfig))
SPACE_KEYS = ("description", "arch", "base", "hyperparameters", "tuner", "epochs")

SPACES = {
    "seed001": {
        "description": "Report 001's Keras Tuner search: simple_cnn's conv filters and dense units, "
                       "the learning rate, Adam or SGD with momentum 0.9; Hyperband, 10 epochs at most.",
        "arch": "simple_cnn",
        # The report compiled each candidate with a constant rate, no augmentation, Keras' default
        # batch of 32, and early stopping with patience 3 on validation accuracy.
        "base": {"batch_size": 32, "schedule": "constant", "augment": "none", "momentum": 0.9,
                 "early_stopping": 3},
        "tuner": "hyperband",
        "epochs": 10,
        "hyperparameters": {
            "filters1": {"type": "int", "min": 32, "max": 64, "step": 16},
            "filters2": {"type": "int", "min": 64, "max": 128, "step": 32},
            "dense_units": {"type": "int", "min": 64, "max": 128, "step": 32},
            "lr": {"type": "float", "min": 1e-4, "max": 1e-3, "sampling": "log"},
            "optimizer": {"type": "choice", "values": ["adam", "sgd"]},
        },
    },
    "seed002": {
        "description": "Report 002's random search over its ResNet-style net: learning rate, batch, "
                       "depth, dense units, Adam or AdamW, L2, dropout, cosine or exponential decay.",
        "arch": "resnet_style",
        "base": {"augment": "standard", "decay_every": 10, "decay_factor": 0.5},
        "tuner": "random",
        "epochs": 40,
        "hyperparameters": {
            "lr": {"type": "float", "min": 1e-4, "max": 5e-4, "sampling": "log"},
            "batch_size": {"type": "choice", "values": [128, 256]},
            "depth": {"type": "int", "min": 3, "max": 5},
            "dense_units": {"type": "choice", "values": [512, 768, 1024]},
            "optimizer": {"type": "choice", "values": ["adam", "adamw"]},
            "l2": {"type": "choice", "values": [1e-4, 5e-4, 1e-3]},
            "dropout": {"type": "choice", "values": [0.2, 0.3, 0.4, 0.5]},
            "schedule": {"type": "choice", "values": ["cosine", "exponential"]},
        },
    },
}


class SearchStopped(BaseException):
    """Ends a search early. A BaseException, so KerasTuner does not record it as a failed trial."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class SearchNotFound(LookupError):
    pass


# --- spaces -------------------------------------------------------------------------------------

def space_error(key, value, expected):
    """An InvalidArgument for `--space` that names the offending key of the space."""
    return InvalidArgument("space", value, f"{key} to be {expected}")


def load_space(spec):
    """A checked space from a name in SPACES, a path to a JSON file, or a dict."""
    if isinstance(spec, dict):
        return check_space(spec)
    text = str(spec or "").strip()
    if text in SPACES:
        return check_space(SPACES[text])
    path = Path(text).expanduser()
    if not text.endswith(".json") and not path.is_file():
        raise InvalidArgument("space", spec, ", ".join(SPACES) + " or a JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidArgument("space", spec, "an existing JSON file") from None
    except (OSError, ValueError) as error:
        raise InvalidArgument("space", spec, f"a readable JSON file ({error})") from None
    return check_space(data)


def space_label(spec):
    """How a space is called in listings: its preset name, else the file name, else 'custom'."""
    if isinstance(spec, dict):
        return "custom"
    text = str(spec)
    return text if text in SPACES else Path(text).name


def check_space(space):
    """A normalised copy of `space`; every problem is an InvalidArgument naming the key."""
    if not isinstance(space, dict):
        raise space_error("the space", space, "a JSON object")
    for key in space:
        if key not in SPACE_KEYS:
            raise space_error(key, space[key], "absent: a space has only " + ", ".join(SPACE_KEYS))
    arch = space.get("arch")
    if not isinstance(arch, str) or not arch.strip():
        raise space_error("arch", arch, "an architecture name")
    base = space.get("base", {})
    if not isinstance(base, dict):
        raise space_error("base", base, "an object of fixed training settings")
    for key, value in base.items():
        if key not in CONFIG_FIELDS or key in ("arch",) + BUDGET_FIELDS:
            allowed = [f for f in CONFIG_FIELDS if f not in ("arch",) + BUDGET_FIELDS]
            raise space_error(f"base.{key}", value, "absent: base holds " + ", ".join(allowed)
                              + " (epochs, train_limit and val_size are the search's budget)")
    hps = space.get("hyperparameters")
    if not isinstance(hps, dict) or not hps:
        raise space_error("hyperparameters", hps, "an object with at least one hyperparameter")
    checked = {name: _check_hyperparameter(name, spec) for name, spec in hps.items()}
    tuner = space.get("tuner", "random")
    if tuner not in TUNERS:
        raise space_error("tuner", tuner, "one of " + ", ".join(TUNERS))
    epochs = space.get("epochs", 10)
    try:
        epochs = check_int("epochs", epochs, low=1, high=1000)
    except InvalidArgument:
        raise space_error("epochs", epochs, "an integer from 1 up to 1000") from None
    return {"description": str(space.get("description", "")), "arch": arch.strip(), "base": dict(base),
            "hyperparameters": checked, "tuner": tuner, "epochs": epochs}


def _check_hyperparameter(name, spec):
    key = f"hyperparameters.{name}"
    if not isinstance(name, str) or not name or name.startswith("tuner/"):
        raise space_error(key, name, "a hyperparameter name")
    if name in NOT_SEARCHABLE:
        raise space_error(key, name, "a hyperparameter other than " + ", ".join(NOT_SEARCHABLE)
                          + " (the budget and the data stay fixed within a search)")
    if not isinstance(spec, dict):
        raise space_error(key, spec, 'an object like {"type": "int", "min": 1, "max": 4}')
    kind = spec.get("type")
    if kind not in HP_TYPES:
        raise space_error(f"{key}.type", kind, "one of " + ", ".join(HP_TYPES))
    allowed = {"int": ("type", "min", "max", "step", "sampling"),
               "float": ("type", "min", "max", "step", "sampling"),
               "choice": ("type", "values")}[kind]
    for field in spec:
        if field not in allowed:
            raise space_error(f"{key}.{field}", spec[field], f"absent: a {kind} has " + ", ".join(allowed))
    if kind == "choice":
        return {"type": "choice", "values": _check_choices(key, spec.get("values"))}
    number = _int_value if kind == "int" else _float_value
    low, high = number(f"{key}.min", spec.get("min")), number(f"{key}.max", spec.get("max"))
    if not low < high:
        raise space_error(f"{key}.max", spec.get("max"), f"above min ({low})")
    sampling = spec.get("sampling", "linear")
    if sampling not in SAMPLINGS:
        raise space_error(f"{key}.sampling", sampling, "linear or log")
    if sampling == "log" and low <= 0:
        raise space_error(f"{key}.min", low, "above 0 with log sampling")
    checked = {"type": kind, "min": low, "max": high, "sampling": sampling}
    if spec.get("step") is not None:
        step = number(f"{key}.step", spec["step"])
        if step <= 0 or (kind == "int" and sampling == "linear" and (high - low) % step):
            raise space_error(f"{key}.step", spec["step"],
                              "a positive step that divides max - min" if kind == "int" else "a positive number")
        checked["step"] = step
    return checked


def _int_value(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise space_error(key, value, "an integer")
    return int(value)


def _float_value(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise space_error(key, value, "a number")
    return float(value)


def _check_choices(key, values):
    if not isinstance(values, list) or not values:
        raise space_error(f"{key}.values", values, "a non-empty list")
    if all(isinstance(v, bool) for v in values):
        kinds = bool
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        # KerasTuner wants one type per Choice: a list mixing 1 and 0.5 becomes floats.
        kinds = int if all(isinstance(v, int) for v in values) else float
    elif all(isinstance(v, str) for v in values):
        kinds = str
    else:
        raise space_error(f"{key}.values", values, "all numbers, all strings or all true/false")
    values = [kinds(v) for v in values]
    if len(set(values)) != len(values):
        raise space_error(f"{key}.values", values, "distinct values")
    return values


def trial_config(space, values, *, epochs, train_limit=0, val_size=5000):
    """The TrainConfig of one trial: the space's base, the trial's values, the budget."""
    settings = {"arch": space["arch"], **space["base"]}
    arch_params = dict(settings.pop("arch_params", {}) or {})
    for name, value in values.items():
        if name.startswith("tuner/"):  # Hyperband's bookkeeping, not a hyperparameter
            continue
        if name in CONFIG_FIELDS:
            settings[name] = value
        else:
            arch_params[name] = value
    return TrainConfig.from_dict({**settings, "arch_params": arch_params, "epochs": epochs,
                                  "train_limit": train_limit, "val_size": val_size})


def space_corners(space):
    """Two trials' values: every hyperparameter at its low end, then at its high end."""
    low, high = {}, {}
    for name, spec in space["hyperparameters"].items():
        if spec["type"] == "choice":
            low[name], high[name] = spec["values"][0], spec["values"][-1]
        else:
            low[name], high[name] = spec["min"], spec["max"]
    return low, high


def check_space_values(space, budget):
    """Build the configs at both corners of the space, so that a bad range fails now, not in trial 7.

    Imports TensorFlow (the models are built); errors name the space's key.
    """
    from .train import check_config

    for values in space_corners(space):
        try:
            check_config(trial_config(space, values, epochs=budget["epochs"],
                                      train_limit=budget["train_limit"], val_size=budget["val_size"]))
        except InvalidArgument as error:
            name = error.value if error.name == "arch_params" else str(error.name).split()[0]
            if name in space["hyperparameters"]:
                raise space_error(f"hyperparameters.{name}", values[name], error.allowed) from None
            if name == "arch":
                raise space_error("arch", space["arch"], error.allowed) from None
            raise space_error(f"base.{name}", error.value, error.allowed) from None


# What a custom space offers for the training settings: a range a student can start from.
TRAINING_RANGES = {
    "lr": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"},
    "batch_size": {"type": "choice", "values": [32, 64, 128, 256]},
    "optimizer": {"type": "choice", "values": ["adam", "sgd"]},
    "momentum": {"type": "float", "min": 0.8, "max": 0.99, "sampling": "linear"},
    "schedule": {"type": "choice", "values": ["constant", "cosine"]},
    "weight_decay": {"type": "float", "min": 1e-5, "max": 1e-2, "sampling": "log"},
    "dropout": {"type": "float", "min": 0.0, "max": 0.5, "sampling": "linear", "step": 0.1},
    "label_smoothing": {"type": "float", "min": 0.0, "max": 0.2, "sampling": "linear", "step": 0.05},
    "augment": {"type": "choice", "values": ["none", "flip"]},
}
# The options offered for the choice settings.
CHOICES = {"batch_size": [16, 32, 64, 128, 256, 512], "optimizer": ["sgd", "adam", "adamw", "rmsprop"],
           "schedule": ["constant", "step", "exponential", "cosine", "onecycle"],
           "augment": ["none", "flip", "standard", "strong"]}


def architecture_ranges(arch):
    """A starting range for each numeric hyperparameter of an architecture (imports TensorFlow)."""
    from .architectures import editable_hyperparameters

    ranges = {}
    for key, default in editable_hyperparameters(arch).items():
        if key == "dropout" or isinstance(default, bool) or not isinstance(default, (int, float)):
            continue  # dropout is a training setting; tuples and switches are not ranges
        if isinstance(default, int):
            ranges[key] = {"type": "int", "min": max(1, default // 2), "max": max(2, default * 2),
                           "sampling": "linear"}
        elif key == "l2" or default == 0:
            ranges[key] = {"type": "float", "min": 1e-5, "max": 1e-2, "sampling": "log"}
        else:
            ranges[key] = {"type": "float", "min": default / 2, "max": default * 2, "sampling": "linear"}
    return ranges


def describe_range(spec):
    """A hyperparameter's range in words: '32 to 64 (step 16)', '0.0001 to 0.001 (log)', 'adam, sgd'."""
    if spec["type"] == "choice":
        return ", ".join(map(str, spec["values"]))
    notes = [f"step {spec['step']:g}"] if spec.get("step") else []
    notes += ["log"] if spec["sampling"] == "log" else []
    return f"{spec['min']:g} to {spec['max']:g}" + (f" ({', '.join(notes)})" if notes else "")


def hyperband_rounds(max_epochs, factor=3):
    """(trials, epochs) of each round of each bracket in one Hyperband iteration, in KerasTuner's order.

    The same arithmetic as KerasTuner's HyperbandOracle (Li et al. 2018): most brackets start
    many short trials and give the best ones more epochs.
    """
    brackets, epochs = 0, max_epochs
    while epochs >= 1:
        epochs, brackets = epochs / factor, brackets + 1
    last_size = math.ceil(1 + math.log(max_epochs, factor))
    return [(math.ceil(last_size / (bracket + 1) * factor ** (bracket - rnd)),
             math.ceil(max_epochs / factor ** (bracket - rnd)))
            for bracket in reversed(range(brackets)) for rnd in range(bracket + 1)]


# --- search folders -----------------------------------------------------------------------------

class Search(runs_lib.Run):
    """A search folder and its record: a run's bookkeeping (status, pid, heartbeat, STOP) in search.json."""

    def save(self):
        self.record["updated_at"] = runs_lib._now()
        runs_lib.atomic_write_json(self.path / SEARCH_FILE, self.record)

    @property
    def project_dir(self):
        return self.path / PROJECT_DIR

    @property
    def runs_dir(self):
        return self.path.parent.parent

    @property
    def space(self):
        return self.record["space"]

    @property
    def budget(self):
        return self.record["budget"]


def searches_dir(runs_dir=None):
    return runs_lib.resolve_runs_dir(runs_dir) / SEARCHES_DIR


def check_budget(*, max_trials, epochs, train_limit=0, val_size=5000, time_limit=0):
    """The budget of a search, checked: trials, epochs per trial (Hyperband: at most), data, seconds."""
    return {"max_trials": check_int("max_trials", max_trials, low=1, high=100000),
            "epochs": check_int("epochs", epochs, low=1, high=1000),
            "train_limit": check_int("train_limit", train_limit, low=0),
            # Trials are scored on validation images from the training set, never the test set.
            "val_size": check_int("val_size", val_size, low=1),
            "time_limit": check_float("time_limit", time_limit, low=0)}


def new_search(runs_dir=None, *, tuner=None, space, max_trials=10, epochs=None, train_limit=0,
               val_size=5000, time_limit=0, name=None, data_dir=None, search_id=None, workers=None,
               check_values=True):
    """Create a search folder (status queued) and return it; nothing is trained yet.

    `workers` trials run at once (default: as many as runs, one per GPU, see the run manager).
    """
    from .manager import default_max_concurrent

    label = space_label(space)
    space = load_space(space)
    tuner = check_choice("tuner", tuner or space["tuner"], TUNERS)
    budget = check_budget(max_trials=max_trials, epochs=epochs or space["epochs"], train_limit=train_limit,
                          val_size=val_size, time_limit=time_limit)
    workers = check_int("workers", workers or default_max_concurrent(), low=1, high=64)
    search_id = runs_lib.check_run_id(search_id) if search_id else runs_lib.new_run_id()
    if check_values:
        check_space_values(space, budget)
    folder = searches_dir(runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / search_id
    path.mkdir()  # fails if it exists: another process created this search first
    now = runs_lib._now()
    record = {
        "id": search_id, "name": runs_lib.clean_name(name) or f"{TUNER_LABELS[tuner]} · {label}",
        "tuner": tuner, "space_name": label, "space": space, "budget": budget,
        "data_dir": str(data_dir) if data_dir else None, "workers": workers,
        "seed": 1 + secrets.randbelow(9999),  # KerasTuner's oracles read 0 as "pick one"
        "status": "queued", "created_at": now, "started_at": None, "finished_at": None,
        "updated_at": now, "elapsed_s": 0.0, "ended_by": None, "best": None, "error": None,
        "pid": None, "host": socket.gethostname(),
    }
    search = Search(path, record)
    search.save()
    return search


def read_search(path):
    """Read one search folder; a running search whose process is gone is reported as failed."""
    path = Path(path)
    try:
        record = json.loads((path / SEARCH_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SearchNotFound(f"{path.name}: not a search (no {SEARCH_FILE})") from None
    except (OSError, ValueError) as error:
        raise SearchNotFound(f"{path.name}: {SEARCH_FILE} is unreadable ({error})") from None
    if not isinstance(record, dict) or record.get("status") not in runs_lib.STATUSES:
        raise SearchNotFound(f"{path.name}: {SEARCH_FILE} has no valid status")
    search = Search(path, record)
    if search.status == "running":
        if runs_lib._dead_worker_reason(search):  # the same test as for a run's worker
            search.record.update(status="failed", finished_at=search.record.get("finished_at") or runs_lib._now(),
                                 error="the search process ended or stopped answering before the search "
                                       "finished (killed or crashed); resume it to continue")
            try:
                search.save()
            except OSError:
                pass
    return search


def load_search(search_id, runs_dir=None):
    path = searches_dir(runs_dir) / runs_lib.check_run_id(search_id)
    if not path.is_dir():
        raise SearchNotFound(f"no search {search_id!r} in {searches_dir(runs_dir)}")
    return read_search(path)


def list_searches(runs_dir=None):
    """Every readable search, newest first."""
    folder = searches_dir(runs_dir)
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_dir() and not path.name.startswith("."):
                try:
                    found.append(read_search(path))
                except SearchNotFound:
                    pass  # a search being created by another process right now
    return sorted(found, key=lambda s: str(s.record.get("created_at") or ""), reverse=True)


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
    path = searches_dir(runs_dir) / runs_lib.check_run_id(search_id)
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
    """'chief', 'worker' or 'local', from KerasTuner's distributed-mode environment variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "local"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def trial_runs(search, runs=None):
    """The run folders of this search's trials, oldest first (from `runs` when already listed)."""
    found = runs if runs is not None else runs_lib.list_runs(search.runs_dir)[0]
    mine = [r for r in found if (r.record.get("tags") or {}).get("search") == search.id]
    return sorted(mine, key=lambda r: str(r.record.get("created_at") or ""))


def read_oracle_trials(search):
    """KerasTuner's record of each trial (`tuner/trial_*/trial.json`), by trial id."""
    found = {}
    for path in search.project_dir.glob("trial_*/trial.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being written right now
        found[str(data.get("trial_id"))] = data
    return found


def trials(search, runs=None):
    """One dict per trial, in trial order: values, status, epochs, progress, score and its run."""
    latest = {}
    for run in trial_runs(search, runs):  # oldest first: a trial rerun after a resume replaces its stopped run
        latest[run.record["tags"].get("trial")] = run
    rows = []
    for trial_id, data in sorted(read_oracle_trials(search).items()):
        values = (data.get("hyperparameters") or {}).get("values") or {}
        run = latest.get(trial_id)
        record = run.record if run else {}
        metrics = record.get("metrics") or {}
        epochs = (record.get("config") or {}).get("epochs") or values.get("tuner/epochs") or search.budget["epochs"]
        done = record.get("epochs_completed") or 0
        status = _trial_status(data.get("status"), run, search)
        message = (data.get("message") or record.get("error") or "").strip().splitlines()
        score = data.get("score")
        if score is None and run is not None:  # still training: the best validation accuracy so far
            scores = [e.get("val_accuracy") for e in run.epochs() if e.get("val_accuracy") is not None]
            score = metrics.get("best_val_accuracy") or (max(scores) if scores else None)
        rows.append({
            "trial": trial_id, "status": status,
            "values": {k: values[k] for k in search.space["hyperparameters"] if k in values},
            "epochs": epochs, "epochs_done": done, "progress": _progress(status, run, done, epochs),
            "score": score, "test_accuracy": metrics.get("test_accuracy"),
            "seconds": metrics.get("train_seconds"), "run": run.id if run else None,
            "message": message[-1] if message else None,
        })
    return rows


def flat_rows(rows):
    """Trial rows with each hyperparameter in a column of its own, for tables."""
    return [{"trial": r["trial"], "status": r["status"], **r["values"], "epochs": r["epochs"],
             "progress": r["progress"], OBJECTIVE: r["score"], "test_accuracy": r["test_accuracy"],
             "run": r["run"]} for r in rows]


def _trial_status(oracle_status, run, search):
    if oracle_status == "COMPLETED":
        return "completed"
    if oracle_status in ("FAILED", "INVALID"):
        return "failed"
    if run is not None and run.status in ("stopped", "failed"):
        return run.status
    # Interrupted trials are "running" for the oracle until a resumed search reruns them.
    return "running" if search.status == "running" else "stopped"


def _progress(status, run, done, epochs):
    if status == "completed":
        return 1.0
    if run is None:
        return 0.0
    total = run.record.get("total_steps")
    steps = run.steps()
    if status == "running" and total and steps:
        return min(1.0, steps[-1]["step"] / total)
    return min(1.0, done / epochs) if epochs else 0.0


def best_trial(search, rows=None):
    """The completed trial with the best validation accuracy, or None."""
    scored = [r for r in (rows if rows is not None else trials(search))
              if r["status"] == "completed" and r["score"] is not None]
    if not scored:
        return None
    best = max(scored, key=lambda r: r["score"])
    return {"trial": best["trial"], OBJECTIVE: best["score"], "test_accuracy": best["test_accuracy"],
            "values": best["values"], "run": best["run"]}


def summary(search, runs=None):
    """One line about a search for listings: settings, status, trials finished, best score."""
    rows = trials(search, runs)
    best = best_trial(search, rows)
    return {"id": search.id, "name": search.name, "tuner": TUNER_LABELS[search.record["tuner"]],
            "space": search.record["space_name"], "status": search.status,
            "trials": f"{sum(r['status'] == 'completed' for r in rows)} / {search.budget['max_trials']}",
            "best_val_accuracy": best[OBJECTIVE] if best else None,
            "created": str(search.record.get("created_at") or "")[:16].replace("T", " ")}


def best_config(search, *, epochs=None, train_limit=0):
    """The best trial's configuration for a full training: every training image, more epochs.

    The validation images stay those the search scored its trials on.
    """
    best = best_trial(search)
    if best is None or best["run"] is None:
        raise LookupError(f"search {search.id} has no completed trial yet")
    config = runs_lib.load_run(best["run"], search.runs_dir).record["config"]
    return TrainConfig.from_dict({**config, "epochs": epochs or search.space["epochs"],
                                  "train_limit": train_limit}).validated()


# --- background process and stop requests -------------------------------------------------------

def start_process(search):
    """Run `search` in a separate process (`python -m cifar_tf search-worker FOLDER`)."""
    from .manager import spawn

    try:
        process = spawn(["search-worker", str(search.path)], search.path / LOG_FILE)
    except OSError as error:
        search.finish("failed", error=f"could not start the search process: {error}")
        raise
    # Marked running with the process id at once, so that a listing never shows it idle, and a
    # fresh heartbeat, so that a resumed search is not taken for dead before its process beats.
    search.update(status="running", pid=process.pid, host=socket.gethostname(), error=None)
    search.beat()
    return process


def request_stop(search):
    """Ask a search to stop: its current trial finishes its batch, is evaluated and saved."""
    search = read_search(search.path)
    if search.status == "queued":
        search.finish("stopped", ended_by="stopped before it started")
        return search
    search.request_stop()
    pid = search.record.get("pid")
    if search.status == "running" and pid and search.record.get("host") == socket.gethostname():
        try:
            os.kill(int(pid), signal.SIGTERM)  # sooner than the next STOP check between trials
        except (ProcessLookupError, PermissionError):
            pass
    return search


def elapsed_seconds(search):
    """Seconds the search has run, over every session, the current one included."""
    elapsed = float(search.record.get("elapsed_s") or 0.0)
    started = runs_lib._timestamp(search.record.get("started_at"))
    if search.status == "running" and started:
        elapsed += max(0.0, time.time() - started)
    return elapsed


def can_resume(search):
    return search.status in ("stopped", "failed")


class SearchControl:
    """Why the search must stop now, if it must: a STOP file, SIGINT/SIGTERM, the time limit."""

    def __init__(self, search, time_limit=0.0, elapsed=0.0):
        self.search, self.started = search, time.time()
        self.deadline = self.started + time_limit - elapsed if time_limit else None
        self.signalled = False

    def reason(self):
        if self.signalled:
            return "stopped on request"
        stop = self.search.path / runs_lib.STOP_FILE
        try:
            # A STOP left from an earlier session does not stop this one.
            if stop.stat().st_mtime >= self.started - 1:
                return "stopped on request"
        except FileNotFoundError:
            pass
        if self.deadline is not None and time.time() >= self.deadline:
            return "time limit reached"
        return None

    def on_signal(self, signum, frame):
        self.signalled = True
