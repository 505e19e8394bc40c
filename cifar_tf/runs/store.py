"""Saved runs: one folder each under the runs directory, written so that nothing is ever half-made.

A run folder holds `run.json` (what was trained, how, where it stands, its metrics), the live
histories `steps.jsonl` and `epochs.jsonl`, a `heartbeat` file the worker touches while it runs,
and once finished `model.keras`, `test_probabilities.npy` and `evaluation.json`.

Reading never writes: a running run whose worker is gone is *shown* as failed (see `liveness`),
and the run manager, the one writer besides the worker, records it. Folder names are generated
ids: user text never becomes a path.
"""
import copy
import os
import re
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .. import settings
from . import schema
from .files import MiB, atomic_write_bytes, atomic_write_json, now, read_json, read_jsonl
from .liveness import HEARTBEAT_FILE, dead_worker_reason

RUN_FILE = "run.json"
STEPS_FILE = "steps.jsonl"
EPOCHS_FILE = "epochs.jsonl"
STOP_FILE = "STOP"
MODEL_FILE = "model.keras"
PROBABILITIES_FILE = "test_probabilities.npy"
EVALUATION_FILE = "evaluation.json"
PARTIAL_PREFIX = ".model-partial-"   # a model being saved; left only by a worker killed mid-save

STATUSES = ("queued", "running", "completed", "stopped", "failed")
ACTIVE_STATUSES = ("queued", "running")
FINISHED_STATUSES = ("completed", "stopped")

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_NAME_LENGTH = 80
# The most a file of a run may hold before it is refused unread (a record is a few kilobytes).
RECORD_MAX_BYTES = 4 * MiB
EVALUATION_MAX_BYTES = 16 * MiB
MODEL_MAX_BYTES = 1024 * MiB


class RunNotFound(LookupError):
    pass


class CorruptRun(ValueError):
    pass


def resolve_runs_dir(runs_dir=None):
    return settings.runs_dir(runs_dir)


@dataclass
class WorkerFolder:
    """A folder whose JSON record a worker process keeps: status, pid and host, heartbeat, STOP.

    Runs and hyperparameter searches are both kept this way; only the record's file differs.
    """
    path: Path
    record: dict
    dead_reason: str = None   # set when reading found a running worker gone; see liveness
    RECORD_FILE = RUN_FILE

    @property
    def id(self):
        return self.record["id"]

    @property
    def name(self):
        return self.record.get("name") or self.id

    @property
    def status(self):
        return self.record.get("status")

    def file(self, name):
        return self.path / name

    def save(self):
        self.record["updated_at"] = now()
        atomic_write_json(self.path / self.RECORD_FILE, self.record)

    def update(self, **fields):
        self.record.update(fields)
        self.save()
        return self

    def start(self, **fields):
        """Mark the folder as running in this process (or in the process `pid` given)."""
        self.update(**{"status": "running", "pid": os.getpid(), "host": socket.gethostname(), "started_at": now(),
                       "error": None, **fields})

    def finish(self, status, **fields):
        self.update(status=status, finished_at=now(), **fields)

    def beat(self):
        atomic_write_bytes(self.path / HEARTBEAT_FILE, f"{time.time():.3f}\n".encode())

    def stop_requested(self):
        return (self.path / STOP_FILE).exists()

    def request_stop(self):
        (self.path / STOP_FILE).touch()

    def is_active(self):
        return self.status in ACTIVE_STATUSES

    def dead_worker_reason(self):
        """Why this running folder's worker is gone, or None (also when it is not running)."""
        return dead_worker_reason(self) if self.status == "running" else None


@dataclass
class Run(WorkerFolder):
    """A run folder and its record (the contents of run.json)."""

    @property
    def model_path(self):
        return self.path / MODEL_FILE

    def steps(self):
        return read_jsonl(self.path / STEPS_FILE)

    def epochs(self):
        return read_jsonl(self.path / EPOCHS_FILE)

    def evaluation(self):
        """evaluation.json's content, None if there is none; ValueError or OSError if unreadable."""
        return read_json(self.path / EVALUATION_FILE, EVALUATION_MAX_BYTES, missing_ok=True)


