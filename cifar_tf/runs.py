"""Saved runs: one folder each under the runs directory, written so that nothing is ever half-made.

A run folder holds `run.json` (what was trained, how, where it stands, its metrics), the live
histories `steps.jsonl` and `epochs.jsonl`, a `heartbeat` file the worker touches while it runs,
and once finished `model.keras`, `test_probabilities.npy` and `evaluation.json`.

Every write is atomic (temporary file, then `os.replace`), the histories are append-only lines
(a reader skips a torn last line), and a run whose process died is reported as failed rather than
running for ever. Folder names are generated ids: user text never becomes a path.
"""
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

RUN_FILE = "run.json"
STEPS_FILE = "steps.jsonl"
EPOCHS_FILE = "epochs.jsonl"
HEARTBEAT_FILE = "heartbeat"
STOP_FILE = "STOP"
MODEL_FILE = "model.keras"
PROBABILITIES_FILE = "test_probabilities.npy"
EVALUATION_FILE = "evaluation.json"

STATUSES = ("queued", "running", "completed", "stopped", "failed")
ACTIVE_STATUSES = ("queued", "running")
FINISHED_STATUSES = ("completed", "stopped")

# A worker touches its heartbeat every few seconds; one silent for this long is dead even when
# its pid cannot be checked (another machine sharing the folder, a recycled pid).
HEARTBEAT_TIMEOUT_S = 120
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_NAME_LENGTH = 80


class RunNotFound(LookupError):
    pass


class CorruptRun(ValueError):
    pass


def default_runs_dir():
    """`$CIFAR_TF_RUNS_DIR`, else the project's `models/` folder."""
    env = os.environ.get("CIFAR_TF_RUNS_DIR")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[1] / "models"


def resolve_runs_dir(runs_dir=None):
    return Path(runs_dir).expanduser() if runs_dir else default_runs_dir()


# --- atomic files -------------------------------------------------------------------------------

def atomic_write_bytes(path, data):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path, obj):
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=_json_default) + "\n").encode())


def atomic_save_npy(path, array):
    import io

    import numpy as np
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def append_jsonl(path, record):
    # One write of one short line in append mode: readers see whole lines or a torn last one.
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=_json_default) + "\n")


def read_jsonl(path):
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line still being written, or damaged: skip it, keep the rest
        if isinstance(record, dict):
            records.append(record)
    return records


def _json_default(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


# --- runs ---------------------------------------------------------------------------------------

@dataclass
class Run:
    """A run folder and its record (the contents of run.json)."""
    path: Path
    record: dict

    @property
    def id(self):
        return self.record["id"]

    @property
    def name(self):
        return self.record.get("name") or self.id

    @property
    def status(self):
        return self.record.get("status")

    @property
    def model_path(self):
        return self.path / MODEL_FILE

    def file(self, name):
        return self.path / name

    def save(self):
        self.record["updated_at"] = _now()
        atomic_write_json(self.path / RUN_FILE, self.record)

    def update(self, **fields):
        self.record.update(fields)
        self.save()
        return self

    def steps(self):
        return read_jsonl(self.path / STEPS_FILE)

    def epochs(self):
        return read_jsonl(self.path / EPOCHS_FILE)

    def evaluation(self):
        path = self.path / EVALUATION_FILE
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def start(self, **fields):
        """Mark the run as running in this process."""
        self.update(status="running", pid=os.getpid(), host=socket.gethostname(), started_at=_now(),
                    error=None, **fields)

    def finish(self, status, **fields):
        self.update(status=status, finished_at=_now(), **fields)

    def beat(self):
        atomic_write_bytes(self.path / HEARTBEAT_FILE, f"{time.time():.3f}\n".encode())

    def stop_requested(self):
        return (self.path / STOP_FILE).exists()

    def request_stop(self):
        (self.path / STOP_FILE).touch()

    def is_active(self):
        return self.status in ACTIVE_STATUSES


def new_run_id():
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def clean_name(name):
    """A display name: printable, one line, at most MAX_NAME_LENGTH characters."""
    text = " ".join(str(name or "").split())
    text = "".join(ch for ch in text if ch.isprintable())
    return text[:MAX_NAME_LENGTH]


def create_run(runs_dir=None, *, arch, config, name=None, status="running", tags=None, run_id=None):
    runs_dir = resolve_runs_dir(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_id = run_id or new_run_id()
    path = runs_dir / check_run_id(run_id)
    path.mkdir()  # fails if it exists: ids are never reused
    now = _now()
    record = {
        "id": run_id, "name": clean_name(name) or run_id, "arch": arch, "config": config,
        "status": status, "created_at": now, "created_ns": time.time_ns(), "started_at": None, "finished_at": None,
        "updated_at": now, "device": None, "params": None, "epochs_completed": 0,
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
    """Read one run folder, or raise CorruptRun saying what is wrong with it."""
    path = Path(path)
    run_file = path / RUN_FILE
    if not run_file.exists():
        raise CorruptRun(f"{path.name}: not a run (no {RUN_FILE})")
    try:
        record = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CorruptRun(f"{path.name}: {RUN_FILE} is unreadable ({error})") from None
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        raise CorruptRun(f"{path.name}: {RUN_FILE} has no run id")
    if record.get("status") not in STATUSES:
        raise CorruptRun(f"{path.name}: unknown status {record.get('status')!r}")
    if not isinstance(record.get("config", {}), dict) or not isinstance(record.get("metrics") or {}, dict):
        raise CorruptRun(f"{path.name}: {RUN_FILE} has a malformed config or metrics")
    run = Run(path, record)
    _mark_dead_worker(run)
    return run


def load_run(run_id, runs_dir=None):
    path = resolve_runs_dir(runs_dir) / check_run_id(run_id)
    if not path.is_dir():
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
        if path.name.startswith(".") or not path.is_dir():
            continue
        try:
            runs.append(read_run(path))
        except CorruptRun as error:
            problems.append(str(error))
        except OSError as error:
            problems.append(f"{path.name}: cannot be read ({error.strerror})")
    runs.sort(key=lambda run: str(run.record.get("created_at") or ""), reverse=True)
    return runs, problems


def delete_run(run_id, runs_dir=None):
    """Delete a finished run; an active one must be stopped first."""
    run = load_run(run_id, runs_dir)
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
    return load_run(run_id, runs_dir).update(name=name)


def _mark_dead_worker(run):
    """A running run whose worker is gone is failed: say so, and write it down."""
    if run.status != "running":
        return
    reason = _dead_worker_reason(run)
    if reason:
        run.record.update(status="failed", error=reason, finished_at=run.record.get("finished_at") or _now())
        try:
            run.save()
        except OSError:
            pass  # a read-only folder still lists correctly


def _dead_worker_reason(run):
    pid, host = run.record.get("pid"), run.record.get("host")
    if pid and host == socket.gethostname() and not _pid_alive(int(pid)):
        return "the training process ended without finishing the run (killed or crashed)"
    beat = run.path / HEARTBEAT_FILE
    try:
        last = beat.stat().st_mtime
    except FileNotFoundError:
        last = _timestamp(run.record.get("started_at") or run.record.get("created_at"))
    if last and time.time() - last > HEARTBEAT_TIMEOUT_S:
        return f"the training process stopped answering (no heartbeat for {HEARTBEAT_TIMEOUT_S} s)"
    return None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (finished, not yet reaped by its parent) is not alive.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _now():
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _timestamp(text):
    try:
        return datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return None
