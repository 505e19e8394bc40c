"""A challenge's time budget: a run admitted with one is stopped once it has trained that long.

Stopping is the run manager's usual stop (finish the batch, evaluate, save; enforced if ignored),
so the run keeps what it learnt and is scored on it: the budget asks what a network can reach in
so many minutes. The clock starts when the run starts, not while it waits in the queue.
"""
import threading
import time

from ..runs.files import timestamp
from .challenge import BUDGET_TAG


def over_budget(runs, clock=time.time):
    """The running runs that have trained longer than their time budget."""
    return [run for run in runs if run.status == "running" and (_trained_beyond(run, clock) or 0) > 0]


def budget_left(run, clock=time.time):
    """Seconds until its time budget stops a started run (0 once it is over), or None (no budget,
    or not started: the clock starts with the run)."""
    beyond = _trained_beyond(run, clock)
    return None if beyond is None else max(0.0, -beyond)


def within_budget(run, seconds, clock=time.time):
    """A run's time left, `seconds` (None: unknown), capped by the budget that will stop it:
    what the Train page, the queue and its start estimates say."""
    left = budget_left(run, clock)
    if left is None:
        return seconds
    return left if seconds is None else min(seconds, left)


def _trained_beyond(run, clock):
    """Seconds a started run has trained beyond its time budget (negative: before it), or None."""
    budget = (run.record.get("tags") or {}).get(BUDGET_TAG)
    started = timestamp(run.record.get("started_at"))
    if not isinstance(budget, (int, float)) or isinstance(budget, bool) or started is None:
        return None
    return clock() - started - budget


class BudgetWatch:
    """Stops runs over their budget, every few seconds, from a daemon thread."""

    def __init__(self, manager, *, every=2.0, clock=time.time):
        self.manager = manager
        self.every = every
        self.clock = clock
        self._thread = None

    def check(self):
        stopped = []
        for run in over_budget(self.manager.running(), self.clock):
            if not run.stop_requested():
                self.manager.stop(run.id)
                stopped.append(run.id)
        return stopped

    def start_background(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="time-budgets")
            self._thread.start()
        return self

    def _loop(self):
        while True:
            try:
                self.check()
            except Exception:  # noqa: BLE001 - a bad folder must not end the watch for everyone
                pass
            time.sleep(self.every)
