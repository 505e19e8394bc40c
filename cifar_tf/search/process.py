"""A search's own process: the control it checks between trials and batches (a STOP file,
SIGINT/SIGTERM, the time limit), and how long it has run. The run manager starts and stops it
(`RunManager.submit_search`, `stop_search`, `resume_search`)."""
import time

from ..runs.files import timestamp
from ..runs.store import STOP_FILE


class SearchStopped(BaseException):
    """Ends a search early. A BaseException, so KerasTuner does not record it as a failed trial."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def elapsed_seconds(search):
    """Seconds the search has run, over every session, the current one included."""
    elapsed = float(search.record.get("elapsed_s") or 0.0)
    started = timestamp(search.record.get("started_at"))
    if search.status == "running" and started:
        elapsed += max(0.0, time.time() - started)
    return elapsed


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
