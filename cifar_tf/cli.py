"""The command line: `python -m cifar_tf COMMAND ...`.

Each command is a thin layer over the library. Bad input ends in one line, `error: ...`, naming
the flag, the value and what is allowed, and a non-zero exit: never a traceback.
"""
import argparse
import json
import os
import sys

from .validation import InvalidArgument

EXIT_ERROR, EXIT_USAGE = 1, 2


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter out
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args) or 0
    except InvalidArgument as error:
        print(f"error: {flag_name(error.name)}: {error.value!r} is not valid: expected {error.allowed}",
              file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, LookupError, RuntimeError) as error:
        print(f"error: {_message(error)}", file=sys.stderr)
        return EXIT_ERROR


def flag_name(field):
    """`batch_size` → `--batch-size`; `augment crop` → `--augment`; `depth` → `--arch-param depth`."""
    from .config import TrainConfig

    name = str(field).split()[0]
    known = ({f for f in TrainConfig.__dataclass_fields__} | {"preset", "top_k", "arch-param", "augment"}
             | set(SEARCH_FLAGS))
    known |= LAB_FLAGS
    if name == "arch_params":
        return "--arch-param"
    if name in known:
        return "--" + name.replace("_", "-")
    return f"--arch-param {name}"


def _message(error):
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return text.strip() or type(error).__name__


def _print_json(obj):
    print(json.dumps(obj, indent=2, default=str))


def _table(rows, columns):
    """Plain aligned text columns."""
    cells = [[str(c) for c in columns]] + [["" if row.get(c) is None else str(row.get(c)) for c in columns]
                                           for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(r, widths)).rstrip() for r in cells)


# --- data ---------------------------------------------------------------------------------------

def cmd_data_download(args):
    from .download import TextProgress, download_cifar10

    with TextProgress() as progress:
        path = download_cifar10(args.cache_dir, progress=progress)
    print(f"CIFAR-10 is ready in {path}")


def cmd_data_info(args):
    from .data import dataset_info

    info = dataset_info(data_dir=args.data_dir, cache_dir=args.cache_dir)
    if args.json:
        return _print_json(info)
    print(f"CIFAR-10 found in {info['path']} ({info['source']})")
    rows = [{"class": name, "train": info["train_counts"][name], "test": info["test_counts"][name]}
            for name in info["class_names"]]
    rows.append({"class": "total", "train": info["train_size"], "test": info["test_size"]})
    print(_table(rows, ["class", "train", "test"]))


# --- architectures ------------------------------------------------------------------------------

def cmd_archs(args):
    from .architectures import ARCHITECTURES, count_params

    rows = [{"name": name, "params": count_params(name), "description": arch.description,
             "source": arch.source} for name, arch in ARCHITECTURES.items()]
    if args.json:
        return _print_json(rows)
    for row in rows:
        row["params"] = f"{row['params']:,}"
    print(_table(rows, ["name", "params", "description"]))


# --- training -----------------------------------------------------------------------------------

