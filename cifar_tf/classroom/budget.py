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
    late = []
    for run in runs:
        budget = (run.record.get("tags") or {}).get(BUDGET_TAG)
        started = timestamp(run.record.get("started_at"))
        if run.status == "running" and isinstance(budget, (int, float)) and started and clock() - started > budget:
            late.append(run)
    return late


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
