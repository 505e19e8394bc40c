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
    known = {f for f in TrainConfig.__dataclass_fields__} | {"preset", "top_k", "arch-param", "augment"}
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
    # Started by the app's run manager; not for people.
    worker = commands.add_parser("worker")
    worker.set_defaults(handler=cmd_worker)
    worker.add_argument("run_path")
    return parser
