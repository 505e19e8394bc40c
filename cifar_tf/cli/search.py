"""`search`, `searches list|show|stop` and the `search-worker` the run manager starts."""
import contextlib
import os
import sys

from ..search import results, store
from ..search import space as spaces
from ..validation import InvalidArgument, check_choice
from .common import EXIT_ERROR, command, data_flags, fmt, print_json, runs_flag, table

SEARCH_BUDGET = ("max_trials", "epochs", "train_limit", "val_size", "time_limit")


def _search_settings(args):
    """The search flags given on the command line, checked (no TensorFlow yet); absent ones left out."""
    settings = {key: getattr(args, key) for key in SEARCH_BUDGET if getattr(args, key) is not None}
    space = spaces.load_space(args.space) if args.space is not None else None
    epochs = None if settings.get("epochs") is None else store.BUDGET_LIMITS["epochs"].check("epochs", settings["epochs"])
    trials = spaces.default_max_trials(args.space, space, args.tuner, epochs) if space else 10
    defaults = dict(max_trials=trials, epochs=space["epochs"] if space else 10, train_limit=0, val_size=None,
                    time_limit=0)
    checked = store.check_budget(**{**defaults, **settings})
    settings = {key: checked[key] for key in settings}
    if args.tuner is not None:
        settings["tuner"] = check_choice("tuner", args.tuner, spaces.TUNERS)
    if space is not None:
        settings["space"] = space
        settings.setdefault("max_trials", checked["max_trials"])   # a Hyperband search's whole iterations
    return settings


def cmd_search(args):
    from ..data.cifar10 import find_dataset

    settings = _search_settings(args)
    existing = bool(args.search_id) and (store.searches_dir(args.runs_dir) / args.search_id).is_dir()
    if not existing and "space" not in settings:
        raise InvalidArgument("space", None, ", ".join(spaces.SPACES) + " or a JSON file")
    # Found on this machine (a worker joining from another one has its own copy); the chief trains nothing.
    data_dir = None
    if store.role() != "chief" and (args.data_dir or not existing):
        data_dir = find_dataset(args.data_dir, args.cache_dir)  # a missing dataset fails before any folder
    # Trained here, in the foreground: made running (or claimed) at once, so that no run manager
    # starts it too. A distributed worker only joins: the chief keeps the record.
    owner = store.role() != "worker"
    if existing:
        search = store.load_search(args.search_id, args.runs_dir)
        different = store.difference(search, **settings)
        if different:
            raise InvalidArgument("search_id", args.search_id, f"a new id: that search exists with {different} "
                                  "(give only --search-id to continue it)")
    else:
        def create(search_id=args.search_id):
            return store.new_search(args.runs_dir, space=args.space, data_dir=data_dir, name=args.name,
                                    search_id=search_id, workers=args.workers, status="running" if owner else "queued",
                                    **{k: v for k, v in settings.items() if k != "space"})

        search = store.create_or_join(args.runs_dir, args.search_id, create) if args.search_id else create()
    if owner and search.record.get("pid") != os.getpid():
        from ..runs.manager import claim_search

        search = claim_search(search)   # RuntimeError when it runs already
    from ..search.tuner import run_search

    # With --json, stdout carries the JSON alone: progress goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        search = run_search(search.path, data_dir=data_dir)
    if owner:
        _start_what_waits(search)
    rows = results.trials(search)
    if args.json:
        print_json({"search": search.record, "trials": rows})
    else:
        _print_search(search, rows)
    return EXIT_ERROR if search.status == "failed" else 0


def _print_search(search, rows):
    from ..search.results import best_trial, flat_rows

    record = search.record
    ended = f" ({record['ended_by']})" if record.get("ended_by") else ""
    print(f"\nsearch {search.id}, {record['name']}: {search.status}{ended}")
    if record.get("error"):
        print(f"  error: {record['error']}")
    shown = flat_rows(rows)
    for row in shown:
        row.pop("progress")
        for key, value in row.items():
            if isinstance(value, float):  # hyperparameters to 3 significant digits, scores to 4 decimals
                row[key] = f"{value:.3g}" if key in record["space"]["hyperparameters"] else fmt(value)
    print(table(shown, list(shown[0])) if shown else "no trials yet")
    best = best_trial(search, rows)
    if best:
        test = f", test accuracy {best['test_accuracy']:.4f}" if best.get("test_accuracy") is not None else ""
        print(f"best: trial {best['trial']}, val_accuracy {best['val_accuracy']:.4f}{test} (run {best['run']})")
    print(f"search folder: {search.path}")


