"""Changing a run while it trains: the control file a page or the command line writes, the events
the worker records as it obeys it, and the checkpoints a fork starts from.

A run folder may hold:

- `control.json`: what its owner (or the teacher) asks of the worker now, one entry per knob,
  `{"lr": {"value": 0.01, "by": "Ada", "at": ..., "seq": 3}, "paused": {"value": true, ...}}`,
  written atomically under a lock so that two writers never lose each other's change. The
  worker notices a new one with a `stat` after every step (`ControlWatcher`): a change takes
  effect at the next step.
- `events.jsonl`: append-only, one line per change the worker made, at the step it made it:
  `{"step": 120, "epoch": 2.4, "what": "lr", "from": 0.001, "to": 0.01, "by": "Ada", ...}`, pause
  and resume too; a fork's first line says where it came from. The curves mark each one.
- `checkpoints/epoch-NNNN.weights.h5`: the weights at the end of the latest KEEP_CHECKPOINTS
  whole epochs (runs of the Keras recipe: see training/fork.py), what a fork starts from.

Nothing here imports Keras: pages read these files as they read the histories.
"""
import re
import time

from .files import append_jsonl, atomic_write_json, file_lock, now, read_json, read_jsonl

CONTROL_FILE = "control.json"
CONTROL_LOCK = ".control.lock"
EVENTS_FILE = "events.jsonl"
CHECKPOINTS_DIR = "checkpoints"
KEEP_CHECKPOINTS = 3    # the latest whole epochs whose weights a run keeps to fork from
CONTROL_MAX_BYTES = 64 * 1024
KNOBS = ("lr", "paused")
_CHECKPOINT = re.compile(r"^epoch-(\d{4,})\.weights\.h5$")


def read_control(folder):
    """What `control.json` in run folder `folder` asks for, `{}` if nothing (or if unreadable)."""
    try:
        control = read_json(folder / CONTROL_FILE, CONTROL_MAX_BYTES, missing_ok=True)
    except (OSError, ValueError):
        return {}
    return control if isinstance(control, dict) else {}


def requested(control, knob, default=None):
    """The value `control` (read_control's) asks for `knob`, or `default`."""
    entry = control.get(knob)
    return entry.get("value", default) if isinstance(entry, dict) else default


def request_change(folder, *, by, **knobs):
    """Ask the worker training in `folder` to change the `knobs` given (lr=0.01, paused=True);
    the control file as now written. `by` says who asked, for the run's events."""
    unknown = set(knobs) - set(KNOBS)
    if unknown:
        raise ValueError(f"no knob {sorted(unknown)[0]!r}: a running run's knobs are {', '.join(KNOBS)}")
    with file_lock(folder / CONTROL_LOCK):
        control = read_control(folder)
        seq = control["seq"] + 1 if isinstance(control.get("seq"), int) else 1
        for knob, value in knobs.items():
            if value is not None:
                control[knob] = {"value": value, "by": str(by), "at": now(), "seq": seq}
        control["seq"] = seq
        atomic_write_json(folder / CONTROL_FILE, control)
    return control


class ControlWatcher:
    """Tells the worker when `control.json` changed, at the cost of one `stat` when it did not."""

    def __init__(self, folder):
        self.path = folder / CONTROL_FILE
        self._seen = None

    def changed(self):
        """The control file's content if it changed since the last call (the first call: if there
        is one), else None."""
        try:
            info = self.path.stat()
        except OSError:
            return None
        signature = (info.st_ino, info.st_mtime_ns, info.st_size)
        if signature == self._seen:
            return None
        self._seen = signature
        return read_control(self.path.parent)


def record_event(folder, event):
    """Append one event (a dict with at least `step`, `epoch` and `what`) to the run's events."""
    append_jsonl(folder / EVENTS_FILE, {**event, "at": event.get("at") or now(), "time": round(time.time(), 3)})


def read_events(folder):
    """The run's events, oldest first (lines of the wrong shape are skipped)."""
    return [event for event in read_jsonl(folder / EVENTS_FILE)
            if isinstance(event.get("what"), str) and _number(event.get("epoch"))]


# --- checkpoints -----------------------------------------------------------------------------

def checkpoint_path(folder, epoch):
    return folder / CHECKPOINTS_DIR / f"epoch-{int(epoch):04d}.weights.h5"


def saved_epochs(folder):
    """The whole epochs whose weights the run in `folder` kept, in order."""
    try:
        names = [path.name for path in (folder / CHECKPOINTS_DIR).iterdir() if path.is_file()]
    except OSError:
        return []
    return sorted(int(match.group(1)) for match in map(_CHECKPOINT.match, names) if match)


def prune_checkpoints(folder, keep=KEEP_CHECKPOINTS):
    """Delete all but the latest `keep` checkpoints (and any half-written one)."""
    for epoch in saved_epochs(folder)[:-keep] if keep else saved_epochs(folder):
        checkpoint_path(folder, epoch).unlink(missing_ok=True)
    for partial in (folder / CHECKPOINTS_DIR).glob(".partial-*"):
        partial.unlink(missing_ok=True)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)

