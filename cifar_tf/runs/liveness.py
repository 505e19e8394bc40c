"""Whether the process behind a running run (or search) is still there: decided here only.

A worker touches its folder's heartbeat file every few seconds. One is dead when its pid is gone
on this machine, or when its heartbeat has been silent for HEARTBEAT_TIMEOUT_S (a worker on
another machine sharing the folder, a recycled pid, a frozen process), and a record with neither
a heartbeat nor a start time is dead at once: nothing could ever bring it to life, and it would
hold a training slot for ever. A run on a Ray cluster has no heartbeat here: Ray knows whether it
lives, and the run manager that asks it records the answer; a manager without Ray judges it by
its silence (`silent_worker_reason`).

A worker that died of an error says why in its log (a full disk cannot even write the record):
the reason given for it ends with the log's last error line.
"""
import os
import re
import socket
import time

from .files import now, read_tail, timestamp

HEARTBEAT_FILE = "heartbeat"
WORKER_LOG = "worker.log"
HEARTBEAT_TIMEOUT_S = 120


def dead_worker_reason(folder):
    """Why the worker of a `running` folder (a Run or a Search) is dead, or None while it lives."""
    if executor_kind(folder) == "ray":
        return None
    pid = folder.record.get("pid")
    if on_this_host(folder) and isinstance(pid, int) and pid > 0 and not pid_alive(pid):
        return with_last_error("the training process ended without finishing (killed or crashed)", folder)
    return silent_worker_reason(folder)


def silent_worker_reason(folder):
    """Why a running folder's worker counts as gone by its silence alone, or None: no heartbeat for
    HEARTBEAT_TIMEOUT_S (counted from its start until its first one), or no sign of life at all."""
    last = last_heartbeat(folder.path)
    if last is None:
        last = timestamp(folder.record.get("started_at") or folder.record.get("created_at"))
    if last is None:
        return with_last_error("the training process never started: its record has no heartbeat and no start time",
                               folder)
    if time.time() - last > HEARTBEAT_TIMEOUT_S:
        return with_last_error(f"the training process stopped answering (no heartbeat for {HEARTBEAT_TIMEOUT_S} s)",
                               folder)
    return None


def last_heartbeat(path):
    """When the worker of folder `path` last touched its heartbeat file (seconds), or None."""
    try:
        return (path / HEARTBEAT_FILE).stat().st_mtime
    except OSError:
        return None


def heartbeat_is_live(path):
    """Whether a worker touched folder `path`'s heartbeat within HEARTBEAT_TIMEOUT_S: it still trains,
    whatever its record says (even a record that cannot be read)."""
    last = last_heartbeat(path)
    return last is not None and time.time() - last <= HEARTBEAT_TIMEOUT_S


def mark_if_dead(folder):
    """A running folder whose worker is gone, shown as failed with the reason (in memory only)."""
    return mark_dead(folder, folder.dead_worker_reason())


def mark_dead(folder, reason):
    """`folder` shown as failed because of `reason` (in memory only); unchanged if `reason` is None."""
    if reason:
        folder.dead_reason = reason
        folder.record.update(status="failed", error=reason, finished_at=folder.record.get("finished_at") or now())
    return folder


LOG_TAIL_BYTES = 64 * 1024   # enough for the traceback that ended a worker, however long its log
# The line a Python traceback ends with: "OSError: [Errno 28] No space left on device".
_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)): .+")


def with_last_error(reason, folder):
    """`reason`, followed by the last error line of the folder's worker log if it has one."""
    error = last_error_line(folder.path / WORKER_LOG)
    return f"{reason}; the last error in its log: {error}" if error else reason


def last_error_line(log_path):
    """The last line of a worker log that names a Python error, or None (no log, no error)."""
    try:
        data, _ = read_tail(log_path, LOG_TAIL_BYTES)
    except OSError:
        return None
    for line in reversed(data.decode("utf-8", errors="replace").splitlines()):
        if _ERROR_LINE.match(line.strip()):
            return line.strip()[:300]
    return None


def executor_kind(folder):
    """'local' (a process on the machine in `host`) or 'ray' (a task on a Ray cluster)."""
    executor = folder.record.get("executor")
    return executor.get("kind", "local") if isinstance(executor, dict) else "local"


def on_this_host(folder):
    return folder.record.get("host") == socket.gethostname()


def is_worker_of(pid, folder):
    """Whether process `pid` here is a cifar_tf worker of `folder` (not a recycled pid): started
    for it, or a standby worker it was handed to, whose output then goes to the folder's log."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            arguments = f.read().split(b"\0")
    except OSError:
        return False
    path = str(folder.path.resolve())
    if b"cifar_tf" not in arguments:
        return False
    if path.encode() in arguments:
        return True
    try:
        return os.readlink(f"/proc/{pid}/fd/1") == os.path.join(path, WORKER_LOG)
    except OSError:
        return False


def pid_alive(pid):
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
