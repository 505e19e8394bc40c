"""Runs as tasks on a Ray cluster (`$CIFAR_TF_RAY_ADDRESS`, `--ray HOST:PORT`): the app's side.

Each run becomes a detached Ray actor (`ray_node.RunOnNode`) asking for one GPU where the cluster
has GPUs, else `$CIFAR_TF_RAY_CPUS` CPUs (2): Ray decides where and when it starts, and until
then the run is `queued`. Nothing is shared but the cluster: the code travels with the job, the
dataset goes into the object store once, and on every poll the manager asks each run's actor
what its worker appended to `steps.jsonl` and `epochs.jsonl` since the sizes of the copies here,
so the run folder on this machine fills while the run trains and every page reads it as usual.
At the end the model and evaluation files come back, then the actor is ended.

The actors are detached, so a run outlives the app (or the `submit` command) that started it,
and any manager connected to the cluster carries on collecting it. Whether a run lives is Ray's
to say: an actor that died (its worker killed, its node switched off) fails its run with the
reason, and so does one that has not answered for SILENT_LIMIT_S.

Ray keeps a run that no node of the cluster can hold queued for ever, without a word (two 1-CPU
nodes, runs asking for 2 CPUs): `why_no_node_fits` says so, at submit (refused) and, for a run
already queued when the nodes changed, in its record (`executor.waiting_reason`).
"""
import functools
import logging
import signal
import socket
import threading
import time
from pathlib import Path

from .. import settings
from ..validation import check_address
from ..data.cifar10 import REQUIRED_FILES, find_dataset
from . import store
from .files import atomic_write_bytes, now
from .liveness import executor_kind
from .ray_resources import (DEFAULT_CPUS_PER_RUN, NoNodeFits, alive_nodes, amount_text, is_needs,  # noqa: F401
                            cpus_per_run, run_needs, why_no_node_fits)
from .ray_node import (HISTORY_FILES, NAMESPACE, DatasetHolder, RunOnNode, actor_name, dataset_fingerprint,
                       holder_name, read_dataset)

UNLIMITED_RUNS = 1000      # the manager hands every queued run over; the cluster queues what it cannot fit
PROBE_TIMEOUT_S = 5        # a cluster that does not accept a connection in this time is unreachable
CONNECT_TIMEOUT_S = 30     # ray.init itself waits for ever on an address that is open but not Ray
RETRY_AFTER_S = 10         # a background poll does not retry a failed connection sooner
READ_WAIT_S = 0.5          # how long one poll waits for the nodes' answers
SILENT_LIMIT_S = 45        # a started run whose node has not answered for this long has failed
NODES_EVERY_S = 10         # how often a poll asks the cluster for its nodes, for runs still waiting
RESULTS_TIMEOUT_S = 120    # to bring back a finished run's model
PACKAGE_DIR = Path(__file__).resolve().parents[1]
# The app's fields of a record, not the node's: a rename here while the run trains is kept.
RECORD_FIELDS_KEPT_HERE = ("id", "name", "tags", "created_at", "created_ns", "updated_at", "host")


class RayUnavailable(RuntimeError):
    """The Ray cluster cannot be used now: not installed, not reachable, not answering."""


def node_label(executor):
    """`10.0.0.7 (pc-12)`: where a Ray run trains, as people recognise it."""
    address, host = executor.get("address"), executor.get("host")
    return f"{address} ({host})" if host and host != address else str(address or "an unknown node")


# --- one connection per process ---------------------------------------------------------------

_connection = {"address": None, "thread": None, "failure": (None, 0.0, "")}  # failure: address, when, why
_connection_lock = threading.Lock()


