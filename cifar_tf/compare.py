"""Tables and charts that compare saved runs, and the pieces of the Evaluate page.

Everything here takes `Run` objects (or their evaluation dicts) and returns pandas DataFrames
or Altair charts, so the Runs and Evaluate pages only lay them out and the logic is tested
without a browser. Only pandas, Altair, numpy and Pillow are imported.
"""
import json
from datetime import datetime

import altair as alt
import numpy as np
import pandas as pd

from cifar_tf.runs import MAX_NAME_LENGTH, PROBABILITIES_FILE
from cifar_tf.gallery import enlarge, escape_markdown  # noqa: F401 - the pages use them from here too

CURVE_METRICS = {
    "loss": "training loss",
    "accuracy": "training accuracy",
    "val_loss": "validation loss",
    "val_accuracy": "validation accuracy",
    "lr": "learning rate",
}
CURVE_BUTTONS = {"loss": "loss", "accuracy": "accuracy", "val_loss": "val loss",
                 "val_accuracy": "val accuracy", "lr": "learning rate"}  # short names for buttons

TABLE_COLUMNS = ["id", "name", "arch", "status", "params", "epochs", "best val accuracy",
                 "test accuracy", "weighted F1", "training time (s)", "images/s", "device",
                 "created"]
_FLOAT_COLUMNS = {"best val accuracy": "best_val_accuracy", "test accuracy": "test_accuracy",
                  "weighted F1": "weighted_f1", "training time (s)": "train_seconds",
                  "images/s": "images_per_second"}
REPORT_COLUMNS = ["precision", "recall", "f1", "support"]
_SUMMARY_ROWS = ("accuracy", "macro avg", "weighted avg")
MISSING = "—"  # a setting one run has and another lacks


# --- the table of runs --------------------------------------------------------------------------

def runs_table(runs):
    """One row per run with its headline numbers; missing values (failed, queued runs) are NaN."""
    rows = []
    for run in runs:
        record = run.record
        metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
        device = record.get("device") if isinstance(record.get("device"), dict) else {}
        row = {"id": run.id, "name": run.name, "arch": _text(record.get("arch")),
               "status": _text(run.status), "params": _number(record.get("params")),
               "epochs": _number(record.get("epochs_completed")),
               "device": _text(device.get("name")), "created": _datetime(record.get("created_at"))}
        for column, key in _FLOAT_COLUMNS.items():
            row[column] = _number(metrics.get(key))
        rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    for column in ("params", "epochs"):
        table[column] = pd.array(table[column].round(), dtype="Int64")
    for column in _FLOAT_COLUMNS:
        table[column] = table[column].astype("float64")
    table["created"] = pd.to_datetime(table["created"])
    return table


def run_labels(runs):
    """A unique display label per run: its name, with part of its id where names repeat."""
    counts = pd.Series([run.name for run in runs]).value_counts()
    labels = [f"{run.name} ({_short_id(run.id)})" if counts[run.name] > 1 else run.name
              for run in runs]
    if len(set(labels)) < len(labels):  # short ids can collide too: fall back to whole ids
        labels = [f"{run.name} ({run.id})" if counts[run.name] > 1 else run.name for run in runs]
    return labels


# --- training curves ----------------------------------------------------------------------------

def curves(runs, metric):
    """Long table (run, epoch, value) of one metric from each run's epochs.jsonl."""
    _check_metric(metric)
    rows = []
    for label, run in zip(run_labels(runs), runs):
        for record in run.epochs():
            epoch, value = _number(record.get("epoch")), _number(record.get(metric))
            if not (np.isnan(epoch) or np.isnan(value)):
                rows.append({"run": label, "epoch": int(epoch), "value": value})
    return pd.DataFrame(rows, columns=["run", "epoch", "value"])


def curves_chart(df, metric):
    """Line chart of `curves(...)`: one colour per run, a point and a tooltip per epoch."""
    _check_metric(metric)
    title = CURVE_METRICS[metric]
    is_rate = metric in ("accuracy", "val_accuracy")
    positive = len(df) > 0 and bool((df["value"] > 0).all())
    scale = alt.Scale(type="log") if metric == "lr" and positive else alt.Scale(zero=False)
    value_format = ".1%" if is_rate else (".2e" if metric == "lr" else ".4f")
    return alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("value:Q", title=title, scale=scale,
                axis=alt.Axis(format=".0%" if is_rate else (".0e" if metric == "lr" else "~g"))),
        color=_run_colour(list(dict.fromkeys(df["run"]))),
        tooltip=[alt.Tooltip("run:N", title="run"), alt.Tooltip("epoch:Q", title="epoch"),
                 alt.Tooltip("value:Q", title=title, format=value_format)],
    ).properties(height=320)


# --- what differs between runs ------------------------------------------------------------------