TRAIN_FLAGS = {  # flag → (TrainConfig field, help)
    "--arch": ("arch", "architecture (see `archs`)"),
    "--epochs": ("epochs", "epochs to train"),
    "--batch-size": ("batch_size", "images per batch"),
    "--optimizer": ("optimizer", "sgd, adam, adamw or rmsprop"),
    "--lr": ("lr", "peak learning rate"),
    "--momentum": ("momentum", "momentum of SGD and RMSprop"),
    "--nesterov": ("nesterov", "Nesterov momentum for SGD (true/false)"),
    "--schedule": ("schedule", "constant, step, exponential, cosine or onecycle"),
    "--warmup-epochs": ("warmup_epochs", "linear warm-up (cosine, onecycle)"),
    "--decay-every": ("decay_every", "epochs per decay (step, exponential)"),
    "--decay-factor": ("decay_factor", "learning-rate factor per decay (step, exponential)"),
    "--weight-decay": ("weight_decay", "decoupled weight decay"),
    "--dropout": ("dropout", "dropout rate of the architecture"),
    "--label-smoothing": ("label_smoothing", "label smoothing"),
    "--augment": ("augment", "augmentation: none, flip, standard, strong, seed001 or settings "
                             "like flip,crop=4,rotation=15,cutout=8"),
    "--sam-rho": ("sam_rho", "SAM neighbourhood radius; 0 trains without SAM"),
    "--fine-tune-epochs": ("fine_tune_epochs", "pretrained bases: epochs of fine-tuning after the frozen phase"),
    "--fine-tune-lr-factor": ("fine_tune_lr_factor", "learning-rate factor for fine-tuning"),
    "--early-stopping": ("early_stopping", "patience in epochs on validation accuracy; 0 is off"),
    "--train-limit": ("train_limit", "train on a stratified subset of this many images; 0 is all"),
    "--val-size": ("val_size", "validation images taken from the training set"),
    "--seed": ("seed", "random seed"),
    "--mixed-precision": ("mixed_precision", "auto, off, bf16 or fp16"),
    "--xla": ("xla", "auto, on or off"),
    "--log-every": ("log_every", "batches between two live step records"),
    "--recipe": ("recipe", "keras (fit with the settings above) or airbench (the fast preset's own train step)"),
}


def config_from_args(args):
    from .config import TrainConfig, preset_config

    values = {}
    for flag, (field, _) in TRAIN_FLAGS.items():
        value = getattr(args, field)
        if value is not None:
            values[field] = value
    if args.arch_param:
        values["arch_params"] = parse_key_values(args.arch_param, "arch-param")
    if args.preset:
        preset = preset_config(args.preset)
        if "arch_params" in values and "arch" not in values:
            values["arch_params"] = {**preset.arch_params, **values["arch_params"]}
        return preset_config(args.preset, **values).validated()
    return TrainConfig(**values).validated()


def parse_key_values(items, flag):
    from .config import parse_value

    params = {}
    for item in items:
        if "=" not in item:
            raise InvalidArgument(flag, item, "KEY=VALUE, e.g. depth=4")
        key, value = item.split("=", 1)
        params[key.strip()] = parse_value(value)
    return params


def cmd_train(args):
    from .data import find_dataset

    config = config_from_args(args)  # plain values first: a typo is refused before TensorFlow loads
    find_dataset(args.data_dir, args.cache_dir)  # and a missing dataset before a run folder is made
    from .train import check_config, train

    config = check_config(config)
    run = train(config, runs_dir=args.runs_dir, data_dir=args.data_dir, cache_dir=args.cache_dir,
                name=args.name)
    metrics = run.record["metrics"]
    if args.json:
        return _print_json(run.record)
    print(f"run {run.id} {run.status}: test accuracy {metrics['test_accuracy']:.4f}, "
          f"weighted F1 {metrics['weighted_f1']:.4f}, {metrics['train_seconds']:.1f} s of training")
    print(f"saved in {run.path}")


# --- runs, evaluation, prediction ---------------------------------------------------------------

def _run_row(run):
    metrics = run.record.get("metrics") or {}
    return {"id": run.id, "name": run.name, "arch": run.record.get("arch"), "status": run.status,
            "epochs": run.record.get("epochs_completed"),
            "test_accuracy": _fmt(metrics.get("test_accuracy")),
            "created": str(run.record.get("created_at", ""))[:19].replace("T", " ")}


def _fmt(value, digits=4):
    return None if value is None else f"{value:.{digits}f}"


def cmd_runs_list(args):
    from .runs import list_runs

    found, problems = list_runs(args.runs_dir)
    if args.json:
        return _print_json({"runs": [run.record for run in found], "problems": problems})
    print(_table([_run_row(run) for run in found], ["id", "name", "arch", "status", "epochs",
                                                     "test_accuracy", "created"]) if found else "no runs yet")
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)


