"""Tables and charts that compare saved runs: the Runs page's pieces.

Everything here takes `Run` objects and returns pandas DataFrames or Altair charts, so the page
only lays them out and the logic is tested without a browser.
"""
import json
from datetime import datetime

import altair as alt
import numpy as np
import pandas as pd

from ..labs.report_lessons import lesson_label
from ..runs.outputs import read_evaluation
from ..training.config import unused_settings
from .formatting import as_number, csv_text, where_it_runs

CURVE_METRICS = {
    "loss": "training loss",
    "accuracy": "training accuracy",
    "val_loss": "validation loss",
    "val_accuracy": "validation accuracy",
    "lr": "learning rate",
}
CURVE_BUTTONS = {"loss": "loss", "accuracy": "accuracy", "val_loss": "val loss",
                 "val_accuracy": "val accuracy", "lr": "learning rate"}  # short names for buttons

TABLE_COLUMNS = ["id", "name", "lesson", "arch", "status", "params", "epochs", "best val accuracy",
                 "test accuracy", "weighted F1", "training time (s)", "images/s", "device",
                 "where", "created"]
_FLOAT_COLUMNS = {"best val accuracy": "best_val_accuracy", "test accuracy": "test_accuracy",
                  "weighted F1": "weighted_f1", "training time (s)": "train_seconds",
                  "images/s": "images_per_second"}
MISSING = "—"  # a setting one run has and another lacks
# Decimals each number column keeps in the CSV (other floats keep 6 significant digits).
CSV_DECIMALS = {"best val accuracy": 4, "test accuracy": 4, "weighted F1": 4, "training time (s)": 1,
                "images/s": 1, "epochs": 3}


# --- the table of runs --------------------------------------------------------------------------

def runs_table(runs, owners=None):
    """One row per run with its headline numbers and the lesson (of a report) that started it, if
    any; missing values (failed, queued runs) are NaN or None. With `owners` (run id → name, class
    mode), an "owner" column follows the name."""
    rows = []
    for run in runs:
        record = run.record
        metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
        device = record.get("device") if isinstance(record.get("device"), dict) else {}
        row = {"id": run.id, "name": run.name, "lesson": lesson_label(run), "arch": _text(record.get("arch")),
               "status": _text(run.status), "params": as_number(record.get("params")),
               # As far as its curves go: a run a time budget stopped in its first epoch has 0.48.
               "epochs": as_number(run.epochs_trained()),
               "device": _text(device.get("name")), "where": where_it_runs(run),
               "created": _datetime(record.get("created_at"))}
        for column, key in _FLOAT_COLUMNS.items():
            row[column] = as_number(metrics.get(key))
        rows.append(row)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["params"] = pd.array(table["params"].round(), dtype="Int64")
    table["epochs"] = table["epochs"].astype("float64").round(3)
    for column in _FLOAT_COLUMNS:
        table[column] = table[column].astype("float64")
    table["created"] = pd.to_datetime(table["created"])
    if owners is not None:
        table.insert(2, "owner", [owners.get(run.id) or "" for run in runs])
    return table


def comparison_csv(runs, owners=None):
    """The runs' table and every setting of each, one row per run, as CSV text. Text a student
    typed that a spreadsheet would run as a formula (=, +, -, @ first) is quoted with a '."""
    table = runs_table(runs, owners).reset_index(drop=True)
    settings = settings_table(runs).T.reset_index(drop=True).add_prefix("setting: ") if runs else pd.DataFrame()
    both = pd.concat([table, settings], axis=1)
    for column in both.columns:
        if not pd.api.types.is_numeric_dtype(both[column]) and not pd.api.types.is_datetime64_any_dtype(both[column]):
            both[column] = both[column].map(_spreadsheet_safe)
    return csv_text(both, CSV_DECIMALS)


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
            epoch, value = as_number(record.get("epoch")), as_number(record.get(metric))
            if not (np.isnan(epoch) or np.isnan(value)):
                rows.append({"run": label, "epoch": epoch, "value": value})  # 1.48: stopped mid-epoch
    return pd.DataFrame(rows, columns=["run", "epoch", "value"])


def default_metric(runs):
    """The curve to show first: validation accuracy where a run has it, else training accuracy
    (the demo run trained with no validation set)."""
    has_validation = any(isinstance(e.get("val_accuracy"), (int, float)) for run in runs for e in run.epochs())
    return "val_accuracy" if has_validation else "accuracy"


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
    """A run's settings as one flat dict: `arch`, then the config, `arch_params` as `arch_params.KEY`;
    the settings that do nothing for this run (momentum for Adam...) are left out."""
    record = run.record
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    unused = unused_settings(config)
    flat = {"arch": record.get("arch", config.get("arch"))}
    for key, value in config.items():
        if key == "arch" or key in unused:
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
            columns[label] = {name: as_number(value)
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


# --- helpers ------------------------------------------------------------------------------------

def _run_colour(runs):
    """The same clearly distinct colour for each run in every chart, in the order runs were picked."""
    return alt.Color("run:N", title="run", sort=runs,
                     scale=alt.Scale(domain=runs, scheme="tableau10"),
                     legend=alt.Legend(orient="bottom", columns=2, labelLimit=320))


def _check_metric(metric):
    if metric not in CURVE_METRICS:
        raise ValueError(f"unknown metric {metric!r}: choose one of {', '.join(CURVE_METRICS)}")


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


def _spreadsheet_safe(value):
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


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
