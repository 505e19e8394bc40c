"""Whether the process behind a running run (or search) is still there: decided here only.

A worker touches its folder's heartbeat file every few seconds. One is dead when its pid is gone
on this machine, or when its heartbeat has been silent for HEARTBEAT_TIMEOUT_S (a worker on
another machine sharing the folder, a recycled pid, a frozen process). A run on a Ray cluster
has neither here: Ray knows whether it lives, and the run manager that asks it records the answer.
"""
import os
import socket
import time

from .files import timestamp

HEARTBEAT_FILE = "heartbeat"
WORKER_LOG = "worker.log"
HEARTBEAT_TIMEOUT_S = 120


def dead_worker_reason(folder):
    """Why the worker of a `running` folder (a Run or a Search) is dead, or None while it lives."""
    if executor_kind(folder) == "ray":
        return None
    pid = folder.record.get("pid")
    if on_this_host(folder) and isinstance(pid, int) and pid > 0 and not pid_alive(pid):
        return "the training process ended without finishing (killed or crashed)"
    try:
        last = (folder.path / HEARTBEAT_FILE).stat().st_mtime
    except OSError:
        last = timestamp(folder.record.get("started_at") or folder.record.get("created_at"))
    if last and time.time() - last > HEARTBEAT_TIMEOUT_S:
        return f"the training process stopped answering (no heartbeat for {HEARTBEAT_TIMEOUT_S} s)"
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
