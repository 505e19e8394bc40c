"""A run's robustness as the Evaluate page shows it: accuracy against severity per corruption (one
chart per run, side by side for two), the per-class table at one severity, a preview strip."""
import altair as alt
import pandas as pd

from ..evaluation.corruptions import CORRUPTIONS, SEVERITIES, severity_strip
from .pictures import enlarge

CLEAN = "clean"


def accuracy_frame(result, run_label=None):
    """Long table: run, corruption (label), severity (0 is the clean images), accuracy."""
    rows = []
    label = run_label or result.get("name") or result.get("run") or "run"
    for name in result["corruptions"]:
        rows.append({"run": label, "corruption": CORRUPTIONS[name].label, "severity": 0,
                     "accuracy": result["clean"]["accuracy"]})
        rows += [{"run": label, "corruption": r["label"], "severity": r["severity"], "accuracy": r["accuracy"]}
                 for r in result["results"] if r["corruption"] == name]
    return pd.DataFrame(rows, columns=["run", "corruption", "severity", "accuracy"])


def robustness_chart(results):
    """Accuracy against severity, a line per corruption, starting from the clean accuracy at 0;
    with two results (runs), two charts side by side on one scale."""
    frame = pd.concat([accuracy_frame(r, label) for label, r in results.items()], ignore_index=True)
    order = [CORRUPTIONS[name].label for name in CORRUPTIONS]
    chart = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("severity:O", title="severity (0: clean)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=alt.Color("corruption:N", sort=order, title="corruption"),
        tooltip=[alt.Tooltip("run:N"), alt.Tooltip("corruption:N"), alt.Tooltip("severity:O"),
                 alt.Tooltip("accuracy:Q", format=".1%")],
    ).properties(height=320)
    if len(results) > 1:
        return chart.properties(width=300).facet(column=alt.Column("run:N", title=None, sort=list(results)))
    return chart


def class_table(results, severity):
    """Rows: classes; columns: clean accuracy, then each corruption at `severity` (a column per run
    and corruption when there are two runs)."""
    columns = {}
    for label, result in results.items():
        prefix = f"{label}: " if len(results) > 1 else ""
        columns[f"{prefix}{CLEAN}"] = result["clean"]["per_class"]
        for r in result["results"]:
            if r["severity"] == severity:
                columns[f"{prefix}{r['label']}"] = r["per_class"]
    table = pd.DataFrame(columns, dtype="float64")
    table.index.name = "class"
    return table


def summary_table(results):
    """Per run and corruption: clean accuracy, mean accuracy over the severities measured, the drop."""
    rows = []
    for label, result in results.items():
        clean = result["clean"]["accuracy"]
        for name, summary in result["summary"].items():
            mean = summary["mean_accuracy"]
            rows.append({"run": label, "corruption": summary["label"], "clean": clean, "mean corrupted": mean,
                         "drop": None if mean is None else clean - mean})
    return pd.DataFrame(rows, columns=["run", "corruption", "clean", "mean corrupted", "drop"])


def preview(image, name, *, seed=0, size=96):
    """`(pictures, captions)`: one test image clean and at severities 1-5 of corruption `name`."""
    pictures = [enlarge(picture, size) for picture in severity_strip(image, name, seed=seed)]
    return pictures, [CLEAN] + [f"severity {s}" for s in SEVERITIES]


def incomplete_message(result):
    """What a time limit left unmeasured, or None."""
    if result.get("complete", True):
        return None
    last = max((r["severity"] for r in result["results"]), default=0)
    return (f"Stopped at the time limit after {result['seconds']:.0f} s: measured up to severity {last} "
            f"({len(result['results'])} of {len(result['results']) + len(result['skipped'])} steps). "
            "Use fewer images or corruptions for the rest.")
