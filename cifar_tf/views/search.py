"""Tables and charts of hyperparameter searches for the Search page: pandas and Altair, no TensorFlow."""
import math

import altair as alt
import pandas as pd

from ..search import results
from ..search.space import OBJECTIVE

SCORE_TITLE = "validation accuracy"
# What each tuner does, in a sentence for the Search page.
TUNER_HELP = {
    "random": "Draws every trial's values at random from the ranges. Simple, and hard to beat.",
    "hyperband": "Starts many short trials and gives more epochs only to the best of them, round after "
                 "round: more configurations for the same time.",
    "bayesian": "Fits a model of accuracy against the hyperparameters to the trials so far and tries "
                "next where it expects the most gain.",
}


def trials_frame(search, rows=None):
    """One row per trial: id, status, each hyperparameter, epochs, progress, scores, run id."""
    rows = results.trials(search) if rows is None else rows
    columns = ["trial", "status", *search.space["hyperparameters"], "epochs", "progress", OBJECTIVE,
               "test_accuracy", "run"]
    return pd.DataFrame(results.flat_rows(rows), columns=columns)


def searches_frame(searches, runs):
    """One row per search, for the list: its settings, where it stands, its best score."""
    return pd.DataFrame([results.summary(search, runs) for search in searches],
                        columns=["id", "name", "tuner", "space", "status", "trials", "best_val_accuracy", "created"])


def best_so_far(frame):
    """The completed trials in order, each with its score and the best score up to it."""
    done = frame[(frame["status"] == "completed") & frame[OBJECTIVE].notna()].copy()
    done["number"] = range(1, len(done) + 1)
    done["best"] = done[OBJECTIVE].astype(float).cummax()
    return done[["number", "trial", OBJECTIVE, "best"]]


def best_so_far_chart(frames):
    """The best validation accuracy after each finished trial, one line per search ({name: frame})."""
    data = pd.concat([best_so_far(frame).assign(search=name) for name, frame in frames.items()],
                     ignore_index=True)
    x = alt.X("number:Q", title="trials finished", axis=alt.Axis(tickMinStep=1))
    color = alt.Color("search:N", title="search",
                      legend=alt.Legend(orient="bottom", labelLimit=320) if len(frames) > 1 else None)
    tooltip = ["search:N", "trial:N", alt.Tooltip(f"{OBJECTIVE}:Q", format=".4f", title="this trial"),
               alt.Tooltip("best:Q", format=".4f", title="best so far")]
    base = alt.Chart(data).encode(x=x, color=color, tooltip=tooltip)
    line = base.mark_line(interpolate="step-after").encode(
        y=alt.Y("best:Q", title="best so far", scale=alt.Scale(zero=False), axis=alt.Axis(format=".0%")))
    points = base.mark_circle(size=50, opacity=0.5).encode(y=f"{OBJECTIVE}:Q")
    return (line + points).properties(height=260)


def _axis_position(values, spec):
    """Values on a 0-1 axis: numbers within the space's range (log if sampled so), choices evenly."""
    if spec["type"] == "choice":
        choices = spec["values"]
        if len(choices) == 1:
            return values.map(lambda v: 0.5)
        return values.map(lambda v: choices.index(v) / (len(choices) - 1) if v in choices else None)
    low, high = spec["min"], spec["max"]
    if spec["sampling"] == "log":
        low, high, values = math.log(low), math.log(high), values.astype(float).map(math.log)
    return (values.astype(float) - low) / (high - low)


def _axis_labels(name, spec):
    """Where each axis writes its values: both ends of a range, every option of a choice."""
    if spec["type"] == "choice":
        positions = _axis_position(pd.Series(spec["values"], dtype=object), spec)
        return [(name, p, format_value(v)) for v, p in zip(spec["values"], positions)]
    return [(name, 0.0, format_value(spec["min"])), (name, 1.0, format_value(spec["max"]))]


