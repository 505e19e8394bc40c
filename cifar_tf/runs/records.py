"""The JSON record a worker folder keeps (a run's run.json, a search's search.json): read, checked,
cached, and written so that no writer undoes another's.

Several processes write one record: the worker (phase, epochs, metrics, its end), the run
manager (launch, a dead worker), a page (a rename), a Ray executor (what the node reported). Each
writes only the fields it changed since it last read the record: under the folder's lock it reads
the record again, puts its own changes over it and writes the result, so a rename made while a run
trains survives the worker's next epoch, and a worker's epoch survives the rename.
"""
import copy
import os
import socket
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from . import schema
from .files import MiB, atomic_write_bytes, atomic_write_json, file_lock, now, read_json
from .liveness import HEARTBEAT_FILE, dead_worker_reason

RUN_FILE = "run.json"
STOP_FILE = "STOP"
LOCK_FILE = ".record.lock"   # held while a record is read back, merged and written
STATUSES = ("queued", "running", "completed", "stopped", "failed")
ACTIVE_STATUSES = ("queued", "running")
# The most a record may hold before it is refused unread (a record is a few kilobytes).
RECORD_MAX_BYTES = 4 * MiB
CACHE_SIZE = 4096   # records kept parsed: a page rerun re-reads only what changed, and memory stays bounded


class CorruptRun(ValueError):
    pass


@dataclass
class WorkerFolder:
    """A folder whose JSON record a worker process keeps: status, pid and host, heartbeat, STOP.

    Runs and hyperparameter searches are both kept this way; only the record's file differs.
    `read_back` is the record as this process last read or wrote it: what `record` differs from
    it in is what this process changed, and all that `save()` writes.
    """
    path: Path
    record: dict
    dead_reason: str = None   # set when reading found a running worker gone; see liveness
    read_back: dict = field(default=None, repr=False, compare=False)
    RECORD_FILE = RUN_FILE

    def __post_init__(self):
        if self.read_back is None:
            self.read_back = {}   # a record made here: every field of it is this process's to write

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

    @staticmethod
    def problem(record):
        """Why `record` is not a record of this kind of folder, or None."""
        return schema.problem(record, STATUSES)

    def save(self):
        """Write the fields this process changed over the record on disk, and read the result.

        A record on disk that cannot be read back (torn, or damaged by hand) is restored from this
        process's copy, and the record and the process's output (a worker's log) say so: a live
        worker never silently replaces what someone else wrote."""
        record_file = self.path / self.RECORD_FILE
        with file_lock(self.path / LOCK_FILE):
            changed = {key: value for key, value in self.record.items()
                       if key not in self.read_back or not _same(self.read_back[key], value)}
            removed = set(self.read_back) - set(self.record)
            on_disk, problem = self._read_disk(record_file)
            if problem:
                changed = dict(self.record)
                changed["restored"] = f"{now()}: {self.RECORD_FILE} could not be read back ({problem}); " \
                                      "rewritten from the copy of the process that writes it"
                print(f"warning: {self.path.name}: {changed['restored']}", file=sys.stderr, flush=True)
            merged = {key: value for key, value in (on_disk or {}).items() if key not in removed}
            merged.update(changed, updated_at=now())
            atomic_write_json(record_file, merged)
        self.record, self.read_back = merged, copy.deepcopy(merged)

    def _read_disk(self, record_file):
        """`(record, problem)`: the record on disk now (None if there is none yet), or why it cannot be read."""
        try:
            record = read_json(record_file, RECORD_MAX_BYTES)
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError) as error:
            return None, str(error)
        problem = self.problem(record)
        return (None, problem) if problem else (record, None)

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


def _same(read, value):
    """Whether a field still holds what was read (a NumPy value compares as its JSON would)."""
    try:
        return bool(read == value)
    except (TypeError, ValueError):  # an array: its truth is ambiguous, so it counts as changed
        return False


_RECORDS = OrderedDict()   # record path -> (its stat, its checked record), least recently read first


def checked_record(path, record_file=RUN_FILE):
    """The record in folder `path`, checked against the run schema; CorruptRun saying why not.

    The caller gets the cached object: it must copy it before changing it."""
    run_file = Path(path) / record_file
    try:
        info = os.lstat(run_file)
    except FileNotFoundError:
        raise CorruptRun(f"{run_file.parent.name}: not a run (no {record_file})") from None
    except OSError as error:
        raise CorruptRun(f"{run_file.parent.name}: {record_file} is unreadable ({error.strerror})") from None
    signature = (info.st_ino, info.st_mtime_ns, info.st_size, info.st_mode)
    key = str(run_file)
    cached = _RECORDS.get(key)
    if cached and cached[0] == signature:
        _RECORDS.move_to_end(key)
        return cached[1]
    try:
        record = read_json(run_file, RECORD_MAX_BYTES)
    except (OSError, ValueError) as error:
        raise CorruptRun(f"{run_file.parent.name}: {record_file} is unreadable ({error})") from None
    problem = schema.problem(record, STATUSES)
    if problem:
        raise CorruptRun(f"{run_file.parent.name}: {record_file} is not a run record: {problem}")
    _RECORDS[key] = (signature, record)
    _RECORDS.move_to_end(key)
    while len(_RECORDS) > CACHE_SIZE:
        _RECORDS.popitem(last=False)
    return record
