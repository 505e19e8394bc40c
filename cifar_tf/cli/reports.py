"""`reports [ID] [--json]`: the five reports the lab grew from, their lessons and their figures
beside ours; `reports ID --start LESSON` trains a lesson's runs here, one after the other."""
from .common import command, data_flags, print_json, runs_flag, table


def _report_json(report, runs):
    from ..labs import report_lessons
    from ..labs.reports import summary_dict

    rows = report_lessons.side_by_side(report, runs)
    return {**summary_dict(report),
            "lessons": [report_lessons.lesson_dict(lesson) for lesson in report_lessons.report_lessons(report.id)],
            "side_by_side": [{"figure": row["figure"], "report": row["report"], "ours": row["ours"],
                              "difference": row["difference"], "run": row["run"].id if row["run"] else None,
                              "why": row["why"]} for row in rows]}


def _print_report(report, runs):
    from ..labs import report_lessons
    from ..training.presets import preset_notes
    from ..views.reports import side_by_side_table

    print(f"Report {report.id}: {report.title}  ({report.file})")
    print(f"\nQuestion: {report.question}\n\nSetup:")
    for line in report.setup:
        print(f"  - {line}")
    print(f"\nFindings: {report.findings}")
    for name, text in report.extra.items():
        print(f"  {name.replace('_', ' ')}: {text}")
    print("\nLessons:")
    for lesson in report_lessons.report_lessons(report.id):
        print(f"  {lesson.id} ({lesson.kind}): {lesson.title}")
        print(f"    scaled: {lesson.scaled_note}\n    full:   {lesson.full_note}")
        for preset in dict.fromkeys(arm.preset for arm in lesson.arms):
            print(f"    preset {preset}: {preset_notes(preset)['description']}")
            for difference in preset_notes(preset)["differences"]:
                print(f"      differs from the report: {difference}")
        for arm in lesson.arms:
            print(f"    - {arm.name}: preset {arm.preset}" + (f", changed: {arm.overrides}" if arm.overrides else ""))
        if lesson.kind == "search":
            budget = report_lessons.search_budget(lesson, "scaled")
            print("    scaled, from the command line: python -m cifar_tf search --space {space} --max-trials "
                  "{max_trials} --epochs {epochs} --train-limit {train_limit} --val-size {val_size}".format(**budget))
    rows = side_by_side_table(report, runs)
    if len(rows):
        print("\nThe report's figures beside ours:")
        print(table(rows.to_dict("records"), list(rows.columns)))


def cmd_reports(args):
    from ..labs.reports import REPORTS, get_report
    from ..runs.store import list_runs

    runs = list_runs(args.runs_dir)[0]
    if args.start:
        return _start(args, runs)
    if args.report is None:
        if args.json:
            return print_json([_report_json(report, runs) for report in REPORTS.values()])
        print(table([{"id": r.id, "title": r.title, "figures": len(r.figures)} for r in REPORTS.values()],
                    ["id", "title", "figures"]))
        print("\n`python -m cifar_tf reports ID` shows one: its summary, lessons and figures beside ours.")
        return 0
    report = get_report(args.report)
    if args.json:
        return print_json(_report_json(report, runs))
    _print_report(report, runs)
    return 0


def _start(args, runs):
    """Train a lesson's runs in this process, then show the report's figures beside ours."""
    from ..data.cifar10 import find_dataset
    from ..labs import report_lessons
    from ..labs.reports import get_report
    from ..runs.store import list_runs
    from ..validation import InvalidArgument
    from .train import _Trainer

    lesson = report_lessons.get_lesson(args.start)
    report = get_report(args.report or lesson.report)
    if lesson.report != report.id:
        raise InvalidArgument("start", args.start, f"a lesson of report {report.id}: "
                              + ", ".join(x.id for x in report_lessons.report_lessons(report.id)))
    scale = "full" if args.full else "scaled"
    if lesson.kind == "gd":
        x, y, value = report_lessons.gd_minimum()
        print(f"gradient descent ends at ({x:.4f}, {y:.4f}), f = {value:.4f}")
        return 0
    if lesson.kind == "search":
        raise InvalidArgument("start", args.start, "a lesson of runs: start a search lesson with `python -m "
                              "cifar_tf search` (`reports " + report.id + "` prints the command)")
    missing = report_lessons.missing_weights(lesson, scale)
    if missing:
        raise RuntimeError(report_lessons.weights_message(missing[0]))
    find_dataset(args.data_dir, args.cache_dir)
    print(f"lesson {lesson.id}, {report_lessons.SCALE_LABELS[scale]}: "
          + (lesson.full_note if args.full else lesson.scaled_note))
    start, done = report_lessons.submit_lesson(_Trainer(args, print), lesson.id, scale)
    for run in done:
        print(f"run {run.id} {run.status}: {run.name}")
    _print_report(report, list_runs(args.runs_dir)[0])
    return 0


def add_commands(commands):
    sub = command(commands, "reports", cmd_reports, "the five reports the lab grew from: their summaries, their "
                  "experiments as lessons, and their figures beside ours")
    sub.add_argument("report", nargs="?", help="000 to 004 (default: list them all)")
    sub.add_argument("--json", action="store_true", help="every report (or the one given) as JSON, with its lessons")
    sub.add_argument("--start", metavar="LESSON", help="train a lesson's runs here, one after the other "
                                                       "(scaled for a CPU unless --full)")
    sub.add_argument("--full", action="store_true", help="with --start: at the report's size (a GPU)")
    data_flags(sub)
    runs_flag(sub)