def flat_config(run):
    """A run's settings as one flat dict: `arch`, then the config, `arch_params` as `arch_params.KEY`."""
    record = run.record
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    flat = {"arch": record.get("arch", config.get("arch"))}
    for key, value in config.items():
        if key == "arch":
            continue
        if key == "arch_params" and isinstance(value, dict):
            for name, inner in value.items():
                flat[f"arch_params.{name}"] = inner
        else:
            flat[key] = value
    return flat


def config_diff(runs):
    """The settings whose values differ across `runs`: rows are settings, columns are runs.

    Values are shown as text (a missing setting as "—"), so numbers, booleans and lists sit in
    one column without surprises. One run, or runs configured alike, give an empty table.
    """
    return settings_table(runs, only_differences=True)


def settings_table(runs, *, only_differences=False):
    """Every setting (rows) of each run (columns), as text; see `config_diff`."""
    labels = run_labels(runs)
    configs = [flat_config(run) for run in runs]
    keys = list(dict.fromkeys(key for config in configs for key in config))
    rows = {}
    for key in keys:
        values = [_canonical(config[key]) if key in config else None for config in configs]
        if not only_differences or len(set(values)) > 1:
            rows[key] = [_display(config[key]) if key in config else MISSING for config in configs]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=labels)
    table.index.name = "setting"
    return table


# --- per-class results --------------------------------------------------------------------------

def per_class_accuracy(runs):
    """Accuracy on each class (rows) for each run that has an evaluation (columns)."""
    columns = {}
    for label, run in zip(run_labels(runs), runs):
        evaluation = read_evaluation(run, missing_ok=True, corrupt_ok=True)
        if evaluation and isinstance(evaluation.get("per_class_accuracy"), dict):
            columns[label] = {name: _number(value)
                              for name, value in evaluation["per_class_accuracy"].items()}
    table = pd.DataFrame(columns)
    table.index.name = "class"
    return table


def per_class_chart(df):
    """Grouped horizontal bars of `per_class_accuracy(...)`: one bar per run in each class."""
    long = df.reset_index().melt(id_vars="class", var_name="run", value_name="accuracy")
    classes = list(df.index)
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("class:N", title=None, sort=classes),
        yOffset=alt.YOffset("run:N"),
        x=alt.X("accuracy:Q", title="test accuracy", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format=".0%", tickCount=10)),
        color=_run_colour(list(df.columns)),
        tooltip=[alt.Tooltip("class:N"), alt.Tooltip("run:N"),
                 alt.Tooltip("accuracy:Q", format=".1%")],
    ).properties(height=alt.Step(24 if len(df.columns) < 2 else 14))  # height of one bar


# --- one run's evaluation -----------------------------------------------------------------------

def read_evaluation(run, *, missing_ok=True, corrupt_ok=False):
    """A run's evaluation.json as a dict; None if it has none. A damaged file raises ValueError
    (or gives None with `corrupt_ok`)."""
    try:
        evaluation = run.evaluation()
    except (OSError, ValueError) as error:
        if corrupt_ok:
            return None
        raise ValueError(f"the evaluation of run {run.id} cannot be read ({error})") from None
    if evaluation is None:
        if missing_ok:
            return None
        raise ValueError(f"run {run.id} has no evaluation")
    problem = _evaluation_problem(evaluation)
    if problem:
        if corrupt_ok:
            return None
        raise ValueError(f"the evaluation of run {run.id} is malformed ({problem})")
    return evaluation


_EVALUATION_NUMBERS = ("accuracy", "loss", "weighted_f1", "top3_accuracy")


def _evaluation_problem(evaluation):
    if not isinstance(evaluation, dict):
        return "not a JSON object"
    missing = [key for key in _EVALUATION_NUMBERS if not isinstance(evaluation.get(key), (int, float))]
    if missing:
        return "no " + ", ".join(missing)
    names, matrix = evaluation.get("class_names"), evaluation.get("confusion_matrix")
    if not isinstance(names, list) or not names:
        return "no class names"
    if not isinstance(matrix, list) or len(matrix) != len(names) \
            or not all(isinstance(row, list) and len(row) == len(names) for row in matrix):
        return "the confusion matrix does not match the classes"
    if not isinstance(evaluation.get("report"), dict):
        return "no per-class report"
    return None


def report_table(evaluation):
    """The per-class report (precision, recall, f1, support) with accuracy, macro and weighted
    averages as the last rows, like scikit-learn's text report."""
    report = evaluation.get("report") or {}
    names = list(evaluation.get("class_names") or [k for k in report if k not in _SUMMARY_ROWS])
    rows = {}
    for name in [*names, "macro avg", "weighted avg"]:
        scores = report.get(name)
        if isinstance(scores, dict):
            rows[name] = [_number(scores.get("precision")), _number(scores.get("recall")),
                          _number(scores.get("f1-score")), _number(scores.get("support"))]
    if "accuracy" in report:
        total = sum(rows[name][3] for name in names if name in rows)
        # sklearn's text report puts accuracy in the f1 column, beside the total support.
        accuracy_row = [np.nan, np.nan, _number(report["accuracy"]), total]
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
    field, title = ("rate", "share of true class") if normalize else ("count", "images")
    value_format = ".0%" if normalize else "d"
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
        text=alt.Text(f"{field}:Q", format=value_format),
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


