"""Starts everything that trains, runs and hyperparameter searches, as separate processes; caps how
many train at once, and queues the rest.

The queue lives on disk: a submitted run is a folder with status `queued`, and whichever manager
finds a free slot starts the oldest one as `python -m cifar_tf worker RUN_FOLDER`. A search waits
in the same queue (a folder of `.searches/` with status `queued`) and starts as `python -m cifar_tf
search-worker SEARCH_FOLDER` when the cap has room for the trials it trains at once; its trials
count as the search while it runs. Several app sessions, or two app servers over one runs folder,
therefore share one queue, and queued runs left behind by a restarted server are started by the
next one. A file lock keeps two managers from starting the same run.

The manager is also the one that writes down what reading a folder only shows: a running run
whose worker is gone is recorded as failed, and a stop that is not obeyed is enforced with
SIGTERM, then SIGKILL, whichever manager started the run.

Where runs train is the executor's business: processes on this machine (`local`), or tasks on a
Ray cluster (`ray_cluster`, with `$CIFAR_TF_RAY_ADDRESS` or `ray_address=`), whose records the
manager copies into the run folders here as they arrive.
"""
import os
import signal
import socket
import threading
import time

from .. import settings
from ..hardware import keep_gpus_free
from . import store
from .files import file_lock, now
from .liveness import executor_kind, mark_dead, silent_worker_reason
from .local import LocalExecutor
from .searches import SearchFolder, load_search_folder, read_search_folder, scan_searches, trial_of

LOCK_FILE = ".queue.lock"
STOP_GRACE_S = 60  # a stop request finishes the batch, evaluates and saves; then we insist


def queue_order(folder):
    """Oldest first (a resumed search from when it was queued again); `created_ns` breaks ties
    between folders queued within the same second."""
    record = folder.record
    return (str(record.get("queued_at") or record.get("created_at") or ""), record.get("created_ns") or 0)


def handed_over(run):
    """Started, or queued on a Ray cluster that decides when it starts: not for us to start again."""
    return run.status == "running" or (run.status == "queued" and executor_kind(run) == "ray")


