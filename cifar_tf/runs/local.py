"""Runs as processes on this machine: `python -m cifar_tf worker RUN_FOLDER`, the default executor.

Every executor (this one, and `ray_cluster.RayExecutor`) offers the run manager the same few
calls: `prepare()` before a run is queued, `launch(run)`, `sync(runs)` on every poll, `signal(run,
signum)` and `cancel(run)`. This one also starts hyperparameter searches (`launch_search`), which
train their trials on this machine whatever executor the runs have.
"""
import os
import signal
import socket
import subprocess
import sys

from .. import settings
from ..hardware import gpus_for_runs
from .liveness import WORKER_LOG, is_worker_of, on_this_host
from .placement import default_max_concurrent, gpu_of, pick_gpu, process_env
from .searches import LOG_FILE as SEARCH_LOG


def run_backend(run):
    """The Keras backend a run trains with: its config's `backend`, or the lab's default."""
    backend = (run.record.get("config") or {}).get("backend") or "auto"
    return settings.train_backend() if backend == "auto" else backend


class LocalExecutor:
    kind = "local"

    def __init__(self, *, standby=False, data_dir=None):
        self._processes = {}  # run id → Popen, for runs this executor started
        # A worker that has imported TensorFlow and waits for a run folder on its stdin: a run
        # handed to it skips Python's and TensorFlow's start (~6 s on 2 cores), the wait a user
        # sees between Start and the first curve points. Kept while nothing of ours trains.
        self._keep_standby = standby
        self._standby = None
        self._standby_backend = None
        self._busy_gpus = []  # the GPU of every running run, as the last sync found them
        self._standby_arguments = ["worker", "--standby"] + (["--data-dir", str(data_dir)] if data_dir else [])

    def default_max_concurrent(self):
        return default_max_concurrent()

    def prepare(self):
        """Nothing to check: this machine is always there."""

    def launch(self, run):
        try:
            backend = run_backend(run)
            gpu = pick_gpu(self._busy_gpus)
            process = (self._hand_to_standby(run, backend, gpu)
                       or spawn(["worker", str(run.path.resolve())], run.file(WORKER_LOG), process_env(gpu, backend)))
        except (OSError, ValueError) as error:  # ValueError: a bad CIFAR_TF_BACKEND or CIFAR_TF_RUNS_PER_GPU
            run.finish("failed", error=f"could not start the training process: {error}")
            return
        self._processes[run.id] = process
        self._busy_gpus.append(gpu)
        # Marked running with the worker's pid at once, so no other manager starts it too.
        run.start(pid=process.pid, phase=f"starting Python and {backend}",
                  executor={"kind": self.kind, "node": socket.gethostname()},
                  placement={"gpu": gpu, "backend": backend})

    def launch_search(self, search):
        """Start a queued search as `python -m cifar_tf search-worker FOLDER`: its trials train in
        that process (and in the workers it starts itself when it trains several at once)."""
        try:
            gpu = pick_gpu(self._busy_gpus)
            process = spawn(["search-worker", str(search.path.resolve())], search.path / SEARCH_LOG,
                            process_env(gpu, settings.train_backend()))
        except (OSError, ValueError) as error:
            search.finish("failed", error=f"could not start the search process: {error}")
            return
        self._processes[search.id] = process
        self._busy_gpus.append(gpu)
        # Marked running with the process id at once, so that no other manager starts it too, and
        # with a fresh heartbeat, so that it is not taken for dead before its process beats.
        search.update(status="running", pid=process.pid, host=socket.gethostname(), error=None)
        search.beat()

    def _waiting_standby(self):
        """The standby worker, if it is still there."""
        return self._standby if self._standby is not None and self._standby.poll() is None else None

    def _hand_to_standby(self, run, backend, gpu):
        """The standby worker, now training `run`; None when there is none ready to take it (it
        waits on the CPU with the default backend, so a run for a GPU or another backend starts
        its own process)."""
        if gpu is not None or backend != self._standby_backend:
            return None
        standby, self._standby = self._waiting_standby(), None
        if standby is None:
            return None
        try:
            standby.stdin.write(f"{run.path.resolve()}\n".encode())
            standby.stdin.close()
        except OSError:
            standby.kill()
            return None
        return standby

    def sync(self, runs):
        """Reap the workers that ended (their runs wrote their own ending); keep a standby worker."""
        for run_id, process in list(self._processes.items()):
            if process.poll() is not None:
                del self._processes[run_id]
        self._busy_gpus = [gpu_of(run) for run in runs if run.status == "running" and gpu_of(run) is not None]
        # A standby worker only where runs train on the CPU: on a GPU machine a run's process must
        # be pinned to its GPU before its backend starts, which a waiting process cannot be.
        if self._keep_standby and not gpus_for_runs() and not self._processes and self._waiting_standby() is None:
            try:
                self._standby_backend = settings.train_backend()
                self._standby = spawn(self._standby_arguments, os.devnull,
                                      process_env(None, self._standby_backend), stdin=subprocess.PIPE)
            except (OSError, ValueError):
                self._standby = None

    def signal(self, run, signum):
        """Send `signum` to the run's worker, whichever manager started it, if it runs here."""
        process = self._processes.get(run.id)
        if process is not None:
            if process.poll() is None:
                process.send_signal(signum)
            return
        pid = run.record.get("pid")
        if on_this_host(run) and isinstance(pid, int) and pid > 0 and is_worker_of(pid, run):
            try:
                os.kill(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    def cancel(self, run):
        """A queued run that was stopped: no process was started for it."""


def spawn(arguments, log_path, env=None, *, die_with_parent=False, stdin=subprocess.DEVNULL):
    """Start `python -m cifar_tf ARGUMENTS...` in its own session, its output appended to `log_path`.

    `die_with_parent` ends it when the process that started it dies, even of SIGKILL (Linux), for a
    worker that must not outlive the Ray actor that reports on it."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cifar_tf", *arguments],
            stdout=log, stderr=subprocess.STDOUT, stdin=stdin,
            cwd=str(settings.PROJECT_DIR),
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", **(env or {})},
            preexec_fn=_kill_me_with_parent if die_with_parent else None,
            start_new_session=True)  # it outlives a closed tab and a restarted server


def _kill_me_with_parent():
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the actor's own cleanup has to do
