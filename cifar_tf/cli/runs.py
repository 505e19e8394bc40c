"""`runs list|show|delete|wait|groups|compare`, `evaluate` and `predict`: saved runs and what they learnt."""
import sys
import time

from . import instruments, knobs
from .common import EXIT_ERROR, command, fmt, print_json, ray_flag, runs_flag, table

WAIT_POLL_S = 1.0


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


def cmd_runs_groups(args):
    from ..runs.store import list_runs
    from ..views.groups import group_runs, groups_table

    found, _ = list_runs(args.runs_dir)
    groups = group_runs(found)
    rows = groups_table(groups).assign(ids=[[run.id for run in group.runs] for group in groups])
    if args.json:
        return print_json({"groups": _json_rows(rows)})
    shown = [{"group": row["group"], "n": row["n"], "test accuracy": fmt(row["test accuracy"]),
              "± std": fmt(row["± std"]), "min": fmt(row["min"]), "max": fmt(row["max"]),
              "best val": fmt(row["best val accuracy"])} for row in _json_rows(rows)]
    print(table(shown, ["group", "n", "test accuracy", "± std", "min", "max", "best val"]) if shown else "no runs yet")


def cmd_runs_compare(args):
    """Whether the groups of two runs differ in test accuracy by more than seed noise."""
    from ..runs.store import list_runs, load_run
    from ..views.groups import compare_groups, group_of, group_runs, per_class_differences

    for run_id in (args.first, args.second):
        load_run(run_id, args.runs_dir)   # a run that is not there (or unreadable) is refused by name
    groups = group_runs(list_runs(args.runs_dir)[0])
    first, second = (group_of(run_id, groups) for run_id in (args.first, args.second))
    if first is second:
        raise ValueError(f"{args.first} and {args.second} are runs of one configuration: pick runs of two")
    difference, sentence = compare_groups(first, second)
    per_class = per_class_differences(first, second)
    if args.json:
        return print_json({"first": first.label, "second": second.label, **difference.__dict__,
                           "beyond_noise": difference.real, "verdict": sentence,
                           "per_class": _json_rows(per_class)})
    print(sentence)
    beyond = per_class[per_class["beyond noise"]] if not per_class.empty else per_class
    for row in _json_rows(beyond):
        print(f"  {row['class']}: {row['difference'] * 100:+.1f} points, beyond noise")


def _json_rows(frame):
    """A DataFrame's rows as dicts of plain values, NaN as None."""
    return [{key: (None if isinstance(value, float) and value != value else
                   value.item() if hasattr(value, "item") else value) for key, value in row.items()}
            for row in frame.astype(object).to_dict("records")]


def check_ray_flag(args):
    if args.ray is not None:
        from ..validation import check_address

        check_address("ray", args.ray)


def cmd_runs_wait(args):
    from .. import settings
    from ..runs.manager import RunManager
    from ..runs.store import list_runs, load_run

    check_ray_flag(args)
    if not args.run and not args.all:
        raise ValueError("name the runs to wait for (run ids), or pass --all for every queued and running run")
    runs = [load_run(run_id, args.runs_dir) for run_id in args.run]  # an unknown id is refused first
    if args.all:
        runs += [run for run in list_runs(args.runs_dir)[0] if run.is_active() and run.id not in args.run]
    # Runs on a Ray cluster are collected by a manager connected to it: by default the one they name.
    clusters = [(run.record.get("executor") or {}).get("cluster") for run in runs]
    address = args.ray or settings.ray_address() or next((cluster for cluster in clusters if cluster), None)
    return wait_for_runs(RunManager(args.runs_dir, ray_address=address), [run.id for run in runs])


def wait_for_runs(manager, run_ids):
    """Keep `manager` polling (it starts queued runs and collects remote ones) until every run in
    `run_ids` has ended; print where each starts, why one cannot, and how each ends. 0 when all
    completed."""
    from ..runs.store import RunNotFound, load_run
    from ..views.formatting import waiting_reason, where_it_runs

    pending, seen, completed = list(dict.fromkeys(run_ids)), {}, True
    while pending:
        manager.poll()
        for run_id in list(pending):
            try:
                run = load_run(run_id, manager.runs_dir)
            except RunNotFound:
                print(f"{run_id} deleted", flush=True)
                pending.remove(run_id)
                completed = False
                continue
            if waiting_reason(run) and seen.get(run_id) != waiting_reason(run):  # no Ray node can hold it
                seen[run_id] = waiting_reason(run)
                print(f"{run_id} cannot start as things are: {seen[run_id]}", flush=True)
            if run.status == "running" and seen.get(run_id) != where_it_runs(run):
                seen[run_id] = where_it_runs(run)
                print(f"{run_id} running {seen[run_id]}", flush=True)
            if not run.is_active():
                pending.remove(run_id)
                completed &= run.status == "completed"
                accuracy = (run.record.get("metrics") or {}).get("test_accuracy")
                detail = (f": {run.record.get('error')}" if run.status == "failed" else
                          f": test accuracy {accuracy:.4f}" if accuracy is not None else "")
                print(f"{run_id} {run.status}{detail}", flush=True)
        if pending:
            time.sleep(WAIT_POLL_S)
    return 0 if completed else EXIT_ERROR


def cmd_evaluate(args):
    from ..runs.store import load_run

    run = load_run(args.run, args.runs_dir)
    evaluation = run.evaluation()
    if evaluation is None:
        raise LookupError(f"run {run.id} has no evaluation (status {run.status})")
    calibration = instruments.calibration(run, args) if args.calibration else None
    if args.json:
        return print_json({**evaluation, "calibration": calibration} if calibration else evaluation)
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
    if calibration:
        instruments.print_calibration(calibration)


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
    from .. import NUM_CLASSES
    from ..evaluation.predict import load_model, predict_files
    from ..validation import check_int

    check_int("top_k", args.top_k, low=1, high=NUM_CLASSES)   # before the model loads; predict_files checks it too
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
    instruments.calibration_flags(evaluate)
    runs_flag(evaluate)

    predict = command(commands, "predict", cmd_predict, "classify image files with a saved run's model")
    predict.add_argument("run", help="run id, or a path to a .keras model")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--top-k", type=int, default=3, help="how many classes to show (1-10)")
    predict.add_argument("--tta", action="store_true", help="test-time augmentation: average 6 views (the image, its mirror, both moved 1 pixel down-right and up-left)")
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
    wait = command(runs_commands, "wait", cmd_runs_wait, "wait until runs end (starting queued ones, "
                                                        "collecting those on a Ray cluster); exit 0 if all completed")
    wait.add_argument("run", nargs="*", help="run ids")
    wait.add_argument("--all", action="store_true", help="every run queued or running now")
    ray_flag(wait)
    groups = command(runs_commands, "groups", cmd_runs_groups, "runs of one configuration (all settings but the "
                                                              "seed) together: n, mean ± std of test accuracy")
    groups.add_argument("--json", action="store_true")
    compare = command(runs_commands, "compare", cmd_runs_compare, "whether the configurations of two runs differ "
                                                                  "in test accuracy by more than seed noise")
    compare.add_argument("first", metavar="RUN_A")
    compare.add_argument("second", metavar="RUN_B")
    compare.add_argument("--json", action="store_true")
    for sub in (listing, show, delete, wait, groups, compare):
        runs_flag(sub)
    knobs.add_run_commands(runs_commands)   # set, pause, resume, fork
