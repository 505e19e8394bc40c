"""Saved runs: one folder each under the runs directory, written so that nothing is ever half-made.

A run folder holds `run.json` (what was trained, how, where it stands, its metrics), the live
histories `steps.jsonl` and `epochs.jsonl`, a `heartbeat` file the worker touches while it runs,
and once finished `model.keras`, `test_probabilities.npy` and `evaluation.json`.

Reading never writes: a running run whose worker is gone is *shown* as failed (see `liveness`),
and the run manager records it. Folder names are generated ids: user text never becomes a path.

This module is the runs' interface to the rest of the lab: creating, reading, listing and deleting
runs. Its parts live next to it: ids and names in `names`, the record and how it is written in
`records`, the shipped demo run's protection in `demo`, dead workers in `liveness`.
"""
import copy
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from .. import settings
from .demo import DEMO_RUN, check_writable, is_shipped  # noqa: F401 - part of the store's interface
from .files import MiB, now, read_json, read_jsonl
from .liveness import heartbeat_is_live, mark_if_dead
from .names import (MAX_NAME_LENGTH, RUN_ID_PATTERN, RunNotFound, check_run_id, check_run_name,  # noqa: F401
                    clean_name, default_name, new_run_id, unique_name)
from .records import (ACTIVE_STATUSES, RECORD_MAX_BYTES, RUN_FILE, STATUSES, STOP_FILE, CorruptRun,  # noqa: F401
                      WorkerFolder, checked_record)
from .records import LOCK_FILE as RECORD_LOCK_FILE  # noqa: F401

STEPS_FILE = "steps.jsonl"
EPOCHS_FILE = "epochs.jsonl"
MODEL_FILE = "model.keras"
PROBABILITIES_FILE = "test_probabilities.npy"
EVALUATION_FILE = "evaluation.json"
PARTIAL_PREFIX = ".model-partial-"   # a model being saved; left only by a worker killed mid-save

FINISHED_STATUSES = ("completed", "stopped")

EVALUATION_MAX_BYTES = 16 * MiB
MODEL_MAX_BYTES = 1024 * MiB


def resolve_runs_dir(runs_dir=None):
    return settings.runs_dir(runs_dir)


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

    def epochs_trained(self):
        """How far the run trained, in epochs, as its record says: `epochs_trained` once it ended
        (1.48 for a run stopped in its second epoch), else its whole epochs so far."""
        trained = self.record.get("epochs_trained")
        if isinstance(trained, (int, float)) and not isinstance(trained, bool):
            return trained
        return self.record.get("epochs_completed") or 0

    def finish(self, status, **fields):
        """End the run; its record counts the epochs its curves show (see `epochs_trained`)."""
        trained = epochs_trained(self.epochs())
        if trained is not None:
            fields["epochs_trained"] = trained
            # A worker that counts epochs itself may have missed one its history holds (an epoch
            # that ended as a stop arrived): the record never says fewer than the curves show.
            fields["epochs_completed"] = max(int(trained), fields.get("epochs_completed")
                                             or self.record.get("epochs_completed") or 0)
        super().finish(status, **fields)


def epochs_trained(epochs):
    """How far training got, in epochs, by the epoch records the curves draw: 3 after three whole
    epochs, 1.48 when a stop (a time budget, Stop) ended the second one early; None without records."""
    reached = [e["epoch"] for e in epochs if isinstance(e.get("epoch"), (int, float))
               and not isinstance(e.get("epoch"), bool) and e["epoch"] >= 0]
    return max(reached) if reached else None


def remove_leftovers(run):
    """Delete what a killed worker leaves half-written: a partial model, temporary record files."""
    for path in [*run.path.glob(f"{PARTIAL_PREFIX}*"), *run.path.glob(".*.tmp")]:
        try:
            path.unlink()
        except OSError:
            pass


def create_run(runs_dir=None, *, arch, config, name=None, status="running", tags=None, run_id=None, record=None):
    """A new run folder; `record`: more fields for its run.json (a range test's `kind`, a fork's `fork`)."""
    runs_dir, extra = resolve_runs_dir(runs_dir), dict(record or {})
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
        "pid": None, "host": socket.gethostname(), **extra,
    }
    run = Run(path, record)
    run.save()
    return run


def read_run(path):
    """Read one run folder, or raise CorruptRun saying what is wrong with it.

    A run is its folder: a copied folder whose record still names the original's id is read under
    its own folder name, so that renaming or deleting it never touches the original. A running
    run whose worker is gone comes back as failed, with the reason; nothing is written.
    """
    path = Path(path)
    if path.is_symlink():
        raise CorruptRun(f"{path.name}: a link, not a run folder")
    on_disk = checked_record(path)
    record = copy.deepcopy(on_disk)  # the caller may change its copy
    if record["id"] != path.name:
        record.update(id=path.name, copied_from=record["id"])
    return mark_if_dead(Run(path, record, read_back=copy.deepcopy(on_disk)))


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
    runs, problems, _ = scan_runs(runs_dir)
    return runs, problems


def scan_runs(runs_dir=None):
    """`(runs, problems, live_unreadable)`: as `list_runs`, and the folders whose record cannot be
    read while a worker still beats in them (a record torn under a training run): each still holds
    its training slot."""
    runs_dir = resolve_runs_dir(runs_dir)
    runs, problems, live_unreadable = [], [], []
    if not runs_dir.is_dir():
        return runs, problems, live_unreadable
    for path in sorted(runs_dir.iterdir()):
        if path.name.startswith(".") or not (path.is_dir() or path.is_symlink()):
            continue
        try:
            runs.append(read_run(path))
            continue
        except CorruptRun as error:
            problems.append(str(error))
        except OSError as error:
            problems.append(f"{path.name}: cannot be read ({error.strerror})")
        if not path.is_symlink() and heartbeat_is_live(path):
            live_unreadable.append(path)
    runs.sort(key=lambda run: str(run.record.get("created_at") or ""), reverse=True)
    return runs, problems, live_unreadable


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


def demo_run(models_dir=None):
    """The demo run shipped with the project, or None if it is not there."""
    try:
        run = read_run(Path(models_dir or settings.DEFAULT_RUNS_DIR) / DEMO_RUN)
    except (CorruptRun, OSError):
        return None
    return run if run.model_path.is_file() else None
