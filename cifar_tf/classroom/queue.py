"""When queued runs will start: the running runs' time left, then each queued run's expected
length, over the training slots the server has.

A run's length is expected from the throughput (images per second) that finished runs of the same
architecture measured here, or of any architecture if none did, capped by a challenge's time
budget. Where nothing is known the estimate is None, and so is every start after it.
"""
import statistics
import time

from ..data.cifar10 import validation_size
from ..runs.files import timestamp
from ..runs.manager import queue_order
from ..runs.progress import progress
from ..runs.searches import SearchFolder
from ..runs.store import FINISHED_STATUSES
from .budget import within_budget
from .challenge import BUDGET_TAG

TRAINING_SPLIT = 50_000  # CIFAR-10's training images, validation images included


def expected_seconds(run, finished):
    """How long `run` should train, from the throughput of `finished` runs; None if unknown."""
    config = run.record.get("config") or {}
    epochs = (config.get("epochs") or 0) + (config.get("fine_tune_epochs") or 0)
    images = config.get("train_limit") or TRAINING_SPLIT - _validation_images(config.get("val_size"))
    arch = run.record.get("arch")
    rates = [r.record["metrics"]["images_per_second"] for r in finished if r.record.get("arch") == arch
             and _number((r.record.get("metrics") or {}).get("images_per_second"))]
    rates = rates or [r.record["metrics"]["images_per_second"] for r in finished
                      if _number((r.record.get("metrics") or {}).get("images_per_second"))]
    seconds = epochs * images / statistics.median(rates) if rates and epochs else None
    budget = (run.record.get("tags") or {}).get(BUDGET_TAG)
    if _number(budget):
        seconds = min(seconds, budget) if seconds is not None else budget
    return seconds


def _validation_images(val_size):
    """The images a run holds out of the training split (the default split for None)."""
    try:
        return validation_size(val_size, TRAINING_SPLIT)
    except ValueError:
        return 0  # a split the data cannot hold: the run will fail, and its length does not matter


def remaining_seconds(run, finished, clock=time.time):
    """Seconds a running run still needs: its own estimate once it reports steps, else the
    expected length less the time it has run; never more than its time budget leaves it, which
    stops it whatever its steps say."""
    eta = progress(run)["eta_seconds"]
    if eta is None:
        expected = expected_seconds(run, finished)
        started = timestamp(run.record.get("started_at"))
        if expected is not None:
            eta = max(0.0, expected - (clock() - started)) if started else expected
    return within_budget(run, eta, clock)


def start_estimates(queued, running, finished, slots, clock=time.time):
    """{id: seconds from now until it starts, or None} for `queued` runs and searches in queue order.
    A search starts when the trials it trains at once have a slot each, and holds them for a time
    nobody knows: they are not counted as freeing again."""
    left = [remaining_seconds(run, finished, clock) for run in running]
    known = sorted(seconds for seconds in left if seconds is not None)
    # A slot whose run has no estimate frees at an unknown time: it is left out.
    free_at = (known + [0.0] * max(0, slots - len(running)))[:max(0, slots - (len(left) - len(known)))]
    estimates = {}
    for item in queued:
        needs = item.workers if isinstance(item, SearchFolder) else 1
        if len(free_at) < needs:
            estimates[item.id] = None
            continue
        taken = sorted(free_at)[:needs]
        for start in taken:
            free_at.remove(start)
        estimates[item.id] = start = max(taken)
        length = None if isinstance(item, SearchFolder) else expected_seconds(item, finished)
        if length is not None:
            free_at.append(start + length)
    return estimates


def queue_with_estimates(runs, slots, clock=time.time, searches=()):
    """`[(run or search, seconds until it starts or None)]` for the queued runs among `runs` and the
    queued `searches`, in the one queue's order."""
    queued = sorted([run for run in runs if run.status == "queued"]
                    + [search for search in searches if search.status == "queued"], key=queue_order)
    running = [run for run in runs if run.status == "running"]
    finished = [run for run in runs if run.status in FINISHED_STATUSES]
    estimates = start_estimates(queued, running, finished, slots, clock)
    return [(item, estimates[item.id]) for item in queued]


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