def cmd_searches_list(args):
    from ..search.results import summary
    from ..search.store import list_searches

    found = list_searches(args.runs_dir)
    if args.json:
        return print_json([search.record for search in found])
    rows = [summary(search) for search in found]
    for row in rows:
        row["best_val_accuracy"] = fmt(row["best_val_accuracy"])
    print(table(rows, list(rows[0])) if rows else "no searches yet")


def cmd_searches_show(args):
    from ..search.results import trials
    from ..search.store import load_search

    search = load_search(args.search, args.runs_dir)
    rows = trials(search)
    if args.json:
        return print_json({"search": search.record, "trials": rows})
    _print_search(search, rows)


def cmd_searches_stop(args):
    from ..runs.manager import RunManager

    search = RunManager(args.runs_dir).stop_search(args.search)
    print(f"search {search.id}: stop requested" if search.status == "running" else
          f"search {search.id} is {search.status}")


def cmd_search_worker(args):
    from ..search.store import read_search
    from ..search.tuner import run_search

    search = run_search(read_search(args.search_path).path)
    if store.role() == "local":
        _start_what_waits(search)
    return EXIT_ERROR if search.status == "failed" else 0


def _start_what_waits(search):
    """A search that ended freed its training slots: start what waits, even with no app server to do it."""
    from ..runs.manager import RunManager

    RunManager(search.runs_dir).poll()



def add_commands(commands):
    search = command(commands, "search", cmd_search, "search hyperparameters with KerasTuner; every trial is saved as a run")
    search.add_argument("--tuner", help="random, hyperband or bayesian (default: the space's own)")
    search.add_argument("--space", help="seed001, seed002 (the reference reports' searches) or a JSON file")
    search.add_argument("--max-trials", metavar="N", help="trials at most (default 10; Hyperband: whole iterations, "
                                                          "seed001's two as in report 001, 60 trials)")
    search.add_argument("--epochs", metavar="N", help="epochs per trial; Hyperband's most (default: the space's)")
    search.add_argument("--train-limit", metavar="N", help="train on a stratified subset of this many images; 0 is all")
    search.add_argument("--val-size", metavar="N", help="validation images, taken from the training set (default 5,000, or a tenth of the training images if fewer)")
    search.add_argument("--time-limit", metavar="S", help="stop after this many seconds; 0 is no limit")
    search.add_argument("--workers", metavar="N", help="trials trained at once on this machine (default: one "
                                                       "per GPU, or $CIFAR_TF_MAX_RUNS; one on a CPU)")
    search.add_argument("--name", help="a display name for the search")
    search.add_argument("--search-id", help="the search's folder name: an existing one is resumed, or joined "
                                            "by a distributed worker (see the README)")
    search.add_argument("--json", action="store_true", help="print search.json and the trials at the end")
    data_flags(search)
    runs_flag(search)

    searches = commands.add_parser("searches", help="list, show and stop hyperparameter searches")
    searches_commands = searches.add_subparsers(title="searches commands", metavar="ACTION")
    searches_list = command(searches_commands, "list", cmd_searches_list, "every search, newest first")
    searches_list.add_argument("--json", action="store_true")
    searches_show = command(searches_commands, "show", cmd_searches_show, "one search's trials and best result")
    searches_show.add_argument("search", help="search id")
    searches_show.add_argument("--json", action="store_true")
    searches_stop = command(searches_commands, "stop", cmd_searches_stop, "ask a running search to stop")
    searches_stop.add_argument("search", help="search id")
    for sub in (searches_list, searches_show, searches_stop):
        runs_flag(sub)
    # Started by the run manager for a queued search; not for people.
    search_worker = commands.add_parser("search-worker")
    search_worker.set_defaults(handler=cmd_search_worker)
    search_worker.add_argument("search_path")
