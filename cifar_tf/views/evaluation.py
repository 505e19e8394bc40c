"""One run's evaluation as the Evaluate page shows it: the per-class report, the confusion matrix
(clickable), and galleries of test images with the model's answers."""
import altair as alt
import numpy as np
import pandas as pd

from .formatting import as_number, percent
from .pictures import enlarge

REPORT_COLUMNS = ["precision", "recall", "f1", "support"]
_SUMMARY_ROWS = ("accuracy", "macro avg", "weighted avg")


def report_table(evaluation):
    """The per-class report (precision, recall, f1, support) with accuracy, macro and weighted
    averages as the last rows, like scikit-learn's text report."""
    report = evaluation.get("report") or {}
    names = list(evaluation.get("class_names") or [k for k in report if k not in _SUMMARY_ROWS])
    rows = {}
    for name in [*names, "macro avg", "weighted avg"]:
        scores = report.get(name)
        if isinstance(scores, dict):
            rows[name] = [as_number(scores.get("precision")), as_number(scores.get("recall")),
                          as_number(scores.get("f1-score")), as_number(scores.get("support"))]
    if "accuracy" in report:
        total = sum(rows[name][3] for name in names if name in rows)
        # sklearn's text report puts accuracy in the f1 column, beside the total support.
        accuracy_row = [np.nan, np.nan, as_number(report["accuracy"]), total]
        rows = {**{k: v for k, v in rows.items() if k in names}, "accuracy": accuracy_row,
                **{k: v for k, v in rows.items() if k not in names}}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=REPORT_COLUMNS)
    table["support"] = pd.array(table["support"].round(), dtype="Int64")
    table.index.name = "class"
    return table


def confusion_frame(matrix, class_names):
    """Long table of a confusion matrix: true, predicted, count and rate (share of the true class)."""
    matrix = np.asarray(matrix, dtype=np.int64)
    totals = matrix.sum(axis=1, keepdims=True)
    rates = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
    rows = [{"true": class_names[i], "predicted": class_names[j], "count": int(matrix[i, j]),
             "rate": float(rates[i, j])}
            for i in range(matrix.shape[0]) for j in range(matrix.shape[1])]
    return pd.DataFrame(rows, columns=["true", "predicted", "count", "rate"])


def confusion_chart(matrix, class_names, normalize=False):
    """Heatmap of a confusion matrix with its numbers written in; clicking a cell selects it
    (a point selection named "cell" over the fields true and predicted)."""
    class_names = list(class_names)
    df = confusion_frame(matrix, class_names)
    # Shares are written as whole percentages without the sign ("92"): a cell holds two digits,
    # which stays readable on a projector and a phone; the legend says they are percent.
    df["percent"] = (df["rate"] * 100).round().astype(int)
    field, title = ("rate", "% of the true class") if normalize else ("count", "images")
    value_format = ".0%" if normalize else "d"
    written = "percent" if normalize else "count"
    cell = alt.selection_point(name="cell", fields=["true", "predicted"], on="click",
                               clear="dblclick", empty=False)
    top = float(df[field].max()) if len(df) else 0.0
    base = alt.Chart(df).encode(
        x=alt.X("predicted:N", title="predicted class", sort=class_names,
                axis=alt.Axis(labelAngle=-45, orient="top", labelOverlap=False)),
        y=alt.Y("true:N", title="true class", sort=class_names, axis=alt.Axis(labelOverlap=False)),
    )
    heat = base.mark_rect(stroke="black").encode(
        color=alt.Color(f"{field}:Q", title=title, scale=alt.Scale(scheme="blues"),
                        legend=alt.Legend(format=value_format)),
        strokeWidth=alt.condition(cell, alt.value(3), alt.value(0)),
        tooltip=[alt.Tooltip("true:N", title="true"), alt.Tooltip("predicted:N", title="predicted"),
                 alt.Tooltip("count:Q", title="images"),
                 alt.Tooltip("rate:Q", title="share of true class", format=".1%")],
    ).add_params(cell)
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text(f"{written}:Q", format="d"),
        color=alt.condition(alt.datum[field] > top * 0.55, alt.value("white"), alt.value("black")),
    )
    return alt.layer(heat, text).properties(height=460)


def selected_cell(event, class_names):
    """`(true_index, predicted_index)` of the cell clicked in `confusion_chart`, or None.

    `event` is what `st.altair_chart(..., on_select="rerun")` returned (a dict-like state).
    """
    try:
        points = event["selection"]["cell"]
    except (KeyError, TypeError, AttributeError):
        return None
    if not points:
        return None
    point = points[0] if isinstance(points, (list, tuple)) else points
    try:
        true, predicted = point["true"], point["predicted"]
    except (KeyError, TypeError):
        return None
    names = list(class_names)
    if true in names and predicted in names:
        return names.index(true), names.index(predicted)
    return None


def probability_caption(row, class_names, k=3):
    """The k most probable classes of one prediction as short text: "cat 81% · dog 12% · frog 3%"."""
    row = np.asarray(row, dtype=np.float64).ravel()
    order = np.argsort(-row, kind="stable")[:k]
    return " · ".join(f"{class_names[i]} {percent(row[i])}" for i in order)


def gallery(images, probabilities, labels, indices, class_names, *, size=128, show_true=True, k=2):
    """Enlarged images and their captions: the true class (with `show_true`) and the k most
    probable classes, e.g. "cat → dog 91% · cat 6%"."""
    pictures, captions = [], []
    for index in indices:
        pictures.append(enlarge(images[index], size))
        top = probability_caption(probabilities[index], class_names, k)
        captions.append(f"{class_names[int(labels[index])]} → {top}" if show_true else top)
    return pictures, captions


def test_count(evaluation):
    """How many test images `evaluation` scored (its confusion matrix's total), or None when it
    does not say: a lab started on a small test set scores fewer than CIFAR-10's 10,000."""
    try:
        count = int(np.asarray((evaluation or {}).get("confusion_matrix"), dtype=np.float64).sum())
    except (TypeError, ValueError, OverflowError):
        return None
    return count if count > 0 else None


def page_caption(evaluation=None):
    """The Evaluate page's first line, with the evaluated run's number of test images when known."""
    count = test_count(evaluation)
    images = "the test images" if count is None else "the test image" if count == 1 else f"the {count:,} test images"
    return (f"How one run does on {images} it never saw: scores per class, which classes it confuses, and "
            "the pictures behind each mistake.")


def views_caption(record):
    """Which views of each test image the run's scores average (its test-time augmentation), in words."""
    averaged = record.get("test_time_augmentation")
    if not averaged:
        return "Scored on each test image as it is (no test-time augmentation)."
    return f"Scored with test-time augmentation: {averaged} (the scores of each image's views, weighted)."


def no_evaluation_message(run):
    """Why a run has no test-set evaluation, in words for the Evaluate page."""
    reasons = {"queued": "it is still waiting in the queue",
               "running": "it is still training; it is scored when it finishes",
               "failed": "its training failed before the model was scored"}
    reason = reasons.get(run.status, "it finished without a saved evaluation")
    return f"This run has no test-set evaluation: {reason}. Pick a finished run above."