def remove_leftovers(run):
    """Delete what a killed worker leaves half-written: a partial model, temporary record files."""
    for path in [*run.path.glob(f"{PARTIAL_PREFIX}*"), *run.path.glob(".*.tmp")]:
        try:
            path.unlink()
        except OSError:
            pass


def new_run_id():
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def clean_name(name):
    """A display name: printable, one line, at most MAX_NAME_LENGTH characters."""
    text = " ".join(str(name or "").split())
    text = "".join(ch for ch in text if ch.isprintable())
    return text[:MAX_NAME_LENGTH]


def default_name(arch, preset=None, when=None):
    """A readable name for a run nobody named: "resnet20 · quick · 14:05"."""
    when = when or datetime.now()
    return " · ".join(part for part in (str(arch), preset, when.strftime("%H:%M")) if part)


def unique_name(name, taken):
    """`name`, or "name (2)", "name (3)"... if another run already has it."""
    taken = set(taken)
    if name not in taken:
        return name
    number = 2
    while f"{name} ({number})"[:MAX_NAME_LENGTH] in taken:
        number += 1
    suffix = f" ({number})"
    return name[:MAX_NAME_LENGTH - len(suffix)] + suffix


def check_run_name(text, max_length=MAX_NAME_LENGTH):
    """`(name, problem)`: the name a rename would store, and why it cannot (None if it can)."""
    name = " ".join("".join(ch for ch in str(text or "") if ch.isprintable() or ch.isspace()).split())
    if not name:
        return name, "Enter a name: it cannot be empty."
    if len(name) > max_length:
        return name, f"Too long: {len(name)} characters, at most {max_length}."
    return name, None


