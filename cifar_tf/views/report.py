"""A run's report, and a lesson's runs as one, each a self-contained HTML file: it opens offline,
in any browser, years later.

A run: configuration, headline numbers, learning curves (inline SVG), the per-class report, the
confusion matrix and the most confident mistakes (inline PNG). A lesson: its runs' numbers in one
table, their curves overlaid, their accuracy on each class side by side, their confusion matrices
side by side and the settings that set them apart. One file each, with its own styles and no
script: the Jinja2 templates in `templates/`, autoescaped, so every string from a run or a user is
escaped.
"""
import base64
import io

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from ..evaluation.metrics import most_confident_mistakes
from ..labs.report_lessons import SCALE_LABELS, run_lesson
from ..runs.files import now
from ..runs.outputs import load_probabilities, read_evaluation
from .calibration import calibration_section
from .comparison import config_diff, flat_config, per_class_accuracy, run_labels, settings_table
from .evaluation import probability_caption, report_table
from .formatting import as_number, format_seconds, plural, start_time
from .reports import start_label
from .pictures import enlarge
from .svg import line_chart

MISTAKES_SHOWN = 12
TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("cifar_tf.views", "templates"), autoescape=True,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                               undefined=jinja2.StrictUndefined)


def run_report(run, *, owner=None, dataset=None):
    """The report of `run` as an HTML string. `dataset` (a loaded CIFAR-10, optional) supplies
    the test images of its mistakes; without it the report says they are not included."""
    record = run.record
    metrics = _metrics(run)
    evaluation = read_evaluation(run, corrupt_ok=True)
    subtitle = [f"run {run.id}", str(record.get("arch") or ""), str(run.status)]
    if owner:
        subtitle.append(f"by {owner}")
    if record.get("created_at"):
        subtitle.append(f"created {str(record['created_at'])[:16].replace('T', ' ')}")
    return TEMPLATES.get_template("report.html").render(
        name=run.name, subtitle=" · ".join(subtitle), lesson=lesson_sentence(run), numbers=_numbers(run, metrics),
        charts=_curves(run),
        per_class=_per_class(evaluation) if evaluation else None,
        confusion=_confusion(evaluation) if evaluation else None,
        mistakes=_mistakes(run, evaluation, dataset) if evaluation else None,
        calibration=Markup(calibration_section(run, dataset)) if evaluation else None,  # escaped there
        configuration=_configuration(run), made=now())


def lesson_report(group):
    """The runs one start of a report's lesson trained (a `lesson_groups` entry) as one HTML page."""
    runs = group["runs"]
    labels = run_labels(runs)
    per_class = per_class_accuracy(runs)
    differences = config_diff(runs)
    confusions = []
    for label, run in zip(labels, runs):
        evaluation = read_evaluation(run, missing_ok=True, corrupt_ok=True)
        if evaluation:
            confusions.append((label, _confusion(evaluation)))
    return TEMPLATES.get_template("lesson.html").render(
        name=f"Report {group['report']} · {group['title']}", subtitle=f"started {start_label(group)}",
        lesson=(f"{plural(len(runs), 'run')} of lesson {group['lesson']}, started together"
                + (f" ({SCALE_LABELS[group['scale']]})" if group.get("scale") in SCALE_LABELS else "")
                + ". Each run's own report has its mistakes and calibration."),
        runs=_runs_table(runs, labels),
        charts=_overlaid_curves(runs, labels),
        per_class=None if per_class.empty else {
            "columns": ["class", *per_class.columns],
            "rows": [(str(name), *(_percent(value) for value in row)) for name, row in per_class.iterrows()]},
        confusions=confusions,
        differences=None if differences.empty else {
            "columns": ["setting", *differences.columns],
            "rows": [(str(key), *map(str, row)) for key, row in differences.iterrows()]},
        made=now())


def _runs_table(runs, labels):
    columns = ["run", "status", "test accuracy", "best val accuracy", "epochs", "training time", "parameters"]
    rows = []
    for label, run in zip(labels, runs):
        numbers = dict(_numbers(run, _metrics(run)))
        rows.append((label, str(run.status), *(numbers[c] for c in columns[2:])))
    return {"columns": columns, "rows": rows}


def _overlaid_curves(runs, labels):
    """Accuracy and loss, a line per run: on the validation images, or on the training images where
    no run of the lesson recorded it on validation images."""
    epochs = [run.epochs() for run in runs]   # each run's file read once, for both charts
    charts = []
    for key, percent in (("accuracy", True), ("loss", False)):
        validated = any(_ok(e.get(f"val_{key}")) for run_epochs in epochs for e in run_epochs)
        where, recorded = ("Validation", f"val_{key}") if validated else ("Training", key)
        lines = _drawn({label: _series(run_epochs, recorded) for label, run_epochs in zip(labels, epochs)})
        if lines:
            charts.append(Markup(line_chart(lines, title=f"{where} {key}", y_label=key, percent=percent)))
    return charts