def format_value(value):
    """A hyperparameter value for people: 3 significant digits for floats."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def parallel_coordinates_chart(frame, space):
    """One line per scored trial across every hyperparameter's axis, coloured by validation accuracy.

    Each axis is scaled to the space's own range (log ranges on a log axis), so axes compare;
    the last axis is the score itself.
    """
    names = list(space["hyperparameters"])
    done = frame[frame[OBJECTIVE].notna()].reset_index(drop=True)
    scores = done[OBJECTIVE].astype(float)
    low, high = (scores.min(), scores.max()) if len(scores) else (0.0, 1.0)
    score_spec = {"type": "float", "min": low, "max": high if high > low else low + 1e-9, "sampling": "linear"}
    axes = names + [OBJECTIVE]
    long = []
    for name in axes:
        spec = space["hyperparameters"].get(name, score_spec)
        for trial, value, position, score in zip(done["trial"], done[name], _axis_position(done[name], spec),
                                                 scores):
            long.append({"trial": trial, "axis": name, "order": axes.index(name), "position": position,
                         "value": format_value(value), "score": score})
    long = pd.DataFrame(long, columns=["trial", "axis", "order", "position", "value", "score"])
    labels = [label for name in names for label in _axis_labels(name, space["hyperparameters"][name])]
    labels += [(OBJECTIVE, 0.0, f"{low:.1%}"), (OBJECTIVE, 1.0, f"{high:.1%}")] if len(scores) else []
    labels = pd.DataFrame(labels, columns=["axis", "position", "text"])

    # Titles slanted and trimmed: many hyperparameters side by side must not write over each other.
    x = alt.X("axis:N", sort=axes, title=None, scale=alt.Scale(paddingOuter=0.05),
              axis=alt.Axis(labelAngle=-25, labelAlign="left", orient="top", labelFontWeight="bold",
                            labelOverlap=False, labelLimit=120))
    y = alt.Y("position:Q", axis=None, scale=alt.Scale(domain=[-0.05, 1.05]))
    color = alt.Color("score:Q", title=SCORE_TITLE, scale=alt.Scale(scheme="viridis"), legend=alt.Legend(format=".1%"))
    tooltip = ["trial:N", "axis:N", "value:N", alt.Tooltip("score:Q", format=".4f", title=SCORE_TITLE)]
    rules = alt.Chart(pd.DataFrame({"axis": axes})).mark_rule(color="#bbb").encode(x=alt.X("axis:N", sort=axes))
    lines = alt.Chart(long).mark_line(opacity=0.75, strokeWidth=2).encode(
        x=x, y=y, color=color, detail="trial:N", order="order:Q", tooltip=tooltip)
    points = alt.Chart(long).mark_circle(size=40).encode(x=x, y=y, color=color, tooltip=tooltip)
    text = alt.Chart(labels).mark_text(align="left", dx=5, fontSize=11, color="#555").encode(
        x=alt.X("axis:N", sort=axes), y=y, text="text:N")
    return (rules + lines + points + text).properties(width="container", height=320)


def score_charts(frame, space):
    """For each hyperparameter, validation accuracy against its value: (name, chart) pairs."""
    done = frame[frame[OBJECTIVE].notna()]
    charts = []
    for name, spec in space["hyperparameters"].items():
        if spec["type"] == "choice":
            x = alt.X(f"{name}:N", sort=spec["values"], scale=alt.Scale(domain=spec["values"]),
                      axis=alt.Axis(labelAngle=0))
        else:
            x = alt.X(f"{name}:Q", scale=alt.Scale(type="log" if spec["sampling"] == "log" else "linear",
                                                   domain=[spec["min"], spec["max"]]),
                      axis=alt.Axis(format="d" if spec["type"] == "int" else "~g"))
        chart = alt.Chart(done).mark_circle(size=70, opacity=0.8).encode(
            x=x, y=alt.Y(f"{OBJECTIVE}:Q", title=SCORE_TITLE, scale=alt.Scale(zero=False), axis=alt.Axis(format=".0%")),
            color=alt.Color("status:N", legend=None, scale=alt.Scale(domain=["completed", "running", "stopped"],
                                                                     range=["#1f77b4", "#ff7f0e", "#999"])),
            tooltip=["trial:N", f"{name}", alt.Tooltip(f"{OBJECTIVE}:Q", format=".4f", title=SCORE_TITLE)])
        charts.append((name, chart.properties(height=200)))
    return charts