def create_run(runs_dir=None, *, arch, config, name=None, status="running", tags=None, run_id=None):
    runs_dir = resolve_runs_dir(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_id = run_id or new_run_id()
    path = runs_dir / check_run_id(run_id)
    name = unique_name(clean_name(name) or default_name(arch), (run.name for run in list_runs(runs_dir)[0]))
    path.mkdir()  # fails if it exists: ids are never reused
    created = now()
    record = {
        "id": run_id, "name": name, "arch": arch, "config": config,
        "status": status, "created_at": created, "created_ns": time.time_ns(), "started_at": None,
        "finished_at": None, "updated_at": created, "device": None, "params": None, "epochs_completed": 0,
        "metrics": {}, "error": None, "tags": dict(tags or {}),
        "pid": None, "host": socket.gethostname(),
    }
    run = Run(path, record)
    run.save()
    return run


def check_run_id(run_id):
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise RunNotFound(f"{run_id!r} is not a run id (letters, digits, '-' and '_' only)")
    return run_id


def read_run(path):
    """Read one run folder, or raise CorruptRun saying what is wrong with it.

    A run is its folder: a copied folder whose record still names the original's id is read under
    its own folder name, so that renaming or deleting it never touches the original. A running
    run whose worker is gone comes back as failed, with the reason; nothing is written.
    """
    path = Path(path)
    if path.is_symlink():
        raise CorruptRun(f"{path.name}: a link, not a run folder")
    record = copy.deepcopy(_checked_record(path))  # the caller may change its copy
    if record["id"] != path.name:
        record.update(id=path.name, copied_from=record["id"])
    return mark_if_dead(Run(path, record))


_RECORDS = {}   # run.json path -> (its stat, its checked record): a page rerun re-reads only what changed


def _checked_record(path):
    run_file = path / RUN_FILE
    try:
        info = os.lstat(run_file)
    except FileNotFoundError:
        raise CorruptRun(f"{path.name}: not a run (no {RUN_FILE})") from None
    except OSError as error:
        raise CorruptRun(f"{path.name}: {RUN_FILE} is unreadable ({error.strerror})") from None
    signature = (info.st_ino, info.st_mtime_ns, info.st_size, info.st_mode)
    cached = _RECORDS.get(str(run_file))
    if cached and cached[0] == signature:
        return cached[1]
    try:
        record = read_json(run_file, RECORD_MAX_BYTES)
    except (OSError, ValueError) as error:
        raise CorruptRun(f"{path.name}: {RUN_FILE} is unreadable ({error})") from None
    problem = schema.problem(record, STATUSES)
    if problem:
        raise CorruptRun(f"{path.name}: {RUN_FILE} is not a run record: {problem}")
    _RECORDS[str(run_file)] = (signature, record)
    return record


def mark_if_dead(folder):
    """A running folder whose worker is gone, shown as failed with the reason (in memory only)."""
    reason = folder.dead_worker_reason()
    if reason:
        folder.dead_reason = reason
        folder.record.update(status="failed", error=reason, finished_at=folder.record.get("finished_at") or now())
    return folder


def load_run(run_id, runs_dir=None):
    path = resolve_runs_dir(runs_dir) / check_run_id(run_id)
    if not path.is_dir() or path.is_symlink():
        raise RunNotFound(f"no run {run_id!r} in {resolve_runs_dir(runs_dir)}")
    try:
        return read_run(path)
    except CorruptRun as error:
        raise RunNotFound(str(error)) from None


def list_runs(runs_dir=None):
    """All readable runs, newest first, and a message for each folder that is not one."""
    runs_dir = resolve_runs_dir(runs_dir)
    runs, problems = [], []
    if not runs_dir.is_dir():
        return runs, problems
    for path in sorted(runs_dir.iterdir()):
        if path.name.startswith(".") or not (path.is_dir() or path.is_symlink()):
            continue
        try:
            runs.append(read_run(path))
        except CorruptRun as error:
            problems.append(str(error))
        except OSError as error:
            problems.append(f"{path.name}: cannot be read ({error.strerror})")
    runs.sort(key=lambda run: str(run.record.get("created_at") or ""), reverse=True)
    return runs, problems


def is_shipped(run):
    """Whether `run` is the demo run that ships with the project (or a copy of its folder):
    read-only, whoever asks."""
    return run.path.name == DEMO_RUN


def check_writable(run, action):
    """Refuse to `action` ("delete", "rename") a run that ships with the project."""
    if is_shipped(run):
        raise PermissionError(f"run {run.id} ships with the lab and cannot be {action}d: Predict and Evaluate "
                              "show it before any run is trained")
    return run


def delete_run(run_id, runs_dir=None):
    """Delete a finished run; an active one must be stopped first, a shipped one stays."""
    run = check_writable(load_run(run_id, runs_dir), "delete")
    if run.is_active():
        raise ValueError(f"run {run_id} is {run.status}: stop it before deleting it")
    # Move aside first so that the run disappears from listings in one step.
    trash = run.path.parent / f".deleted-{run.path.name}-{secrets.token_hex(3)}"
    os.replace(run.path, trash)
    shutil.rmtree(trash, ignore_errors=True)
    return run


def rename_run(run_id, name, runs_dir=None):
    name = clean_name(name)
    if not name:
        raise ValueError("name must not be empty")
    return check_writable(load_run(run_id, runs_dir), "rename").update(name=name)


def best_run(runs):
    """The finished run with a model and the best test accuracy, or None."""
    scored = [r for r in runs if r.status in FINISHED_STATUSES and r.model_path.exists()
              and (r.record.get("metrics") or {}).get("test_accuracy") is not None]
    return max(scored, key=lambda r: r.record["metrics"]["test_accuracy"], default=None)


def with_model(runs):
    """The runs that have a saved model, in the given order."""
    return [run for run in runs if run.model_path.is_file()]


DEMO_RUN = "demo-fast-cnn"  # shipped in the project's models/ folder


def demo_run(models_dir=None):
    """The demo run shipped with the project, or None if it is not there."""
    try:
        run = read_run(Path(models_dir or settings.DEFAULT_RUNS_DIR) / DEMO_RUN)
    except (CorruptRun, OSError):
        return None
    return run if run.model_path.is_file() else None