def connect(address, *, quiet=False):
    """The `ray` module, connected to the cluster at `address`, or RayUnavailable saying why.

    `quiet` (the background poll) does not try again within RETRY_AFTER_S of a failure."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable("Ray is not installed here: `pip install -r requirements-ray.txt`, or unset "
                             "CIFAR_TF_RAY_ADDRESS to train on this machine") from None
    with _connection_lock:
        if ray.is_initialized():
            if _connection["address"] != address:
                raise RayUnavailable(f"this process is already connected to the Ray cluster at "
                                     f"{_connection['address']}, not {address}")
            return ray
        failed, when, why = _connection["failure"]
        if quiet and failed == address and time.time() - when < RETRY_AFTER_S:
            raise RayUnavailable(why)
        try:
            _open(ray, address)
        except RayUnavailable as error:
            _connection["failure"] = (address, time.time(), str(error))
            raise
        return ray


def _open(ray, address):
    host, port = check_address("CIFAR_TF_RAY_ADDRESS", address)
    advice = f"Is `ray start --head --port {port}` running there? Unset CIFAR_TF_RAY_ADDRESS to train on this machine."
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as error:
        raise RayUnavailable(f"cannot reach the Ray cluster at {address}: "
                             f"{error.strerror or error or 'no answer'}. {advice}") from None
    if _connection["thread"] is not None and _connection["thread"].is_alive():
        raise RayUnavailable(f"still waiting for the Ray cluster at {address} to answer. {advice}")
    outcome = {}

    def init():
        try:
            ray.init(address=f"{host}:{port}", namespace=NAMESPACE, logging_level=logging.ERROR,
                     log_to_driver=False,
                     # The lab's code goes with the job: a node needs only the requirements.
                     runtime_env={"py_modules": [str(PACKAGE_DIR)], "excludes": ["__pycache__", "*.pyc"]})
            _connection["address"] = address  # also when it answers only after we stopped waiting
        except Exception as error:  # noqa: BLE001 - reported below, with the address
            outcome["error"] = error

    thread = _connection["thread"] = threading.Thread(target=init, daemon=True, name="ray-connect")
    thread.start()
    thread.join(CONNECT_TIMEOUT_S)
    if thread.is_alive():
        raise RayUnavailable(f"the Ray cluster at {address} did not answer within {CONNECT_TIMEOUT_S} s. {advice}")
    if "error" in outcome:
        raise RayUnavailable(f"cannot connect to the Ray cluster at {address}: {outcome['error']}")


# --- the executor -------------------------------------------------------------------------------

class RayExecutor:
    kind = "ray"

    def __init__(self, address):
        self.address = address
        self._actors = {}     # run id → actor handle
        self._reads = {}      # run id → (answer ref, offsets it was asked from)
        self._heard = {}      # run id → when its node last answered
        self._datasets = {}   # dataset folder → (its files' sizes and times, fingerprint)
        self._nodes = (0.0, None)  # when the cluster last listed its nodes, and their resources

    def default_max_concurrent(self):
        return settings.max_runs() or UNLIMITED_RUNS

    def prepare(self):
        """Raise before a run is queued if the cluster cannot take it: unreachable, or without a
        node that could ever hold what a run asks for (Ray would keep the run queued for ever)."""
        cpus_per_run()
        ray = connect(self.address)
        problem = why_no_node_fits(alive_nodes(ray), run_needs(ray.cluster_resources()), self.address)
        if problem:
            raise NoNodeFits(problem)

    def launch(self, run):
        """Hand a queued run to the cluster; it stays queued until Ray starts it on a node."""
        try:
            ray = connect(self.address, quiet=True)
            fingerprint = self._share_dataset(ray, (run.record.get("tags") or {}).get("data_dir"))
        except RayUnavailable:
            return  # still queued: the next poll tries again
        except (OSError, ValueError) as error:  # no usable dataset on this machine
            run.finish("failed", error=str(error))
            return
        needs = run_needs(ray.cluster_resources())
        if "GPU" in needs:
            resources, asks, env = {"num_gpus": needs["GPU"], "num_cpus": needs["CPU"]}, "1 GPU", {}
        else:
            cpus = needs["CPU"]
            resources, asks, env = {"num_cpus": cpus}, amount_text(cpus, "CPU"), {"TF_NUM_INTRAOP_THREADS": str(cpus)}
        self._actors[run.id] = _remote(ray, RunOnNode).options(
            name=actor_name(run.id), namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
            max_restarts=0, max_task_retries=0, max_concurrency=4, **resources,
        ).remote(run.record, fingerprint, env)
        run.update(executor={"kind": self.kind, "node": None, "address": None, "host": None, "asks": asks,
                             "needs": needs, "cluster": _cluster_address(ray)})

    def _share_dataset(self, ray, data_dir):
        """The fingerprint of this machine's dataset, put into the cluster once (per fingerprint)."""
        folder = find_dataset(data_dir)
        stamp = tuple((name, (folder / name).stat().st_size, (folder / name).stat().st_mtime_ns)
                      for name in REQUIRED_FILES)
        known = self._datasets.get(str(folder))
        fingerprint = known[1] if known and known[0] == stamp else dataset_fingerprint(folder)
        self._datasets[str(folder)] = (stamp, fingerprint)
        holder = _remote(ray, DatasetHolder).options(
            name=holder_name(fingerprint), namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
            num_cpus=0, scheduling_strategy=_this_node(ray)).remote()
        if not ray.get(holder.get.remote()):
            ray.get(holder.keep.remote(read_dataset(folder)))
        return fingerprint

    def sync(self, runs):
        """Bring this folder's Ray runs up to date with what their nodes say."""
        mine = [run for run in runs if executor_kind(run) == "ray" and not run.record["executor"].get("released")]
        if not mine:
            return
        try:
            ray = connect(self.address, quiet=True)
        except RayUnavailable:
            return  # their records wait on the nodes until the cluster is back
        here = _cluster_address(ray)
        mine = [run for run in mine if run.record["executor"].get("cluster") in (here, self.address)]  # not another's
        active = []
        for run in mine:
            if run.is_active() and self._ask(ray, run):
                active.append(run)
            elif not run.is_active():
                self._release(ray, run)  # ended here: stopped while queued, or failed
        refs = [self._reads[run.id][0] for run in active]
        ready = set(ray.wait(refs, num_returns=len(refs), timeout=READ_WAIT_S)[0]) if refs else set()
        for run in active:
            ref, offsets = self._reads[run.id]
            if ref in ready:
                del self._reads[run.id]
                self._take(ray, run, ref, offsets)
            elif run.id in self._heard and time.time() - self._heard[run.id] > SILENT_LIMIT_S:
                self._fail(ray, run, f"its Ray node {node_label(run.record['executor'])} has not answered for "
                                     f"{SILENT_LIMIT_S} s (switched off, or cut from the network)")
        self._note_waiting(ray, [run for run in mine if run.status == "queued"])

    def _note_waiting(self, ray, runs):
        """Write in each waiting run's record whether a node of the cluster could ever start it
        (`executor.waiting_reason`, None when one could): nodes leave after a run was queued, and
        Ray keeps a run no node can hold queued without a word."""
        waiting = [run for run in runs if not run.record["executor"].get("address")
                   and is_needs(run.record["executor"].get("needs"))]  # older records lack needs
        nodes = self._alive_nodes(ray) if waiting else None
        if nodes is None:
            return
        for run in waiting:
            problem = why_no_node_fits(nodes, run.record["executor"]["needs"], self.address)
            reason = (f"{problem}. It starts when a node that can hold it joins; otherwise stop it and "
                      f"start it again after the change") if problem else None
            if reason != run.record["executor"].get("waiting_reason"):
                run.update(executor={**run.record["executor"], "waiting_reason": reason})

    def _alive_nodes(self, ray):
        """`alive_nodes`, asked at most every NODES_EVERY_S; None while the cluster does not say."""
        when, nodes = self._nodes
        if nodes is None or time.time() - when > NODES_EVERY_S:
            try:
                nodes = alive_nodes(ray)
            except Exception:  # noqa: BLE001 - the cluster's state service is busy or gone: next poll
                return None
            self._nodes = (time.time(), nodes)
        return nodes

    def _ask(self, ray, run):
        """Ask the run's actor for news, unless a question is still on its way; False if it is gone."""
        if run.id in self._reads:
            return True
        actor = self._actor(ray, run)
        if actor is None:
            self._fail(ray, run, "the Ray cluster no longer has it: its node was switched off, or the "
                                 "cluster restarted, while no app was collecting it")
            return False
        if run.status == "running":
            self._heard.setdefault(run.id, time.time())  # a started run must keep answering
        offsets = {name: _size(run.file(name)) for name in HISTORY_FILES}
        self._reads[run.id] = (actor.read.remote(offsets), offsets)
        return True

    def _take(self, ray, run, ref, offsets):
        """Write down one answer: new history lines, the record, and the run's end if it came."""
        try:
            answer = ray.get(ref)
        except ray.exceptions.ActorUnavailableError:
            return  # unreachable for now: asked again next time, and silent too long it has failed
        except ray.exceptions.RayActorError as error:
            return self._fail(ray, run, _death_reason(error, run.record["executor"]))
        except ray.exceptions.RayError as error:
            return self._fail(ray, run, f"the Ray cluster could not reach it: {_first_line(error)}")
        self._heard[run.id] = time.time()
        executor = {**run.record["executor"], **answer["where"]}
        executor.pop("waiting_reason", None)  # it started: a node could hold it after all
        if answer["error"]:
            run.update(executor=executor)
            return self._fail(ray, run, answer["error"])
        complete = not answer["more"]
        for name, chunk in answer["appended"].items():
            if _size(run.file(name)) != offsets[name]:
                complete = False  # another manager wrote here meanwhile: ask again from its size
            elif chunk:
                with open(run.file(name), "ab") as f:
                    f.write(chunk)
        record = {**run.record, **{key: value for key, value in (answer["record"] or {}).items()
                                   if key not in RECORD_FIELDS_KEPT_HERE}, "pid": None, "executor": executor}
        if answer["returncode"] is not None and complete:
            return self._finish(ray, run, record, answer["returncode"])
        if record.get("status") not in store.ACTIVE_STATUSES:
            record["status"] = "running"  # ended on the node, but ends here only with its files
        if record != run.record:
            run.record = record
            run.save()
        if run.status == "running" and run.stop_requested():
            self._actors[run.id].stop.remote()  # Stop, from any page or manager, reaches the node

    def _finish(self, ray, run, record, returncode):
        """The worker ended: bring its files back, then its record, so no page sees one without the other."""
        try:
            files = ray.get(self._actors[run.id].results.remote(), timeout=RESULTS_TIMEOUT_S)
        except ray.exceptions.RayError as error:
            return self._fail(ray, run, f"its results could not be brought back from the Ray node: {_first_line(error)}")
        for name, data in files.items():
            atomic_write_bytes(run.file(name), data)
        run.record = record
        if record.get("status") in store.ACTIVE_STATUSES:  # it never wrote its end: killed or crashed
            how = f"killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exit status {returncode}"
            record.update(status="failed", finished_at=now(),
                          error=f"the training process on {node_label(record['executor'])} ended "
                                f"without finishing ({how})")
        run.save()
        (run.path / store.STOP_FILE).unlink(missing_ok=True)
        self._release(ray, run)

    def _fail(self, ray, run, reason):
        run.finish("failed", error=reason)
        self._release(ray, run)

    def _release(self, ray, run):
        """End the run's actor (its worker with it) and forget it; the run's record is final."""
        self._reads.pop(run.id, None)
        self._heard.pop(run.id, None)
        actor = self._actor(ray, run)
        if actor is not None:
            if run.record["executor"].get("address"):  # it started on a node (else close would wait for that)
                try:
                    ray.get(actor.close.remote(), timeout=10)  # it removes its folder on the node
                except ray.exceptions.RayError:
                    pass
            ray.kill(actor, no_restart=True)
        self._actors.pop(run.id, None)
        run.update(executor={**run.record["executor"], "released": True})

    def signal(self, run, signum):
        ray = _ray()
        actor = self._actor(ray, run) if ray else None
        if actor is not None:
            actor.signal.remote(int(signum))

    def cancel(self, run):
        """A queued run was stopped: the cluster must not start it after all."""
        ray = _ray()
        if ray is not None:
            self._release(ray, run)

    def _actor(self, ray, run):
        if run.id not in self._actors:
            try:
                self._actors[run.id] = ray.get_actor(actor_name(run.id), namespace=NAMESPACE)
            except ValueError:
                return None
        return self._actors[run.id]


def _ray():
    """The `ray` module if this process is connected to a cluster, else None."""
    try:
        import ray
    except ImportError:
        return None
    return ray if ray.is_initialized() else None


@functools.cache
def _remote(ray, cls):
    return ray.remote(cls)


def _cluster_address(ray):
    """The cluster's head as Ray itself names it, the same whichever address reached it."""
    return ray.get_runtime_context().gcs_address


def _this_node(ray):
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=True)


def _death_reason(error, executor):
    """Why Ray says the run's actor died, in the words of the person who runs the lab."""
    text, where = str(error), node_label(executor)
    if "its node has died" in text:
        return f"its Ray node {where} died or was switched off"
    if "worker process has died" in text:
        return f"its Ray worker on {where} died (killed, or out of memory)"
    return f"its Ray worker on {where} ended: {_first_line(error)}"


def _first_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(error).__name__


def _size(path):
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
