"""`runs list|show|delete`, `evaluate` and `predict`: saved runs and what they learnt."""
import sys

from .common import EXIT_ERROR, command, fmt, print_json, runs_flag, table


def _run_row(run):
    metrics = run.record.get("metrics") or {}
    return {"id": run.id, "name": run.name, "arch": run.record.get("arch"), "status": run.status,
            "epochs": run.record.get("epochs_completed"),
            "test_accuracy": fmt(metrics.get("test_accuracy")),
            "created": str(run.record.get("created_at", ""))[:19].replace("T", " ")}


def cmd_runs_list(args):
    from ..runs.store import list_runs

    found, problems = list_runs(args.runs_dir)
    if args.json:
        return print_json({"runs": [run.record for run in found], "problems": problems})
    print(table([_run_row(run) for run in found], ["id", "name", "arch", "status", "epochs",
                                                     "test_accuracy", "created"]) if found else "no runs yet")
    for problem in problems:
        print(f"skipped: {problem}", file=sys.stderr)


def cmd_runs_show(args):
    from ..runs.store import load_run

    run = load_run(args.run, args.runs_dir)
    if args.json:
        return print_json(run.record)
    record = run.record
    print(f"{run.id}  {run.name}\n  arch {record.get('arch')}, {record.get('params') or '?'} parameters, "
          f"status {run.status}, {record.get('epochs_completed')} epochs")
    for key, value in (record.get("metrics") or {}).items():
        print(f"  {key}: {value}")
    if record.get("error"):
        print(f"  error: {record['error']}")
    print("  config: " + ", ".join(f"{k}={v}" for k, v in record.get("config", {}).items()))


def cmd_runs_delete(args):
    from ..runs.store import delete_run

    for run_id in args.run:
        delete_run(run_id, args.runs_dir)
        print(f"deleted {run_id}")


def cmd_evaluate(args):
    from ..runs.store import load_run

    run = load_run(args.run, args.runs_dir)
    evaluation = run.evaluation()
    if evaluation is None:
        raise LookupError(f"run {run.id} has no evaluation (status {run.status})")
    if args.json:
        return print_json(evaluation)
    print(f"{run.id}  {run.name}: accuracy {evaluation['accuracy']:.4f}, loss {evaluation['loss']:.4f}, "
          f"weighted F1 {evaluation['weighted_f1']:.4f}, top-3 accuracy {evaluation['top3_accuracy']:.4f}")
    names = evaluation["class_names"]
    report = evaluation["report"]
    rows = [{"class": name, **{k: fmt(report[name][k], 3) for k in ("precision", "recall", "f1-score")},
             "support": int(report[name]["support"])} for name in names]
    print(table(rows, ["class", "precision", "recall", "f1-score", "support"]))
    print("confusion matrix (rows: true class, columns: predicted):")
    matrix = evaluation["confusion_matrix"]
    print(table([{"": name[:5], **{n[:5]: matrix[i][j] for j, n in enumerate(names)}}
                  for i, name in enumerate(names)], [""] + [n[:5] for n in names]))
    print(f"{len(evaluation['misclassified'])} of {evaluation['count']} test images misclassified")


def resolve_model_path(run_or_path, runs_dir=None):
    from pathlib import Path

    from ..runs.store import load_run

    if str(run_or_path).endswith(".keras") and Path(run_or_path).is_file():
        return Path(run_or_path)
    run = load_run(run_or_path, runs_dir)
    if not run.model_path.exists():
        raise LookupError(f"run {run.id} has no saved model (status {run.status})")
    return run.model_path


def cmd_predict(args):
    from ..evaluation.predict import load_model, predict_files
    from ..validation import check_int

    check_int("top_k", args.top_k, low=1, high=10)
    model = load_model(resolve_model_path(args.run, args.runs_dir))
    results = predict_files(model, args.images, top_k=args.top_k, tta=args.tta)
    if args.json:
        print_json(results)
    else:
        for result in results:
            if result.get("error"):
                print(f"error: {result['file']}: {result['error']}", file=sys.stderr)
            else:
                guesses = ", ".join(f"{g['class']} {g['probability']:.1%}" for g in result["top_k"])
                print(f"{result['file']}: {guesses}")
    return EXIT_ERROR if any(r.get("error") for r in results) else 0



def add_commands(commands):
    evaluate = command(commands, "evaluate", cmd_evaluate, "a run's test-set scores, per-class report and confusion matrix")
    evaluate.add_argument("run", help="run id")
    evaluate.add_argument("--json", action="store_true")
    runs_flag(evaluate)

    predict = command(commands, "predict", cmd_predict, "classify image files with a saved run's model")
    predict.add_argument("run", help="run id, or a path to a .keras model")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--top-k", type=int, default=3, help="how many classes to show (1-10)")
    predict.add_argument("--tta", action="store_true", help="average with the mirrored image")
    predict.add_argument("--json", action="store_true")
    runs_flag(predict)

    runs = commands.add_parser("runs", help="list, show and delete saved runs")
    runs_commands = runs.add_subparsers(title="runs commands", metavar="ACTION")
    listing = command(runs_commands, "list", cmd_runs_list, "every run, newest first")
    listing.add_argument("--json", action="store_true")
    show = command(runs_commands, "show", cmd_runs_show, "one run's record")
    show.add_argument("run")
    show.add_argument("--json", action="store_true")
    delete = command(runs_commands, "delete", cmd_runs_delete, "delete finished runs")
    delete.add_argument("run", nargs="+")
    for sub in (listing, show, delete):
        runs_flag(sub)
