"""The Reports page's pieces: a report's figures beside ours as a table, a lesson's runs as one
comparison (curves, per-class accuracy with the report's own, confusion matrices), report 003's
sharpness grid. Pandas and Altair only; the page lays them out."""
import pandas as pd

from ..labs import report_lessons
from ..labs.reports import CLASSES, get_report
from ..runs.outputs import read_evaluation
from .comparison import per_class_accuracy, run_labels
from .evaluation import confusion_chart
from .formatting import as_number, start_time

SIDE_BY_SIDE_COLUMNS = ["figure", "report", "ours", "difference", "our run", "why they may differ"]


def _value(value, percent):
    if value is None:
        return "—"
    return f"{value:.2%}" if percent else f"{value:.4f}"


def _difference(value, percent):
    if value is None:
        return "—"
    return f"{value * 100:+.2f} points" if percent else f"{value:+.4f}"


def side_by_side_table(report, runs):
    """The report's figures, ours, the difference and why they may differ, as text cells."""
    rows = report_lessons.side_by_side(report, runs)
    table = pd.DataFrame([{
        "figure": row["figure"], "report": _value(row["report"], row["percent"]),
        "ours": _value(row["ours"], row["percent"]), "difference": _difference(row["difference"], row["percent"]),
        "our run": row["run"].name if row["run"] is not None else ("computed here" if row["arm"] == "gd" else "—"),
        "why they may differ": row["why"]} for row in rows], columns=SIDE_BY_SIDE_COLUMNS)
    return table


def lesson_figures_table(report, lesson_id, runs):
    """`side_by_side_table` restricted to one lesson's figures."""
    report = get_report(report) if isinstance(report, str) else report
    keep = [i for i, figure in enumerate(report.figures) if figure.lesson == lesson_id]
    return side_by_side_table(report, runs).iloc[keep].reset_index(drop=True)


def per_class_with_report(report, runs):
    """`comparison.per_class_accuracy` of the runs, with the report's own per-class figures as a
    first column when it gives them."""
    report = get_report(report) if isinstance(report, str) else report
    ours = per_class_accuracy(runs)
    theirs = {figure.metric.split(":", 1)[1]: figure.value for figure in report.figures
              if figure.metric.startswith("class:")}
    if not theirs:
        return ours
    column = pd.Series({name: theirs.get(name) for name in CLASSES}, name=f"report {report.id}", dtype="float64")
    table = pd.concat([column, ours], axis=1) if len(ours.columns) else column.to_frame()
    table.index.name = "class"
    return table


def confusion_charts(runs, normalize=True):
    """`(label, chart)` for each run with a saved confusion matrix, in order."""
    charts = []
    for label, run in zip(run_labels(runs), runs):
        evaluation = read_evaluation(run, missing_ok=True, corrupt_ok=True) or {}
        matrix, names = evaluation.get("confusion_matrix"), evaluation.get("class_names")
        if isinstance(matrix, list) and isinstance(names, list) and matrix and len(matrix) == len(names):
            charts.append((label, confusion_chart(matrix, names, normalize=normalize).properties(height=320)))
    return charts


def sharpness_table(runs):
    """Report 003's grid as the page shows it: one row per run."""
    table = pd.DataFrame(report_lessons.sharpness_rows(runs))
    for column in ("test accuracy", "gap (val loss − loss)", "sharpness (ρ 0.05)", "λ max"):
        if column in table:
            table[column] = table[column].map(as_number).astype("float64")
    return table


def start_label(entry):
    """A start of a lesson in a picker: when, at which scale, how many runs and how many finished."""
    done = sum(run.status in report_lessons.FINISHED for run in entry["runs"])
    scale = report_lessons.SCALE_LABELS.get(entry["scale"], entry["scale"] or "?")
    return f"{start_time(entry['start'])} · {scale} · {done}/{len(entry['runs'])} finished"


def group_label(group):
    """A lesson's start among every lesson's (the Runs page's picker): its report and title first."""
    return f"Report {group['report']} · {group['title']} · {start_label(group)}"