def cmd_runs_show(args):
    from .runs import load_run

    run = load_run(args.run, args.runs_dir)
    if args.json:
        return _print_json(run.record)
    record = run.record
    print(f"{run.id}  {run.name}\n  arch {record.get('arch')}, {record.get('params') or '?'} parameters, "
          f"status {run.status}, {record.get('epochs_completed')} epochs")
    for key, value in (record.get("metrics") or {}).items():
        print(f"  {key}: {value}")
    if record.get("error"):
        print(f"  error: {record['error']}")
    print("  config: " + ", ".join(f"{k}={v}" for k, v in record.get("config", {}).items()))


def cmd_runs_delete(args):
    from .runs import delete_run

    for run_id in args.run:
        delete_run(run_id, args.runs_dir)
        print(f"deleted {run_id}")


def cmd_evaluate(args):
    from .runs import load_run

    run = load_run(args.run, args.runs_dir)
    evaluation = run.evaluation()
    if evaluation is None:
        raise LookupError(f"run {run.id} has no evaluation (status {run.status})")
    if args.json:
        return _print_json(evaluation)
    print(f"{run.id}  {run.name}: accuracy {evaluation['accuracy']:.4f}, loss {evaluation['loss']:.4f}, "
          f"weighted F1 {evaluation['weighted_f1']:.4f}, top-3 accuracy {evaluation['top3_accuracy']:.4f}")
    names = evaluation["class_names"]
    report = evaluation["report"]
    rows = [{"class": name, **{k: _fmt(report[name][k], 3) for k in ("precision", "recall", "f1-score")},
             "support": int(report[name]["support"])} for name in names]
    print(_table(rows, ["class", "precision", "recall", "f1-score", "support"]))
    print("confusion matrix (rows: true class, columns: predicted):")
    matrix = evaluation["confusion_matrix"]
    print(_table([{"": name[:5], **{n[:5]: matrix[i][j] for j, n in enumerate(names)}}
                  for i, name in enumerate(names)], [""] + [n[:5] for n in names]))
    print(f"{len(evaluation['misclassified'])} of {evaluation['count']} test images misclassified")


def resolve_model_path(run_or_path, runs_dir=None):
    from pathlib import Path

    from .runs import load_run

    if str(run_or_path).endswith(".keras") and Path(run_or_path).is_file():
        return Path(run_or_path)
    run = load_run(run_or_path, runs_dir)
    if not run.model_path.exists():
        raise LookupError(f"run {run.id} has no saved model (status {run.status})")
    return run.model_path


def cmd_predict(args):
    from .predict import load_model, predict_files
    from .validation import check_int

    check_int("top_k", args.top_k, low=1, high=10)
    model = load_model(resolve_model_path(args.run, args.runs_dir))
    results = predict_files(model, args.images, top_k=args.top_k, tta=args.tta)
    if args.json:
        _print_json(results)
    else:
        for result in results:
            if result.get("error"):
                print(f"error: {result['file']}: {result['error']}", file=sys.stderr)
            else:
                guesses = ", ".join(f"{g['class']} {g['probability']:.1%}" for g in result["top_k"])
                print(f"{result['file']}: {guesses}")
    return EXIT_ERROR if any(r.get("error") for r in results) else 0


def cmd_worker(args):
    from .manager import run_worker

    return run_worker(args.run_path)


def cmd_bench(args):
    from .bench import SECTIONS, run_bench

    sections = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    for section in sections or ():
        if section not in SECTIONS:
            raise ValueError(f"--only: {section!r} is not a section: expected some of " + ", ".join(SECTIONS))
    run_bench(quick=args.quick, data_dir=args.data_dir, cache_dir=args.cache_dir, sections=sections,
              write=args.write)


# --- classroom labs: gradient descent, sharpness and loss landscapes ----------------------------

# Argument names of the lab commands, so that `flag_name` reports them as their flags.
LAB_FLAGS = {"function", "start", "steps", "rho", "iterations", "batches", "dims", "points", "span"}