class RunManager:
    def __init__(self, runs_dir=None, *, max_concurrent=None, data_dir=None, poll_every=1.0, ray_address=None,
                 standby=False):
        # submit() builds a model to check it: in this process, never on a GPU the runs need.
        keep_gpus_free()
        self.runs_dir = store.resolve_runs_dir(runs_dir)
        # Runs started here go to the launcher; any run is signalled by the executor of its kind.
        self.executors = {"local": LocalExecutor(standby=standby, data_dir=data_dir)}
        address = ray_address or settings.ray_address()
        if address:
            from .ray_cluster import RayExecutor

            self.executors["ray"] = RayExecutor(address)
        self.launcher = self.executors["ray" if address else "local"]
        self.max_concurrent = max_concurrent or self.launcher.default_max_concurrent()
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._stopping = {}   # run id → time a stop was requested
        self._poll_every = poll_every
        self._thread = None

    # --- what pages call ---------------------------------------------------------------------

    def submit(self, config, *, name=None, tags=None, data_dir=None, record=None, prepare=None):
        """Queue a run and start it at once if a slot is free. `config` is a TrainConfig: its
        fields are checked first (its worker builds the model), against the dataset too (found,
        and large enough for its validation split), and the executor must be reachable, so a
        refused submission leaves nothing behind. `record`: more fields for its run.json (a range
        test's kind, a fork's parent); `prepare(run)`: fills its folder (a fork's weights) before
        any manager may start it."""
        # Names and values against the limits' table; the worker builds the model (built here, it
        # would import TensorFlow into the server: 2.5 s on 2 cores, 5 s on one, at a class's first Start).
        config = config.checked(build=False)
        self.launcher.prepare()
        data_dir = data_dir or self.data_dir
        check_data_fits(config, data_dir)
        tags = dict(tags or {})
        if data_dir:
            tags.setdefault("data_dir", str(data_dir))
        with self._queue_lock():   # no manager starts a queued run while it is being made
            run = store.create_run(self.runs_dir, arch=config.arch, config=config.to_dict(), name=name,
                                   status="queued", tags=tags, record=record)
            if prepare is not None:
                try:
                    prepare(run)
                except BaseException as error:
                    run.finish("failed", error=f"could not prepare the run: {type(error).__name__}: {error}")
                    raise
        self.poll()
        return store.load_run(run.id, self.runs_dir)

    def stop(self, run_id):
        """Ask a run to stop: a queued one never starts, a running one finishes its batch and saves."""
        with self._queue_lock():
            run = store.load_run(run_id, self.runs_dir)
            if run.status == "queued":
                run.finish("stopped", error="stopped before it started")
                if executor_kind(run) in self.executors:
                    self.executors[executor_kind(run)].cancel(run)  # a Ray cluster may hold it
                return run
        if run.status == "running":
            run.request_stop()
            self._stopping.setdefault(run_id, time.time())
        return run

    def submit_search(self, create, *, tags=None):
        """Queue a hyperparameter search: `create(tags=...)` makes its folder, status queued
        (`cifar_tf.search.store.new_search`, which checks everything first); it starts at once if
        the cap has room for its trials. `tags`: its owner in class mode, as a run's."""
        search = create(tags=dict(tags or {}))
        self.poll()
        return self.search(search.id)

    def stop_search(self, search_id):
        """Ask a search to stop: a queued one never starts, a running one lets its current trial
        finish its batch, evaluate and save, and ends."""
        with self._queue_lock():
            search = self.search(search_id)
            if search.status == "queued":
                search.finish("stopped", ended_by="stopped before it started")
                return search
        if search.status == "running":
            search.request_stop()
            self._signal(search, signal.SIGTERM)   # sooner than its next look at STOP, between batches
        return search

    def resume_search(self, search_id):
        """Queue a stopped or failed search again: it continues from its finished trials."""
        with self._queue_lock():
            search = self.search(search_id)
            if not search.can_resume():
                raise ValueError(f"search {search_id} is {search.status}: only a stopped or failed search "
                                 "can be resumed")
            search.update(status="queued", queued_at=now(), error=None, ended_by=None, pid=None)
        self.poll()
        return self.search(search_id)

    def search(self, search_id):
        return load_search_folder(search_id, self.runs_dir)

    def queue(self):
        """Queued runs and searches, oldest first: position 1 starts next."""
        found, _ = store.list_runs(self.runs_dir)
        waiting = [r for r in found if r.status == "queued"]
        waiting += [s for s in scan_searches(self.runs_dir) if s.status == "queued"]
        return sorted(waiting, key=queue_order)

    def queue_position(self, folder_id):
        ids = [folder.id for folder in self.queue()]
        return ids.index(folder_id) + 1 if folder_id in ids else None

    def running(self):
        found, _ = store.list_runs(self.runs_dir)
        return [r for r in found if r.status == "running"]

    def slots(self, folder):
        """Training slots `folder` holds while it trains: a run one, a search one per trial it
        trains at once (never more than the cap, or it could never start)."""
        return min(getattr(folder, "workers", 1), self.max_concurrent)

    # --- the loop ----------------------------------------------------------------------------

    def poll(self):
        """Reap finished workers, copy what remote ones wrote, record dead ones, enforce overdue
        stops, start queued runs and searches, oldest first, while the cap has room."""
        with self._lock:
            with self._queue_lock():
                found, _, live_unreadable = store.scan_runs(self.runs_dir)
                searches = scan_searches(self.runs_dir)
                for executor in self.executors.values():
                    executor.sync(found)  # brings the runs in `found` up to date
                for run in found:
                    if run.status == "running" and executor_kind(run) not in self.executors:
                        # No executor here can ask after it (a Ray run on a server without Ray):
                        # its silence decides, or it would hold its slot for ever.
                        mark_dead(run, silent_worker_reason(run))
                for folder in found + searches:
                    if folder.dead_reason:
                        self._record_dead(folder)
                self._enforce_stops({run.id: run for run in found})
                searching = {search.id for search in searches if search.status == "running"}
                # A worker that still beats under a record that cannot be read keeps its slot; a
                # running search holds its slots, its trials (runs of its own) none besides.
                used = (sum(handed_over(r) for r in found if trial_of(r) not in searching) + len(live_unreadable)
                        + sum(self.slots(search) for search in searches if search.id in searching))
                waiting = [r for r in found if r.status == "queued" and not handed_over(r)]
                waiting += [search for search in searches if search.status == "queued"]
                for folder in sorted(waiting, key=queue_order):
                    if used + self.slots(folder) > self.max_concurrent:
                        break   # first come, first served: nothing overtakes a search waiting for room
                    used += self.slots(folder)
                    if isinstance(folder, SearchFolder):
                        self.executors["local"].launch_search(folder)   # a search trains on this machine
                    else:
                        self.launcher.launch(folder)

    def start_background(self):
        """Poll every second from a daemon thread, so queued runs start with nobody watching."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="run-manager")
            self._thread.start()
        return self

    def _loop(self):
        while True:
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - a bad folder must not end the queue for everyone
                pass
            time.sleep(self._poll_every)

    def _record_dead(self, run):
        """Write down that a run's worker is gone; a frozen one on this machine is ended first,
        so that a run recorded as failed never comes back to life."""
        self._signal(run, signal.SIGKILL)
        try:
            run.save()
            store.remove_leftovers(run)
        except OSError:
            pass  # a read-only folder still lists correctly

    def _enforce_stops(self, runs):
        for run_id, asked in list(self._stopping.items()):
            run = runs.get(run_id)
            if run is None or run.status != "running":
                del self._stopping[run_id]
                continue
            overdue = time.time() - asked
            if overdue > STOP_GRACE_S:
                self._signal(run, signal.SIGTERM if overdue < 2 * STOP_GRACE_S else signal.SIGKILL)

    def _signal(self, run, signum):
        """Send `signum` to the run's worker, whichever manager started it, wherever it runs
        (a manager without Ray cannot reach the worker of a Ray run)."""
        executor = self.executors.get(executor_kind(run))
        if executor is not None:
            executor.signal(run, signum)

    def _queue_lock(self):
        return file_lock(self.runs_dir / LOCK_FILE)


def claim_search(search):
    """Take `search` to train in this process (the command line's `search`, in the foreground):
    marked running with this process's id under the queue's lock, so that no manager starts it too.
    RuntimeError when a process trains it already."""
    with file_lock(search.runs_dir / LOCK_FILE):
        search = read_search_folder(search.path, type(search))
        if search.status == "running":
            raise RuntimeError(f"search {search.id} is already running (pid {search.record.get('pid')}); "
                               f"stop it first with `python -m cifar_tf searches stop {search.id}`")
        search.update(status="running", pid=os.getpid(), host=socket.gethostname(), error=None)
    return search


def check_data_fits(config, data_dir=None):
    """Raise DatasetNotFound (saying how to get it) or InvalidArgument (val_size) unless the
    dataset is here and its training images hold the config's validation split."""
    from ..data.cifar10 import load_cifar10, validation_size

    validation_size(config.val_size, len(load_cifar10(data_dir).y_train))
