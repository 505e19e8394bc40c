"""Runs on a real two-node Ray cluster, through the command line a teacher uses.

The cluster (a head and one more node, 2 CPUs each) and every command that talks to it run in a
network namespace that has only `lo`: Ray would otherwise bind to the machine's outside address,
and no test may send traffic there. A PID namespace of its own holds them too, so that ending it
ends every Ray process it started, and `ray stop` inside sees no other. The cluster starts once,
for every test here (no other module uses it).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from cifar_tf.runs import store
from cifar_tf.runs.liveness import pid_alive
from helpers import ROOT, wait_for

PORT = 6379  # the namespace's own loopback: nothing else listens there
TINY = ["--arch", "simple_cnn", "--batch-size", "50", "--val-size", "100", "--log-every", "1"]
CLUSTER = """set -e
exec 3>&1 >"$ROOT/cluster.log" 2>&1
ip link set lo up
CIFAR_TF_CACHE="$ROOT/cache-head" timeout 120 ray start --head --node-ip-address 127.0.0.1 --port {port} \
    --num-cpus 2 --include-dashboard false --disable-usage-stats --object-store-memory 100000000 --temp-dir "$ROOT/ray"
CIFAR_TF_CACHE="$ROOT/cache-node2" timeout 120 ray start --address 127.0.0.1:{port} --node-ip-address 127.0.0.1 \
    --num-cpus 2 --object-store-memory 100000000
echo ready >&3
# The namespace's init from here on: it reaps the processes Ray leaves to it, so that none lingers.
exec python3 -c "import os, time
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.5)"
"""


class Cluster:
    """The namespace, its cluster, and commands run inside it (as the teacher's machine would)."""

    def __init__(self, root):
        self.root, self.address = root, f"127.0.0.1:{PORT}"
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "ROOT": str(root), "TMPDIR": str(root / "tmp"),
                    "KERAS_HOME": str(root / "keras"), "TF_CPP_MIN_LOG_LEVEL": "3", "CIFAR_TF_CACHE": str(root / "cache-app")}
        for name in ("CIFAR10_DIR", "CIFAR_TF_RAY_ADDRESS", "CIFAR_TF_RAY_CPUS", "CIFAR_TF_MAX_RUNS"):
            self.env.pop(name, None)
        (root / "tmp").mkdir()
        (root / "cluster.sh").write_text(CLUSTER.format(port=PORT))
        self.holder = subprocess.Popen(["unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child",
                                        "bash", str(root / "cluster.sh")], env=self.env, cwd=ROOT, text=True,
                                       stdout=subprocess.PIPE)
        if self.holder.stdout.readline().strip() != "ready":  # the script ended: it failed
            self.holder.wait(timeout=30)
            pytest.fail("the Ray cluster did not start: " + (root / "cluster.log").read_text()[-2000:])
        # The namespace's first process, seen from here: nsenter joins it, SIGKILL to it ends them all.
        self.init_pid = int(Path(f"/proc/{self.holder.pid}/task/{self.holder.pid}/children").read_text().split()[0])

    def command(self, *args):
        return ["nsenter", "-t", str(self.init_pid), "-n", "-p", "-m", f"--wd={ROOT}", "--", *map(str, args)]

    def cli(self, *args, env=None, timeout=300):
        return subprocess.run(self.command(sys.executable, "-m", "cifar_tf", *args), cwd=ROOT,
                              env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=timeout)

    def background(self, *args):
        return subprocess.Popen(self.command(sys.executable, "-m", "cifar_tf", *args), cwd=ROOT, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def submit(self, runs, data, epochs):
        """Queue a run per name in `epochs` (name → epochs), all at once as students press Start;
        their ids."""
        commands = [self.background("submit", "--ray", self.address, "--runs-dir", runs, "--data-dir", data,
                                    *TINY, "--name", name, "--epochs", count) for name, count in epochs.items()]
        ids = []
        for command in commands:
            out, err = command.communicate(timeout=300)
            assert command.returncode == 0, err[-3000:]
            ids.append(out.split()[0])
        return ids

    def close(self):
        subprocess.run(self.command("ray", "stop", "--force", "--grace-period", "5"), env=self.env,
                       capture_output=True, timeout=60)
        os.kill(self.init_pid, signal.SIGKILL)
        self.holder.wait(timeout=30)


@pytest.fixture(scope="module")
def ray_cluster():
    pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter") and shutil.which("ip")):
        pytest.skip("confining Ray to loopback needs root, unshare, nsenter and ip")
    if subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "true"], capture_output=True).returncode:
        pytest.skip("confining Ray to loopback needs network and PID namespaces (unshare -n -p), not allowed here")
    root = Path(tempfile.mkdtemp(prefix="cifar-ray-"))  # short: Ray's socket paths must stay under 108 characters
    cluster = Cluster(root)
    try:
        yield cluster
    finally:
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)