def cmd_gd(args):
    from .gd import descend, get_function, parse_point, summarize
    from .validation import check_float, check_int

    function = get_function(args.function)
    start = parse_point(args.start) if args.start is not None else function.start
    lr = check_float("lr", args.lr if args.lr is not None else function.lr, low=0, high=100, low_open=True)
    steps = check_int("steps", args.steps if args.steps is not None else function.steps, low=0, high=1_000_000)
    path = descend(function, start, args.optimizer, lr, steps, momentum=args.momentum)
    result = {"function": function.name, "optimizer": args.optimizer, "start": [float(v) for v in start],
              "lr": lr, "requested_steps": steps, **summarize(function, path, steps)}
    if args.path:
        result["path"] = path.tolist()
    if args.json:
        return _print_json(result)
    x, y = result["final_point"]
    print(f"{args.optimizer} on {function.name} from ({start[0]:g}, {start[1]:g}), lr {lr:g}, {steps} steps:")
    print(f"  final point ({x:.6f}, {y:.6f}), f = {result['final_value']:.6f}"
          + ("  (diverged: the path was cut where it blew up)" if result["diverged"] else ""))
    nearest = result.get("nearest_minimum")
    if nearest:
        (mx, my), distance = nearest["point"], nearest["distance"]
        print(f"  nearest known minimum ({mx:.4f}, {my:.4f}), f = {nearest['value']:.4f}, {distance:.2g} away")


def cmd_sharpness(args):
    from .runs import load_run
    from .sharpness import measure_run

    run = load_run(args.run, args.runs_dir)
    result = measure_run(run, rho=args.rho, steps=args.steps, iterations=args.iterations, batches=args.batches,
                         batch_size=args.batch_size, seed=args.seed, data_dir=args.data_dir, refresh=args.refresh)
    if args.json:
        return _print_json(result)
    print(f"{run.id}  {run.name}: training loss {result['loss']:.4f} on {result['images']} training images")
    print(f"  sharpness (rho {result['rho']:g}, {result['steps']} ascent steps): {result['sharpness']:.4f} "
          f"(the loss rises to {result['perturbed_loss']:.4f})")
    print(f"  largest Hessian eigenvalue: {result['hessian_eigenvalue']:.4g} "
          f"({result['power_iterations']} power iterations)")


def cmd_landscape(args):
    from .runs import load_run
    from .sharpness import run_landscape

    run = load_run(args.run, args.runs_dir)
    result = run_landscape(run, dims=args.dims, points=args.points, span=args.span, batches=args.batches,
                           batch_size=args.batch_size, seed=args.seed, data_dir=args.data_dir,
                           refresh=args.refresh)
    if args.json:
        return _print_json(result)
    print(f"{run.id}  {run.name}: training loss along filter-normalised random directions "
          f"({result['images']} training images)")
    if "betas" in result:
        print(_table([{"b \\ a": f"{b:+.2f}", **{f"{a:+.2f}": f"{v:.3f}" for a, v in zip(result["alphas"], row)}}
                      for b, row in zip(result["betas"], result["losses"])],
                     ["b \\ a"] + [f"{a:+.2f}" for a in result["alphas"]]))
    else:
        print(_table([{"a": f"{a:+.2f}", "loss": f"{v:.4f}"} for a, v in zip(result["alphas"], result["losses"])],
                     ["a", "loss"]))


# --- hyperparameter search ----------------------------------------------------------------------

SEARCH_FLAGS = ("tuner", "space", "max_trials", "time_limit", "search_id", "workers")
SEARCH_BUDGET = ("max_trials", "epochs", "train_limit", "val_size", "time_limit")


def _search_settings(args):
    """The search flags given on the command line, checked (no TensorFlow yet); absent ones left out."""
    from . import search as search_lib
    from .validation import check_choice

    settings = {key: getattr(args, key) for key in SEARCH_BUDGET if getattr(args, key) is not None}
    space = search_lib.load_space(args.space) if args.space is not None else None
    defaults = dict(max_trials=10, epochs=space["epochs"] if space else 10, train_limit=0, val_size=5000,
                    time_limit=0)
    checked = search_lib.check_budget(**{**defaults, **settings})
    settings = {key: checked[key] for key in settings}
    if args.tuner is not None:
        settings["tuner"] = check_choice("tuner", args.tuner, search_lib.TUNERS)
    if space is not None:
        settings["space"] = space
    return settings


