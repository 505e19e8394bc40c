"""Repeats: one configuration trained N times with N seeds, so that its spread can be seen.

Each repeat is an ordinary run (the queue takes it like any other, the class's rules apply to
it); their records share a group id in their tags, and their names end in "· seed S".
"""
import dataclasses

from ..validation import Limit
from .names import MAX_NAME_LENGTH, default_name, new_run_id

REPEATS = Limit(int, 1, 20)   # one click must not fill a class's queue
GROUP_TAG = "repeat_group"


def check_repeats(repeats):
    return REPEATS.check("repeat", repeats)


def repeat_seeds(first, repeats, taken=()):
    """`repeats` seeds from `first` on, skipping those already `taken` (a group's earlier runs)."""
    check_repeats(repeats)
    seeds, seed, taken = [], int(first), set(taken)
    while len(seeds) < repeats:
        if seed not in taken:
            seeds.append(seed)
        seed += 1
    return seeds


def submit_repeats(manager, config, repeats, *, name=None, tags=None, taken_seeds=(), group=None):
    """Queue `config` `repeats` times, seeds from its own on (minus `taken_seeds`), as one group.

    `manager` is a run manager (or a class's seated one: each repeat is admitted like any run).
    `group` joins an existing group (repeating it further). Returns the runs, in seed order; a
    refusal part-way leaves the runs already queued (each is a whole run) and raises."""
    seeds = repeat_seeds(config.seed, repeats, taken_seeds)
    if repeats == 1 and not taken_seeds and group is None:
        return [manager.submit(config, name=name, tags=tags)]
    group = group or new_run_id()
    runs = []
    for seed in seeds:
        suffix = f" · seed {seed}"
        base = name or default_name(config.arch)
        run_name = base[:MAX_NAME_LENGTH - len(suffix)] + suffix
        runs.append(manager.submit(dataclasses.replace(config, seed=seed), name=run_name,
                                   tags={**(tags or {}), GROUP_TAG: group}))
    return runs