def run_of(run_id, runs):
    return store.load_run(run_id, runs)


def worker_pids(run_id):
    """The training processes of a run (`python -m cifar_tf worker NODE_FOLDER`), seen from here."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            arguments = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker" in arguments and any(run_id.encode() in argument for argument in arguments):
            found.append(int(proc.name))
    return [pid for pid in found if pid_alive(pid)]


@pytest.mark.slow
def test_a_class_on_two_nodes(ray_cluster, cifar_dir, tmp_path):
    """Two runs train at once, one per node, their records arriving while they train; two more
    wait on the cluster and take the places that free up; a killed worker, a stopped run and a
    killed Ray worker each end as they should, and a completed run comes back whole."""
    runs = tmp_path / "runs"
    killed, stopped = ray_cluster.submit(runs, cifar_dir, {"killed": 200, "stopped": 200})
    collector = ray_cluster.background("runs", "wait", "--all", "--runs-dir", runs)  # the cluster the runs name

    def training(*ids):
        return all(run_of(run_id, runs).status == "running" and run_of(run_id, runs).steps() for run_id in ids)

    assert wait_for(lambda: training(killed, stopped), timeout=180, every=0.2)
    both = [run_of(run_id, runs) for run_id in (killed, stopped)]
    nodes = {run.record["executor"]["node"] for run in both}
    assert len(nodes) == 2                                            # at once, one on each node
    assert all(len(run.steps()) < run.record["total_steps"] for run in both)  # part-way: records stream

    completes, dies = ray_cluster.submit(runs, cifar_dir, {"completes": 3, "dies": 200})
    # A second manager collecting from the same folder, as a command beside the app would.
    second = ray_cluster.background("runs", "wait", completes, dies, "--runs-dir", runs)
    for run_id in (completes, dies):                                  # no free node: Ray keeps them waiting
        assert run_of(run_id, runs).status == "queued"
        assert run_of(run_id, runs).record["executor"]["asks"] == "2 CPUs"

    [worker] = worker_pids(killed)                # the training process, on its node
    os.kill(worker, signal.SIGKILL)
    killed_at = time.time()
    run_of(stopped, runs).request_stop()          # what the Stop button writes
    assert wait_for(lambda: run_of(killed, runs).status == "failed", timeout=60, every=0.5)
    assert time.time() - killed_at < 60
    assert "ended without finishing (killed by SIGKILL)" in run_of(killed, runs).record["error"]
    assert wait_for(lambda: run_of(stopped, runs).status == "stopped", timeout=120, every=0.5)
    stopped_run = run_of(stopped, runs)
    assert stopped_run.model_path.is_file() and stopped_run.evaluation()["count"] == 100
    assert [step["step"] for step in stopped_run.steps()] == list(range(1, len(stopped_run.steps()) + 1))

    # A Ray worker killed (as when its node goes): the run fails, its training process goes too.
    assert wait_for(lambda: training(dies), timeout=180, every=0.2)
    [worker] = worker_pids(dies)
    os.kill(parent_pid(worker), signal.SIGKILL)
    assert wait_for(lambda: run_of(dies, runs).status == "failed", timeout=60, every=0.5)
    assert "Ray worker" in run_of(dies, runs).record["error"], run_of(dies, runs).record["error"]
    assert wait_for(lambda: not pid_alive(worker), timeout=10)

    out = ""
    for command in (collector, second):
        more, err = command.communicate(timeout=180)
        assert command.returncode == 1, err[-3000:]                   # not all of them completed
        out += more
    for run_id, ending in ((killed, "failed"), (stopped, "stopped"), (completes, "completed"), (dies, "failed")):
        assert f"{run_id} running on Ray node 127.0.0.1" in out and f"{run_id} {ending}" in out, out
    done = run_of(completes, runs)
    assert done.record["executor"]["node"] in nodes and done.record["executor"]["kind"] == "ray"
    assert [step["step"] for step in done.steps()] == list(range(1, done.record["total_steps"] + 1))
    assert len(done.epochs()) == 3
    assert done.model_path.is_file() and done.record["metrics"]["test_accuracy"] is not None
    assert ray_cluster.cli("runs", "wait", completes, "--runs-dir", runs).returncode == 0
    # The dataset reached each node through Ray, once, into its own cache; a node keeps no run
    # that ended while its actor lived (the next run on the node sweeps what a killed one left).
    for cache in ("cache-head", "cache-node2"):
        assert len(list((ray_cluster.root / cache / "ray-datasets").glob("*/cifar-10-batches-py/test_batch"))) == 1
    assert {path.name for path in (ray_cluster.root / "tmp" / "cifar_tf-ray").iterdir()} <= {dies}


@pytest.mark.slow
def test_an_unreachable_cluster_is_refused_before_anything_is_made(ray_cluster, cifar_dir, tmp_path):
    runs = tmp_path / "runs"
    for flags, env in ((["--ray", "127.0.0.1:6390"], {}), ([], {"CIFAR_TF_RAY_ADDRESS": "127.0.0.1:6390"})):
        done = ray_cluster.cli("submit", *flags, "--runs-dir", runs, "--data-dir", cifar_dir, *TINY, env=env)
        assert done.returncode == 1, done.stderr
        assert one_error(done.stderr).startswith("error: cannot reach the Ray cluster at 127.0.0.1:6390: ")
        assert not runs.exists()
    done = ray_cluster.cli("submit", "--ray", "teacher", "--runs-dir", runs, "--data-dir", cifar_dir, *TINY)
    assert done.returncode == 2
    assert one_error(done.stderr).startswith("error: --ray: 'teacher' is not valid: expected HOST:PORT")
    assert not runs.exists()


@pytest.mark.slow
def test_a_run_no_node_of_the_real_cluster_can_hold_is_refused(ray_cluster, cifar_dir, tmp_path):
    """Ray's own node list, read as the lab reads it: two 2-CPU nodes cannot hold a 3-CPU run."""
    runs = tmp_path / "runs"
    done = ray_cluster.cli("submit", "--ray", ray_cluster.address, "--runs-dir", runs, "--data-dir", cifar_dir,
                           *TINY, env={"CIFAR_TF_RAY_CPUS": "3"})
    assert done.returncode == 1, done.stderr
    assert "the largest of its 2 nodes has 2 CPUs. Set CIFAR_TF_RAY_CPUS=2 where" in one_error(done.stderr)
    assert not runs.exists()