def load_probabilities(run, count=None):
    """A run's test-set probabilities (N, 10) as float32; ValueError if missing or not matching
    `count` test images."""
    path = run.file(PROBABILITIES_FILE)
    if not path.exists():
        raise ValueError(f"run {run.id} has no saved test-set probabilities")
    try:
        probabilities = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"the test-set probabilities of run {run.id} cannot be read ({error})") from None
    if probabilities.ndim != 2:
        raise ValueError(f"the test-set probabilities of run {run.id} have shape {probabilities.shape}")
    if count is not None and len(probabilities) != count:
        raise ValueError(f"run {run.id} was evaluated on {len(probabilities):,} test images but the "
                         f"dataset here has {count:,}: it was trained on another copy of the data")
    return probabilities.astype(np.float32)


def probability_caption(row, class_names, k=3):
    """The k most probable classes of one prediction as short text: "cat 81% · dog 12% · frog 3%"."""
    row = np.asarray(row, dtype=np.float64).ravel()
    order = np.argsort(-row, kind="stable")[:k]
    return " · ".join(f"{class_names[i]} {_percent(row[i])}" for i in order)


def gallery(images, probabilities, labels, indices, class_names, *, size=128, show_true=True, k=2):
    """Enlarged images and their captions: the true class (with `show_true`) and the k most
    probable classes, e.g. "cat → dog 91% · cat 6%"."""
    pictures, captions = [], []
    for index in indices:
        pictures.append(enlarge(images[index], size))
        top = probability_caption(probabilities[index], class_names, k)
        captions.append(f"{class_names[int(labels[index])]} → {top}" if show_true else top)
    return pictures, captions


def most_confused_cell(matrix):
    """`(true_index, predicted_index)` of the most frequent mistake, or None if there is none."""
    matrix = np.array(matrix, dtype=np.int64)
    if matrix.ndim != 2 or matrix.size == 0:
        return None
    np.fill_diagonal(matrix, -1)
    true, predicted = np.unravel_index(int(np.argmax(matrix)), matrix.shape)
    return (int(true), int(predicted)) if matrix[true, predicted] > 0 else None


def cell_examples(probabilities, labels, true_class, predicted_class, limit=24):
    """`(indices, total)`: the test images of one confusion-matrix cell, the most confidently
    predicted first, at most `limit` of them, and how many the cell holds in all."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels).astype(int).ravel()
    predicted = probabilities.argmax(axis=1)
    indices = np.flatnonzero((labels == true_class) & (predicted == predicted_class))
    confidence = probabilities[indices, predicted_class]
    ordered = indices[np.argsort(-confidence, kind="stable")]
    return ordered[:limit].tolist(), int(len(indices))


# --- managing runs ------------------------------------------------------------------------------

def check_run_name(text, max_length=MAX_NAME_LENGTH):
    """`(name, problem)`: the name a rename would store, and why it cannot (None if it can)."""
    name = " ".join("".join(ch for ch in str(text or "") if ch.isprintable() or ch.isspace()).split())
    if not name:
        return name, "Enter a name: it cannot be empty."
    if len(name) > max_length:
        return name, f"Too long: {len(name)} characters, at most {max_length}."
    return name, None


def no_evaluation_message(run):
    """Why a run has no test-set evaluation, in words for the Evaluate page."""
    reasons = {"queued": "it is still waiting in the queue",
               "running": "it is still training; it is scored when it finishes",
               "failed": "its training failed before the model was scored"}
    reason = reasons.get(run.status, "it finished without a saved evaluation")
    return f"This run has no test-set evaluation: {reason}. Pick a finished run above."


# --- helpers ------------------------------------------------------------------------------------

def _run_colour(runs):
    """The same clearly distinct colour for each run in every chart, in the order runs were picked."""
    return alt.Color("run:N", title="run", sort=runs,
                     scale=alt.Scale(domain=runs, scheme="tableau10"),
                     legend=alt.Legend(orient="bottom", columns=2, labelLimit=320))


def _percent(value):
    return "<1%" if 0 < value < 0.005 else f"{value:.0%}"


def _check_metric(metric):
    if metric not in CURVE_METRICS:
        raise ValueError(f"unknown metric {metric!r}: choose one of {', '.join(CURVE_METRICS)}")


def _number(value):
    if isinstance(value, bool) or value is None:
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _text(value):
    return value if isinstance(value, str) else ""


def _datetime(text):
    """A timestamp in local time without its zone (so runs from several zones sort together)."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return pd.NaT
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return moment


def _short_id(run_id):
    return run_id[-6:] if len(run_id) > 8 else run_id


def _canonical(value):
    return json.dumps(value, sort_keys=True, default=str)


def _display(value):
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    return json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
