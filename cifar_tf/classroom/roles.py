"""Who may do what to a run: its owner or the teacher may stop, rename or delete it; everyone
else may open, compare, evaluate and predict with it. The shipped demo run is read-only for all.
A hyperparameter search is owned the same way: its owner or the teacher may stop or resume it.

Pages hide the buttons a viewer may not use, but the actions themselves are here and check
again, from the run's record on disk: a run id in the address is public, the seat token that
makes a viewer its owner is not.
"""
import hmac
from dataclasses import dataclass

from ..runs import store
from ..runs.searches import SearchFolder
from .folder import NotAllowed

OWNER_TAG = "owner"   # run.json: tags.owner = {"name": ..., "seat": the seat's key}


@dataclass(frozen=True)
class Viewer:
    """Whoever a page runs for. Without class mode, the one user of the app."""
    class_mode: bool = False
    seat: str = None      # the seat's key (the hash of its token), None before a name is typed
    name: str = None
    teacher: bool = False

    @property
    def seated(self):
        return self.seat is not None


def is_read_only(run):
    """The shipped demo run stays as it is, in class mode or not."""
    return store.is_shipped(run)


def owner_of(run):
    """`{"name", "seat"}` of the run's owner, or None for a run nobody in class mode started."""
    owner = (run.record.get("tags") or {}).get(OWNER_TAG)
    if isinstance(owner, dict) and isinstance(owner.get("seat"), str) and isinstance(owner.get("name"), str):
        return owner
    return None


def owner_name(run, names=None):
    """The owner's name today (`names`: seat key → name), else as recorded, else None."""
    owner = owner_of(run)
    if owner is None:
        return None
    return (names or {}).get(owner["seat"], owner["name"])


def owns(viewer, run):
    owner = owner_of(run)
    return bool(viewer.seated and owner and hmac.compare_digest(owner["seat"], viewer.seat))


def can_manage(viewer, run):
    """Whether `viewer` may stop, rename or delete `run`."""
    if is_read_only(run):
        return False
    return not viewer.class_mode or viewer.teacher or owns(viewer, run)


def read_only_reason(viewer, run, names=None):
    """Why `viewer` may only look at `run` (or a search), in words; None when they may manage it."""
    if can_manage(viewer, run):
        return None
    if is_read_only(run):
        return "This is the demo run shipped with the lab: everyone can use it, nobody can change it."
    what, actions = ("search", "stop or resume") if isinstance(run, SearchFolder) else ("run", "stop, rename or delete")
    name = owner_name(run, names)
    if name is None:
        return f"Nobody in the class started this {what}: only the teacher can {actions} it."
    return f"This {what} belongs to {name}: only they or the teacher can {actions} it."


def check_can_manage(viewer, run, names=None):
    reason = read_only_reason(viewer, run, names)
    if reason:
        raise NotAllowed(reason)
    return run


def owner_tags(viewer):
    """The tags that make `viewer` the owner of a run they submit (none without class mode)."""
    if not viewer.class_mode or not viewer.seated:
        return {}
    return {OWNER_TAG: {"name": viewer.name, "seat": viewer.seat}}


# --- the actions, checked -----------------------------------------------------------------------

def stop_run(manager, viewer, run_id):
    check_can_manage(viewer, store.load_run(run_id, manager.runs_dir))
    return manager.stop(run_id)


def rename_run(viewer, run_id, name, runs_dir=None):
    check_can_manage(viewer, store.load_run(run_id, runs_dir))
    return store.rename_run(run_id, name, runs_dir)


def delete_run(viewer, run_id, runs_dir=None):
    check_can_manage(viewer, store.load_run(run_id, runs_dir))
    return store.delete_run(run_id, runs_dir)


# --- seats: the teacher's -------------------------------------------------------------------------

FORMER_OWNER_TAG = "former_owner"   # run.json: tags.former_owner, the owner whose name the teacher freed


def may_manage_seats(viewer):
    """Freeing a name and giving a seat's runs to another seat are the teacher's, in class mode."""
    return bool(viewer.class_mode and viewer.teacher)


def check_may_manage_seats(viewer, action):
    if not may_manage_seats(viewer):
        raise NotAllowed(f"Only the teacher can {action}.")


def former_owner_of(run):
    """`{"name", "seat"}` of whoever owned this run before the teacher freed their name, or None."""
    owner = (run.record.get("tags") or {}).get(FORMER_OWNER_TAG)
    if owner_of(run) is None and isinstance(owner, dict) and isinstance(owner.get("seat"), str) \
            and isinstance(owner.get("name"), str):
        return owner
    return None


def held_by(run, seat):
    """Whether `run` is the seat `seat`'s: it owns it, or owned it until its name was freed."""
    owner = owner_of(run) or former_owner_of(run)
    return bool(owner) and owner["seat"] == seat


def former_owners(runs, names):
    """{seat: name} of the owners of `runs` who hold no seat any more (`names`: the seats now)."""
    found = {}
    for run in runs:
        owner = owner_of(run) or former_owner_of(run)
        if owner and owner["seat"] not in names:
            found.setdefault(owner["seat"], owner["name"])
    return found


def give_runs(viewer, seat, to, runs_dir=None):
    """Every run of the seat `seat` (see `held_by`) given to `to` (`{"name", "seat"}` of another
    seat), or to nobody (None: the teacher keeps them, and they remember whose they were). The
    teacher's alone. How many runs changed hands."""
    check_may_manage_seats(viewer, "give a student's runs to someone else")
    runs, _ = store.list_runs(runs_dir)
    moved = 0
    for listed in runs:
        if is_read_only(listed) or not held_by(listed, seat):
            continue
        run = store.load_run(listed.id, runs_dir)   # read again: change what is on disk now
        if not held_by(run, seat):
            continue
        tags = dict(run.record.get("tags") or {})
        was = tags.pop(OWNER_TAG, None) or tags.pop(FORMER_OWNER_TAG, None)
        if to:
            tags.pop(FORMER_OWNER_TAG, None)
            tags[OWNER_TAG] = {"name": to["name"], "seat": to["seat"]}
        else:
            tags[FORMER_OWNER_TAG] = was
        run.update(tags=tags)
        moved += 1
    return moved
