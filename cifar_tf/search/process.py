"""A search's own process: starting it in the background, asking it to stop, and the control it
checks between trials (a STOP file, SIGINT/SIGTERM, the time limit)."""
import os
import signal
import socket
import time

from ..runs.files import timestamp
from ..runs.store import STOP_FILE
from .store import LOG_FILE, read_search


class SearchStopped(BaseException):
    """Ends a search early. A BaseException, so KerasTuner does not record it as a failed trial."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def start_process(search):
    """Run `search` in a separate process (`python -m cifar_tf search-worker FOLDER`)."""
    from .. import settings
    from ..runs.local import spawn
    from ..runs.placement import pick_gpu, process_env

    try:
        process = spawn(["search-worker", str(search.path)], search.path / LOG_FILE,
                        process_env(pick_gpu(()), settings.train_backend()))
    except (OSError, ValueError) as error:
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
    started = timestamp(search.record.get("started_at"))
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
        stop = self.search.path / STOP_FILE
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
