"""`runs set|pause|resume|fork`: a run's knobs, and forks.

The command line acts for whoever runs it on this machine, as the teacher would: it may change
any run but the shipped demo, and signs its changes "command line" in the run's events.
"""

from ..validation import InvalidArgument
from .common import command, print_json, runs_flag

BY = "command line"


def cmd_runs_set(args):
    from ..classroom.knobs import set_knobs
    from ..classroom.roles import Viewer

    values = _settings(args.settings)
    unknown = sorted(set(values) - {"lr", "paused"})
    if unknown:
        raise InvalidArgument(unknown[0], values[unknown[0]], "lr=RATE or paused=true|false")
    control = set_knobs(Viewer(), args.run, args.runs_dir, by=BY, **values)
    return _said(args, control, "asked: " + ", ".join(f"{key}={value}" for key, value in values.items()))


def cmd_runs_pause(args, paused=True):
    from ..classroom.knobs import set_knobs
    from ..classroom.roles import Viewer

    control = set_knobs(Viewer(), args.run, args.runs_dir, paused=paused, by=BY)
    return _said(args, control, "asked to pause: it waits after its current step" if paused else "asked to resume")


def cmd_runs_resume(args):
    return cmd_runs_pause(args, paused=False)


def _settings(items):
    from ..training.config import parse_value

    values = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"{item!r}: expected KEY=VALUE, e.g. lr=0.01")
        values[key.strip()] = value.strip() if key.strip() == "augment" else parse_value(value)
    return values


def _said(args, control, sentence):
    if args.json:
        return print_json(control)
    print(f"{args.run}: {sentence}")


def cmd_runs_fork(args):
    from ..runs.manager import RunManager
    from ..runs.store import load_run
    from ..training.fork import fork_run

    parent = load_run(args.run, args.runs_dir)
    data_dir = args.data_dir or (parent.record.get("tags") or {}).get("data_dir")
    manager = RunManager(args.runs_dir, data_dir=data_dir)
    run = fork_run(manager, parent, _settings(args.settings), epoch=args.epoch, name=args.name, by=BY)
    if args.json:
        return print_json(run.record)
    print(run.id)


def add_run_commands(runs_commands):
    """`runs set|pause|resume|fork`, added to the `runs` group (cli/runs.py)."""
    set_ = command(runs_commands, "set", cmd_runs_set, "change a queued or running run's learning rate (from its next "
                                                       "step; a schedule keeps its shape), or pause it")
    set_.add_argument("run")
    set_.add_argument("settings", nargs="+", metavar="KEY=VALUE", help="lr=RATE, paused=true|false")
    pause = command(runs_commands, "pause", cmd_runs_pause, "pause a running run after its current step")
    resume = command(runs_commands, "resume", cmd_runs_resume, "resume a paused run")
    for sub in (pause, resume):
        sub.add_argument("run")
    fork = command(runs_commands, "fork", cmd_runs_fork, "queue a new run that starts from a saved epoch of RUN with "
                                                         "settings changed; it shares RUN's curves up to there")
    fork.add_argument("run")
    fork.add_argument("settings", nargs="+", metavar="KEY=VALUE", help="the settings to change, e.g. lr=0.01")
    fork.add_argument("--epoch", type=int, help="the saved epoch to start from (default: the latest saved)")
    fork.add_argument("--name", help="a display name for the new run")
    fork.add_argument("--data-dir", help="the dataset (default: the one RUN trained on)")
    for sub in (set_, pause, resume, fork):
        sub.add_argument("--json", action="store_true")
        runs_flag(sub)
