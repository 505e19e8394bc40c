"""What a Ray node does for one run, and for the dataset every run needs: the cluster side of
`ray_cluster`.

A node needs only the lab's requirements and `ray start --address HEAD:PORT`: the code comes with
the job (Ray's `py_modules`), and the dataset either from the node's own cache (when it holds the
same files) or, once per node, from Ray's object store, where `DatasetHolder` keeps one copy for
the whole cluster. `RunOnNode` trains the run exactly as on one machine, `python -m cifar_tf
worker FOLDER`, in a folder of its own on the node, and answers the app's questions: what the
worker appended to its histories since the given offsets, the run's record, whether it ended,
and at the end its model and evaluation files. The worker dies with the actor (even of SIGKILL),
so a run whose actor is gone cannot train on unseen.
"""
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path

from .. import settings
from ..data.cifar10 import DATASET_FOLDER, REQUIRED_FILES, find_dataset
from . import store
from .local import WORKER_LOG, spawn

NAMESPACE = "cifar_tf"           # the Ray namespace of every named actor of the lab
HISTORY_FILES = (store.STEPS_FILE, store.EPOCHS_FILE)
RESULT_FILES = (store.MODEL_FILE, store.EVALUATION_FILE, store.PROBABILITIES_FILE)
MAX_CHUNK_BYTES = 4 << 20        # per history and answer; the rest comes with the next one
LOG_TAIL_BYTES = 256 << 10       # of worker.log, sent back when the run ends


# --- the dataset ----------------------------------------------------------------------------

def dataset_fingerprint(folder):
    """A hash of the seven dataset files: the same fingerprint means the same images."""
    digest = hashlib.sha256()
    for name in REQUIRED_FILES:
        digest.update(name.encode() + b"\0")
        with open(Path(folder) / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:20]


def read_dataset(folder):
    return {name: (Path(folder) / name).read_bytes() for name in REQUIRED_FILES}


def holder_name(fingerprint):
    return f"dataset-{fingerprint}"


class DatasetHolder:
    """Keeps a dataset in the cluster's object store, as the owner of its object, for as long as
    the cluster lives: runs queued by a command that has since exited still find it."""

    def __init__(self):
        self.refs = None

    def keep(self, files):
        import ray

        self.refs = [ray.put(files)]  # in a list, so that Ray hands out the reference, not the bytes

    def get(self):
        return self.refs


def node_dataset(fingerprint):
    """A folder on this node with the app's dataset: the node's own copy if it holds the same
    files, else the copy brought from the object store, cached for the node's later runs."""
    cached = settings.cache_dir() / "ray-datasets" / fingerprint / DATASET_FOLDER
    if all((cached / name).is_file() for name in REQUIRED_FILES):
        return cached
    try:
        own = find_dataset()
        if dataset_fingerprint(own) == fingerprint:
            return own
    except (OSError, ValueError):
        pass  # none here, or not the same images
    import ray

    refs = ray.get(ray.get_actor(holder_name(fingerprint), namespace=NAMESPACE).get.remote())
    if not refs:
        raise FileNotFoundError("the app's copy of CIFAR-10 is no longer in the Ray cluster; start the run again")
    files = ray.get(refs[0])
    # Written beside its place and moved there whole, so a run never sees half a dataset.
    partial = cached.parent / f".partial-{secrets.token_hex(4)}"
    partial.mkdir(parents=True)
    for name, data in files.items():
        (partial / name).write_bytes(data)
    try:
        os.replace(partial, cached)
    except OSError:  # another run on this node got there first
        shutil.rmtree(partial, ignore_errors=True)
    return cached


# --- one run --------------------------------------------------------------------------------

def node_runs_dir():
    """Where this node keeps the runs it trains, until the app has their files."""
    return Path(tempfile.gettempdir()) / "cifar_tf-ray"


def node_folder(run_id):
    return node_runs_dir() / store.check_run_id(run_id)


def actor_name(run_id):
    return f"run-{run_id}"


def sweep_node_folders(ray):
    """Remove what runs whose actors died unannounced (killed, a crash) left on this node."""
    for folder in node_runs_dir().glob("*"):
        try:
            ray.get_actor(actor_name(folder.name), namespace=NAMESPACE)
        except ValueError:
            shutil.rmtree(folder, ignore_errors=True)


class RunOnNode:
    """One run on the node Ray chose: created with the run's record, it starts the worker at once."""

    def __init__(self, record, fingerprint, env):
        import ray

        self.where = {"node": ray.get_runtime_context().get_node_id(),
                      "address": ray.util.get_node_ip_address(), "host": socket.gethostname()}
        self.folder = node_folder(record["id"])
        self.process, self.error = None, None
        try:
            sweep_node_folders(ray)
            data_dir = node_dataset(fingerprint)
            shutil.rmtree(self.folder, ignore_errors=True)  # left by an earlier attempt
            self.folder.mkdir(parents=True)
            # Marked as Ray's: no manager on this node (a worker handing on its slot) judges or starts it.
            store.Run(self.folder, {**record, "status": "queued", "pid": None, "executor": {"kind": "ray"},
                                    "tags": {**(record.get("tags") or {}), "data_dir": str(data_dir)}}).save()
            self._start_worker(env)
        except Exception as error:  # noqa: BLE001 - reported to the app, which records the run failed
            self.error = f"could not start on {self.where['host']}: {type(error).__name__}: {error}"

    def _start_worker(self, env):
        """Started from a thread that lives as long as the worker: Linux ends a `die_with_parent`
        child when the thread that started it ends, not only when the whole process does."""
        started, failure = threading.Event(), []

        def keep():
            try:
                self.process = spawn(["worker", str(self.folder)], self.folder / WORKER_LOG, env,
                                     die_with_parent=True)
            except OSError as error:
                failure.append(error)
                return
            finally:
                started.set()
            self.process.wait()

        threading.Thread(target=keep, daemon=True, name="worker").start()
        started.wait()
        if failure:
            raise failure[0]

    def read(self, offsets):
        """What the worker wrote since `offsets` (bytes per history file, whole lines only), its
        record, and its exit status once it ended."""
        answer = {"where": self.where, "error": self.error, "returncode": None, "record": None,
                  "appended": {}, "more": False}
        if self.error:
            return answer
        answer["returncode"] = self.process.poll()  # before reading: an ended worker wrote everything
        try:
            answer["record"] = json.loads((self.folder / store.RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        for name in HISTORY_FILES:
            chunk = _read_from(self.folder / name, offsets.get(name, 0))
            if len(chunk) > MAX_CHUNK_BYTES:
                chunk, answer["more"] = chunk[:chunk.rfind(b"\n", 0, MAX_CHUNK_BYTES) + 1], True
            answer["appended"][name] = chunk
        return answer

    def results(self):
        """The files a finished run leaves, and the end of the worker's log."""
        files = {name: (self.folder / name).read_bytes() for name in RESULT_FILES
                 if (self.folder / name).is_file()}
        log = _read_from(self.folder / WORKER_LOG, 0, whole_lines=False)
        files[WORKER_LOG] = log[-LOG_TAIL_BYTES:]
        return files

    def stop(self):
        if self.process is not None:
            (self.folder / store.STOP_FILE).touch()

    def signal(self, signum):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.Signals(signum))

    def close(self):
        """The app has everything: remove the node's copy (the app then ends this actor)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def _read_from(path, offset, whole_lines=True):
    """The bytes of `path` from `offset` on (up to the last newline, so no torn line is sent)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return b""
    return data[:data.rfind(b"\n") + 1] if whole_lines else data