def cmd_search(args):
    import contextlib

    from . import search as search_lib
    from .data import find_dataset

    settings = _search_settings(args)
    existing = bool(args.search_id) and (search_lib.searches_dir(args.runs_dir) / args.search_id).is_dir()
    if not existing and "space" not in settings:
        raise InvalidArgument("space", None, ", ".join(search_lib.SPACES) + " or a JSON file")
    # Found on this machine (a worker joining from another one has its own copy); the chief trains nothing.
    data_dir = None
    if search_lib.role() != "chief" and (args.data_dir or not existing):
        data_dir = find_dataset(args.data_dir, args.cache_dir)  # a missing dataset fails before any folder
    if existing:
        search = search_lib.load_search(args.search_id, args.runs_dir)
        different = search_lib.difference(search, **settings)
        if different:
            raise InvalidArgument("search_id", args.search_id, f"a new id: that search exists with {different} "
                                  "(give only --search-id to continue it)")
    else:
        def create(search_id=args.search_id):
            return search_lib.new_search(args.runs_dir, space=args.space, data_dir=data_dir, name=args.name,
                                         search_id=search_id, workers=args.workers,
                                         **{k: v for k, v in settings.items() if k != "space"})

        search = search_lib.create_or_join(args.runs_dir, args.search_id, create) if args.search_id else create()
    if search.status == "running" and search_lib.role() != "worker":
        raise RuntimeError(f"search {search.id} is already running (pid {search.record.get('pid')}); "
                           f"stop it first with `python -m cifar_tf searches stop {search.id}`")
    from .tuner import run_search

    # With --json, stdout carries the JSON alone: progress goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        search = run_search(search.path, data_dir=data_dir)
    rows = search_lib.trials(search)
    if args.json:
        _print_json({"search": search.record, "trials": rows})
    else:
        _print_search(search, rows)
    return EXIT_ERROR if search.status == "failed" else 0


def _print_search(search, rows):
    from .search import best_trial, flat_rows

    record = search.record
    ended = f" ({record['ended_by']})" if record.get("ended_by") else ""
    print(f"\nsearch {search.id}, {record['name']}: {search.status}{ended}")
    if record.get("error"):
        print(f"  error: {record['error']}")
    table = flat_rows(rows)
    for row in table:
        row.pop("progress")
        for key, value in row.items():
            if isinstance(value, float):  # hyperparameters to 3 significant digits, scores to 4 decimals
                row[key] = f"{value:.3g}" if key in record["space"]["hyperparameters"] else _fmt(value)
    print(_table(table, list(table[0])) if table else "no trials yet")
    best = best_trial(search, rows)
    if best:
        test = f", test accuracy {best['test_accuracy']:.4f}" if best.get("test_accuracy") is not None else ""
        print(f"best: trial {best['trial']}, val_accuracy {best['val_accuracy']:.4f}{test} (run {best['run']})")
    print(f"search folder: {search.path}")


def cmd_searches_list(args):
    from .search import list_searches, summary

    found = list_searches(args.runs_dir)
    if args.json:
        return _print_json([search.record for search in found])
    rows = [summary(search) for search in found]
    for row in rows:
        row["best_val_accuracy"] = _fmt(row["best_val_accuracy"])
    print(_table(rows, list(rows[0])) if rows else "no searches yet")


def cmd_searches_show(args):
    from .search import load_search, trials

    search = load_search(args.search, args.runs_dir)
    rows = trials(search)
    if args.json:
        return _print_json({"search": search.record, "trials": rows})
    _print_search(search, rows)


def cmd_searches_stop(args):
    from .search import load_search, request_stop

    search = request_stop(load_search(args.search, args.runs_dir))
    print(f"search {search.id}: stop requested" if search.status == "running" else
          f"search {search.id} is {search.status}")