def lesson_sentence(run):
    """Which report and lesson the run belongs to, in a sentence; None for a run no lesson started."""
    found = run_lesson(run)
    if found is None:
        return None
    details = [f"its run “{found['arm_label']}”" if found["arm_label"] else "",
               SCALE_LABELS.get(found["scale"], ""), f"started {start_time(found['start'])}" if found["start"] else ""]
    return (f"One of the runs of report {found['report']}'s lesson “{found['title']}” ({found['lesson']})"
            + (f": {', '.join(d for d in details if d)}" if any(details) else "")
            + ". The Reports page sets its figures beside the report's; the lesson's report (Runs page, "
            "its lesson picked) shows all its runs together.")


def _numbers(run, metrics):
    """(label, value) of the headline numbers."""
    record = run.record
    return [("test accuracy", _percent(metrics.get("test_accuracy"))),
            ("test loss", _fixed(metrics.get("test_loss"), 3)),
            ("weighted F1", _fixed(metrics.get("weighted_f1"), 3)),
            ("top-3 accuracy", _percent(metrics.get("top3_accuracy"))),
            ("best val accuracy", _percent(metrics.get("best_val_accuracy"))),
            ("training time", format_seconds(metrics.get("train_seconds")) if _ok(metrics.get("train_seconds"))
             else "–"),
            ("parameters", f"{int(record['params']):,}" if _ok(record.get("params")) else "–"),
            # As far as the curves below go: 0.48 for a run a time budget stopped in its first epoch.
            ("epochs", f"{as_number(run.epochs_trained()):g}" if _ok(run.epochs_trained()) else "0")]


def _curves(run):
    """The loss and accuracy charts (SVG that views/svg.py escaped itself), or [] without epochs."""
    epochs = run.epochs()
    if not epochs:
        return []
    loss = _drawn({"training": _series(epochs, "loss"), "validation": _series(epochs, "val_loss")})
    accuracy = _drawn({"training": _series(epochs, "accuracy"), "validation": _series(epochs, "val_accuracy")})
    return [Markup(line_chart(loss, title="Loss", y_label="loss")),
            Markup(line_chart(accuracy, title="Accuracy", y_label="accuracy", percent=True))]


def _series(epochs, key):
    """(epoch, value or None) of one metric through a run's epoch records."""
    return [(as_number(e.get("epoch")), _value(e.get(key))) for e in epochs if _ok(e.get("epoch"))]


def _drawn(lines):
    """The lines with a point to draw (a run without validation images has no validation curve)."""
    return {label: line for label, line in lines.items() if any(y is not None for _, y in line)}


def _metrics(run):
    metrics = run.record.get("metrics")
    return metrics if isinstance(metrics, dict) else {}


def _per_class(evaluation):
    table = report_table(evaluation)
    rows = []
    for name, row in table.iterrows():
        cells = [_fixed(row[c], 3) for c in ("precision", "recall", "f1")]
        support = "" if pd.isna(row["support"]) else f"{int(row['support']):,}"
        rows.append((str(name), [*cells, support]))
    return {"columns": list(table.columns), "rows": rows}


def _confusion(evaluation):
    """Each true class's row of (count, background, ink): shaded by its share of the row."""
    names, matrix = evaluation["class_names"], np.asarray(evaluation["confusion_matrix"], dtype=np.int64)
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    rows = []
    for i, name in enumerate(names):
        shares = matrix[i] / totals[i, 0]
        rows.append((str(name), [(int(count), f"rgba(49,130,189,{share:.2f})", "#fff" if share > 0.55 else "#222")
                                 for count, share in zip(matrix[i], shares)]))
    return {"names": [str(n) for n in names], "rows": rows}


def _mistakes(run, evaluation, dataset):
    """{"figures": [...]} of the most confident mistakes, or {"figures": [], "note": why none}."""
    if dataset is None:
        return {"figures": [], "note": "The CIFAR-10 test images were not on the machine that made this report."}
    try:
        probabilities = load_probabilities(run, count=len(dataset.y_test))
    except ValueError as error:
        return {"figures": [], "note": str(error)}
    names = evaluation["class_names"]
    figures = []
    for index in most_confident_mistakes(probabilities, dataset.y_test, k=MISTAKES_SHOWN):
        answer = probability_caption(probabilities[index], names, 1)
        figures.append({"index": index, "png": _png(dataset.x_test[index]),
                        "caption": f"#{index}: {names[int(dataset.y_test[index])]} → {answer}"})
    return {"figures": figures, "note": "It made no mistakes on the test set."}


def _configuration(run):
    """(setting, value) rows, tags but the owner's last; None when nothing was recorded."""
    if not flat_config(run):
        return None
    table = settings_table([run])
    tags = {key: value for key, value in (run.record.get("tags") or {}).items() if key != "owner"}
    return ([(str(key), str(value)) for key, value in zip(table.index, table.iloc[:, 0])]
            + [(f"tag: {key}", str(value)) for key, value in tags.items()])


def _png(image):
    buffer = io.BytesIO()
    enlarge(image, 128).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _ok(value):
    return not np.isnan(as_number(value))


def _value(value):
    return as_number(value) if _ok(value) else None


def _percent(value):
    return f"{as_number(value):.1%}" if _ok(value) else "–"


def _fixed(value, digits):
    return f"{as_number(value):.{digits}f}" if _ok(value) else ""