@pytest.mark.parametrize("address, cpus, refusal", [
    ("teacher", None, "CIFAR_TF_RAY_ADDRESS='teacher' is not valid: expected HOST:PORT"),
    ("127.0.0.1:1", "none", "CIFAR_TF_RAY_CPUS='none' is not valid: expected an integer from 1"),
    ("127.0.0.1:1", None, "cannot reach the Ray cluster at 127.0.0.1:1"),   # nothing listens on port 1
])
def test_a_cluster_that_cannot_take_runs_is_refused_before_one_is_made(runs_dir, monkeypatch, address, cpus, refusal):
    """A bad setting is refused as the manager starts (settings.check_environment), an unreachable
    cluster when a run is submitted; either way no run folder is made."""
    from cifar_tf import settings
    from cifar_tf.runs.manager import RunManager
    from cifar_tf.training.config import TrainConfig

    pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")
    if cpus:
        monkeypatch.setenv("CIFAR_TF_RAY_CPUS", cpus)
    monkeypatch.setenv("CIFAR_TF_RAY_ADDRESS", address)
    with pytest.raises((ValueError, RuntimeError), match=refusal.replace("(", r"\(").replace(".", r"\.")):
        settings.check_environment()
        manager = RunManager(runs_dir)
        assert manager.launcher.kind == "ray"
        manager.submit(TrainConfig(arch="simple_cnn", epochs=1))
    assert not list(runs_dir.iterdir())