def cmd_search_worker(args):
    from .search import read_search
    from .tuner import run_search

    return EXIT_ERROR if run_search(read_search(args.search_path).path).status == "failed" else 0


# --- the parser ---------------------------------------------------------------------------------

def build_parser():
    parser = argparse.ArgumentParser(prog="python -m cifar_tf",
                                     description="CIFAR-10 Lab: train and study convolutional networks on CIFAR-10.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def add(name, handler, help_text, parent=commands):
        sub = parent.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    def data_flags(sub):
        sub.add_argument("--data-dir", help="folder holding cifar-10-batches-py (or that folder); "
                                            "default: $CIFAR10_DIR, then the caches")
        sub.add_argument("--cache-dir", help="download cache (default: $CIFAR_TF_CACHE or ~/.cache/cifar_tf)")

    def runs_flag(sub):
        sub.add_argument("--runs-dir", help="runs folder (default: $CIFAR_TF_RUNS_DIR or models/)")

    data = commands.add_parser("data", help="find, download and describe CIFAR-10")
    data_commands = data.add_subparsers(title="data commands", metavar="ACTION")
    download = add("download", cmd_data_download, "download the official archive into the cache "
                   "(or $CIFAR10_URL with $CIFAR10_MD5)", data_commands)
    download.add_argument("--cache-dir", help="where to keep it (default: $CIFAR_TF_CACHE or ~/.cache/cifar_tf)")
    info = add("info", cmd_data_info, "where the data was found and its class counts", data_commands)
    data_flags(info)
    info.add_argument("--json", action="store_true")

    archs = add("archs", cmd_archs, "list the architectures with their parameter counts")
    archs.add_argument("--json", action="store_true")

    train = add("train", cmd_train, "train a network and save the run")
    train.add_argument("--preset", help="a named recipe (seed001, seed002, fast, transfer, quick); "
                                        "flags override it")
    for flag, (field, help_text) in TRAIN_FLAGS.items():
        train.add_argument(flag, dest=field, metavar=field.upper(), help=help_text)
    train.add_argument("--arch-param", action="append", metavar="KEY=VALUE",
                       help="an architecture hyperparameter, e.g. depth=4 (repeatable)")
    train.add_argument("--name", help="a display name for the run")
    train.add_argument("--json", action="store_true", help="print run.json at the end")
    data_flags(train)
    runs_flag(train)

    evaluate = add("evaluate", cmd_evaluate, "a run's test-set scores, per-class report and confusion matrix")
    evaluate.add_argument("run", help="run id")
    evaluate.add_argument("--json", action="store_true")
    runs_flag(evaluate)

    predict = add("predict", cmd_predict, "classify image files with a saved run's model")
    predict.add_argument("run", help="run id, or a path to a .keras model")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--top-k", type=int, default=3, help="how many classes to show (1-10)")
    predict.add_argument("--tta", action="store_true", help="average with the mirrored image")
    predict.add_argument("--json", action="store_true")
    runs_flag(predict)

    runs = commands.add_parser("runs", help="list, show and delete saved runs")
    runs_commands = runs.add_subparsers(title="runs commands", metavar="ACTION")
    listing = add("list", cmd_runs_list, "every run, newest first", runs_commands)
    listing.add_argument("--json", action="store_true")
    show = add("show", cmd_runs_show, "one run's record", runs_commands)
    show.add_argument("run")
    show.add_argument("--json", action="store_true")
    delete = add("delete", cmd_runs_delete, "delete finished runs", runs_commands)
    delete.add_argument("run", nargs="+")
    for sub in (listing, show, delete):
        runs_flag(sub)
    gd = add("gd", cmd_gd, "gradient descent on a function of two variables (the playground's engine)")
    gd.add_argument("--function", default="seed004",
                    help="seed004 (report 004's function, the default), rosenbrock, himmelblau, saddle or bowl")
    gd.add_argument("--start", help="start point x,y (default: the function's own, 0,0 for seed004); "
                                    "write --start=-1.5,2 when x is negative")
    gd.add_argument("--optimizer", default="sgd", help="sgd, momentum, nesterov, adam or rmsprop")
    gd.add_argument("--lr", help="learning rate (default: the function's own, 0.01 for seed004)")
    gd.add_argument("--steps", help="number of steps (default: the function's own, 1000 for seed004)")
    gd.add_argument("--momentum", default=0.9, help="momentum of momentum and nesterov")
    gd.add_argument("--path", action="store_true", help="with --json: include every point of the path")
    gd.add_argument("--json", action="store_true")

    sharp = add("sharpness", cmd_sharpness, "a run's sharpness (loss rise within radius rho) and largest "
                "Hessian eigenvalue, on fixed training images; cached in the run folder")
    landscape = add("landscape", cmd_landscape, "a run's training loss along filter-normalised random "
                    "directions (Li et al. 2018)")
    sharp.add_argument("--rho", help="radius of the L2 ball around the weights (default 0.05)")
    sharp.add_argument("--steps", help="projected gradient ascent steps (default 5)")
    sharp.add_argument("--iterations", help="power iterations at most (default 20)")
    landscape.add_argument("--dims", default="1", help="1 (a line) or 2 (a grid)")
    landscape.add_argument("--points", help="points along each direction (default 21 in 1-D, 11 in 2-D)")
    landscape.add_argument("--span", help="how far along each direction, in filter norms (default 1)")
    for sub in (sharp, landscape):
        sub.add_argument("run", help="run id")
        sub.add_argument("--batches", help="fixed training batches to measure on (default 4)")
        sub.add_argument("--batch-size", help="images per batch (default 128)")
        sub.add_argument("--seed", help="seed of the images drawn and the random directions (default 0)")
        sub.add_argument("--refresh", action="store_true", help="compute again even if cached")
        sub.add_argument("--json", action="store_true")
        data_flags(sub)
        runs_flag(sub)
    bench = add("bench", cmd_bench, "measure training throughput, input pipelines, time to accuracy and the "
                "app's latency on this machine")
    bench.add_argument("--quick", action="store_true", help="a reduced version (about 5 minutes on 2 cores)")
    bench.add_argument("--write", nargs="?", const="docs/benchmarks.md", metavar="PATH",
                       help="also write the tables as Markdown (default path docs/benchmarks.md)")
    bench.add_argument("--only", metavar="SECTIONS", help="comma-separated: throughput, pipeline, presets, app")
    data_flags(bench)

    # Started by the app's run manager; not for people.
    worker = commands.add_parser("worker")
    worker.set_defaults(handler=cmd_worker)
    worker.add_argument("run_path")

    search = add("search", cmd_search, "search hyperparameters with KerasTuner; every trial is saved as a run")
    search.add_argument("--tuner", help="random, hyperband or bayesian (default: the space's own)")
    search.add_argument("--space", help="seed001, seed002 (the reference reports' searches) or a JSON file")
    search.add_argument("--max-trials", metavar="N", help="trials at most (default 10)")
    search.add_argument("--epochs", metavar="N", help="epochs per trial; Hyperband's most (default: the space's)")
    search.add_argument("--train-limit", metavar="N", help="train on a stratified subset of this many images; 0 is all")
    search.add_argument("--val-size", metavar="N", help="validation images, taken from the training set (default 5000)")
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
    searches_list = add("list", cmd_searches_list, "every search, newest first", searches_commands)
    searches_list.add_argument("--json", action="store_true")
    searches_show = add("show", cmd_searches_show, "one search's trials and best result", searches_commands)
    searches_show.add_argument("search", help="search id")
    searches_show.add_argument("--json", action="store_true")
    searches_stop = add("stop", cmd_searches_stop, "ask a running search to stop", searches_commands)
    searches_stop.add_argument("search", help="search id")
    for sub in (searches_list, searches_show, searches_stop):
        runs_flag(sub)
    # Started by the app's Search page; not for people.
    search_worker = commands.add_parser("search-worker")
    search_worker.set_defaults(handler=cmd_search_worker)
    search_worker.add_argument("search_path")
    return parser
