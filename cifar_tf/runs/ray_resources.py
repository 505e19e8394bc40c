"""What a run asks of one Ray node, and whether any node of the cluster can ever give it.

Ray does not start a run that asks one node for more than any node has, and does not say so: the
run would wait for ever. The run manager asks `why_no_node_fits` at submit (and refuses) and
for a run already queued (and shows why it waits).
"""
from .. import settings

DEFAULT_CPUS_PER_RUN = 2


class NoNodeFits(RuntimeError):
    """No node of the Ray cluster has all that a run asks for: Ray would keep it queued for ever."""


def cpus_per_run():
    return settings.ray_cpus_per_run() or DEFAULT_CPUS_PER_RUN


def run_needs(cluster_resources):
    """What each run asks of one node, in Ray's resource names: one GPU (and one CPU) where the
    cluster has GPUs, else `$CIFAR_TF_RAY_CPUS` CPUs, e.g. `{"CPU": 2}`."""
    if cluster_resources.get("GPU", 0) >= 1:
        return {"GPU": 1, "CPU": 1}
    return {"CPU": cpus_per_run()}


def alive_nodes(ray):
    """Each alive node's resources as Ray counts them (`{"CPU": 4.0, "GPU": 1.0, ...}`), whether
    in use or not: what a node could ever hold."""
    return [node.get("Resources") or {} for node in ray.nodes() if node.get("Alive")]


def why_no_node_fits(nodes, needs, address="HEAD:PORT"):
    """None if one of `nodes` (each a dict of resources) has all of `needs`; else which, what the
    largest node has, and what to change. Ray does not start a run that asks one node for more than
    any node has, and does not say so: the run would wait for ever (two 1-CPU nodes, runs asking
    for 2 CPUs: "... Set CIFAR_TF_RAY_CPUS=1 where the app runs, or add a node ...").
    """
    if any(all(node.get(name, 0) >= amount for name, amount in needs.items()) for node in nodes):
        return None
    asked = " and ".join(amount_text(amount, name) for name, amount in needs.items())
    if not nodes:
        return (f"the Ray cluster has no node alive for the {asked} a run asks for: start Ray on one "
                f"(`ray start --address {address}`)")
    if "GPU" in needs:
        best = max(nodes, key=lambda node: (node.get("GPU", 0), node.get("CPU", 0)))
        has = " and ".join(amount_text(best.get(name, 0), name) for name in needs)
        which = "its only node" if len(nodes) == 1 else "the node with the most GPUs"
        return (f"no node of the Ray cluster has the {asked} a run asks for where the cluster has GPUs: "
                f"{which} has {has}. Start Ray on a GPU node with a CPU for runs too "
                f"(`ray start --address {address} --num-gpus 1 --num-cpus 1`)")
    largest, cpus = max(node.get("CPU", 0) for node in nodes), needs["CPU"]
    which = "its only node" if len(nodes) == 1 else f"the largest of its {len(nodes)} nodes"
    fewer = f"Set CIFAR_TF_RAY_CPUS={int(largest)} where the app runs, or add" if largest >= 1 else "Add"
    return (f"no node of the Ray cluster has the {asked} a run asks for (CIFAR_TF_RAY_CPUS, "
            f"{DEFAULT_CPUS_PER_RUN} when unset): {which} has {amount_text(largest, 'CPU')}. {fewer} a node "
            f"with at least {amount_text(cpus, 'CPU')} (`ray start --address {address} --num-cpus {cpus}`)")


def is_needs(needs):
    """Whether `needs`, read from a record, is what `run_needs` writes: resource names and numbers."""
    return isinstance(needs, dict) and bool(needs) and all(
        isinstance(name, str) and isinstance(amount, (int, float)) and not isinstance(amount, bool)
        for name, amount in needs.items())


def amount_text(value, name):
    """`2 CPUs`, `1 GPU`, `1.5 CPUs`: Ray counts resources as floats."""
    value = int(value) if float(value).is_integer() else value
    return f"{value} {name}{'' if value == 1 else 's'}"