def one_error(stderr):
    """The one `error:` line a refused command prints, last, with no traceback (TensorFlow may
    have said something before it)."""
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and stderr.strip().endswith(errors[0]) and "Traceback" not in stderr, stderr
    return errors[0]


def parent_pid(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


# --- a run no node can hold (Ray would keep it queued for ever, without a word) -----------------

class FakeRay:
    """What the executor asks of `ray` about the cluster's nodes, with nodes given here."""

    def __init__(self, *nodes, dead=()):
        self.listed = [{"Alive": True, "Resources": node} for node in nodes]
        self.listed += [{"Alive": False, "Resources": node} for node in dead]

    def nodes(self):
        return self.listed

    def cluster_resources(self):
        alive = [node["Resources"] for node in self.listed if node["Alive"]]
        return {name: sum(node.get(name, 0) for node in alive) for name in ("CPU", "GPU")}


@pytest.mark.parametrize("nodes, needs, says", [
    ([{"CPU": 1.0}, {"CPU": 1.0}], {"CPU": 2},
     ("no node of the Ray cluster has the 2 CPUs a run asks for (CIFAR_TF_RAY_CPUS, 2 when unset): the largest "
      "of its 2 nodes has 1 CPU. Set CIFAR_TF_RAY_CPUS=1 where the app runs, or add a node with at least 2 CPUs "
      "(`ray start --address 10.0.0.1:6379 --num-cpus 2`)")),
    ([{"CPU": 3.5}], {"CPU": 4}, "its only node has 3.5 CPUs. Set CIFAR_TF_RAY_CPUS=3 where"),
    ([{"CPU": 0.0}], {"CPU": 2}, "its only node has 0 CPUs. Add a node with at least 2 CPUs"),
    ([{"CPU": 8.0}, {"CPU": 0.0, "GPU": 1.0}], {"GPU": 1, "CPU": 1},
     ("no node of the Ray cluster has the 1 GPU and 1 CPU a run asks for where the cluster has GPUs: the node "
      "with the most GPUs has 1 GPU and 0 CPUs. Start Ray on a GPU node with a CPU for runs too")),
    ([], {"CPU": 2}, "the Ray cluster has no node alive for the 2 CPUs a run asks for"),
])
def test_a_run_no_node_can_hold_is_explained(nodes, needs, says):
    from cifar_tf.runs.ray_cluster import why_no_node_fits

    assert says in why_no_node_fits(nodes, needs, "10.0.0.1:6379")


@pytest.mark.parametrize("nodes, needs", [
    ([{"CPU": 1.0}, {"CPU": 2.0}], {"CPU": 2}),             # one node is enough
    ([{"CPU": 2.0, "memory": 1e9, "node:10.0.0.2": 1.0}], {"CPU": 2}),
    ([{"CPU": 16.0}, {"CPU": 1.0, "GPU": 1.0}], {"GPU": 1, "CPU": 1}),
])
def test_a_run_one_node_can_hold_fits(nodes, needs):
    from cifar_tf.runs.ray_cluster import why_no_node_fits

    assert why_no_node_fits(nodes, needs) is None


def test_a_run_asks_for_a_gpu_where_the_cluster_has_one_else_for_its_cpus(monkeypatch):
    from cifar_tf.runs.ray_cluster import run_needs

    monkeypatch.setenv("CIFAR_TF_RAY_CPUS", "3")
    assert run_needs({"CPU": 8.0, "GPU": 1.0}) == {"GPU": 1, "CPU": 1}
    assert run_needs({"CPU": 8.0}) == {"CPU": 3}
    monkeypatch.delenv("CIFAR_TF_RAY_CPUS")
    assert run_needs({"CPU": 8.0, "GPU": 0.0}) == {"CPU": 2}


def test_a_run_no_node_can_hold_is_refused_at_submit(runs_dir, monkeypatch):
    """Two 1-CPU nodes (and a 4-CPU one that left): a run asking for 2 CPUs is refused, nothing made."""
    from cifar_tf.runs import ray_cluster
    from cifar_tf.runs.manager import RunManager
    from cifar_tf.training.config import TrainConfig

    monkeypatch.setattr(ray_cluster, "connect", lambda *_, **__: FakeRay({"CPU": 1.0}, {"CPU": 1.0}, dead=[{"CPU": 4.0}]))
    manager = RunManager(runs_dir, ray_address="10.0.0.1:6379")
    with pytest.raises(ray_cluster.NoNodeFits, match=r"the largest of its 2 nodes has 1 CPU\. Set CIFAR_TF_RAY_CPUS=1"):
        manager.submit(TrainConfig(arch="simple_cnn", epochs=1))
    assert not list(runs_dir.iterdir())


def test_the_submit_command_refuses_a_run_no_node_can_hold(cifar_dir, tmp_path, monkeypatch, capsys):
    from cifar_tf.cli import main
    from cifar_tf.runs import ray_cluster

    monkeypatch.setattr(ray_cluster, "connect", lambda *_, **__: FakeRay({"CPU": 1.0}, {"CPU": 1.0}))
    runs = tmp_path / "runs"
    assert main(["submit", "--ray", "10.0.0.1:6379", "--runs-dir", str(runs), "--data-dir", str(cifar_dir), *TINY]) == 1
    assert one_error(capsys.readouterr().err) == (
        "error: no node of the Ray cluster has the 2 CPUs a run asks for (CIFAR_TF_RAY_CPUS, 2 when unset): the "
        "largest of its 2 nodes has 1 CPU. Set CIFAR_TF_RAY_CPUS=1 where the app runs, or add a node with at least "
        "2 CPUs (`ray start --address 10.0.0.1:6379 --num-cpus 2`)")
    assert not runs.exists()


def test_a_queued_run_no_node_can_hold_any_more_says_why(runs_dir, monkeypatch):
    """The 2-CPU node it was queued for left: its record says so (the Train page and `runs wait`
    show it), and says nothing again once a node that can hold it joins."""
    from cifar_tf.runs import ray_cluster
    from cifar_tf.views.formatting import waiting_reason

    run = store.create_run(runs_dir, arch="simple_cnn", config={}, status="queued")
    run.update(executor={"kind": "ray", "node": None, "address": None, "host": None, "asks": "2 CPUs",
                         "needs": {"CPU": 2}, "cluster": "10.0.0.1:6379"})
    executor = ray_cluster.RayExecutor("10.0.0.1:6379")
    executor._note_waiting(FakeRay({"CPU": 1.0}), [run])
    reason = waiting_reason(run_of(run.id, runs_dir))
    assert reason.startswith("no node of the Ray cluster has the 2 CPUs a run asks for")
    assert "its only node has 1 CPU. Set CIFAR_TF_RAY_CPUS=1" in reason
    assert reason.endswith("It starts when a node that can hold it joins; otherwise stop it and start it again "
                           "after the change")

    monkeypatch.setattr(ray_cluster, "NODES_EVERY_S", 0)  # asked again at once
    executor._note_waiting(FakeRay({"CPU": 1.0}, {"CPU": 2.0}), [run])
    assert waiting_reason(run_of(run.id, runs_dir)) == ""
    assert run_of(run.id, runs_dir).record["executor"]["waiting_reason"] is None
