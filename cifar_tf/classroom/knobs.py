"""Turning a run's knobs while it trains (its learning rate, pause and resume): the run's owner or
the teacher may (`roles.can_manage`, as for a stop); everyone sees the changes on its curves.

The request is written to the run's control file (runs/control.py) and the worker obeys it at
its next step (training/control.py), recording who asked in the run's events. A fork is not a
knob: anyone may start one from a run they can see, and it is theirs (training/fork.py).
"""
from ..runs import control, store
from ..training.config import LIMITS
from ..training.lrfind import is_range_test
from ..validation import check_bool, check_float
from .roles import check_can_manage


def knob_problem(run):
    """Why the knobs of `run` cannot be turned, in words; None when they can."""
    if is_range_test(run):
        return "A learning-rate range test sets its own rates: it has no knobs."
    if not run.is_active():
        return f"This run is {run.status}: only a queued or running run can be changed."
    return None


def who(viewer):
    """How a change by `viewer` is signed in the run's events."""
    if not viewer.class_mode:
        return "the app"
    name = viewer.name or "someone without a name"
    return f"{name} (teacher)" if viewer.teacher else name


def set_knobs(viewer, run_id, runs_dir=None, *, lr=None, paused=None, by=None, names=None):
    """Ask the worker of run `run_id` for a new learning rate and/or to pause or resume, as
    `viewer`: NotAllowed unless they may manage the run, ValueError when it has no knobs now.
    The control file as written."""
    run = store.load_run(run_id, runs_dir)
    check_can_manage(viewer, run, names)
    problem = knob_problem(run)
    if problem:
        raise ValueError(problem)
    if lr is not None:
        lr = check_float("lr", lr, low=LIMITS["lr"].low, high=LIMITS["lr"].high, low_open=True)
    if paused is not None:
        paused = check_bool("paused", paused)
    if lr is None and paused is None:
        raise ValueError("nothing to change: give lr=RATE, or pause or resume")
    return control.request_change(run.path, by=by or who(viewer), lr=lr, paused=paused)


def knob_state(run):
    """`{"lr", "paused", "events"}` of a run as its knobs show it: the rate asked for last (else the
    configured one), whether a pause is asked for, and its events so far."""
    asked = control.read_control(run.path)
    return {"lr": control.requested(asked, "lr", (run.record.get("config") or {}).get("lr")),
            "paused": bool(control.requested(asked, "paused", False)),
            "events": control.read_events(run.path)}
