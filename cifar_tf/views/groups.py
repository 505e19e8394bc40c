"""Runs of one configuration, taken together: groups, their spread, their bands, and whether two
groups really differ.

A group is every run whose settings are the same but for the seed (and the name, which is not a
setting): runs started as repeats (`Repeat ×N`, tagged with one group id) and runs that happen to
share a configuration alike. Only finished runs with a test evaluation count in a group's
numbers; its curves take every run that recorded epochs.
"""
import json
import re
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from ..evaluation.significance import compare_means, verdict
from ..runs.manager import queue_order
from ..runs.outputs import read_evaluation
from ..runs.repeats import GROUP_TAG, submit_repeats
from ..training.config import TrainConfig
from .comparison import flat_config, run_labels
from .formatting import as_number

NOT_PART_OF_A_GROUP = ("seed",)   # settings that repeats change: runs differing only here are one group
BAND_METRICS = {"val_accuracy": "validation accuracy", "accuracy": "training accuracy",
                "val_loss": "validation loss", "loss": "training loss"}
BAND_AXES = {"epoch": "epoch", "elapsed": "training seconds"}
GROUP_COLUMNS = ["group", "arch", "n", "test accuracy", "± std", "min", "max", "best val accuracy",
                 "best epoch", "training time (s)", "params", "runs"]
SEED_SUFFIX = re.compile(r" · seed \d+$")   # what submit_repeats adds to a repeat's name
PER_CLASS_CONFIDENCE = 1 - 0.05 / 10   # ten classes tested at once: Bonferroni keeps 5 % overall


@dataclass
class Group:
    key: str      # the shared settings, as canonical JSON
    label: str    # the oldest run's name (without a repeat's "· seed S"), and how many runs
    runs: list

    @property
    def arch(self):
        return self.runs[0].record.get("arch")

    def test_accuracies(self):
        """One test accuracy per finished run (NaN for runs without one)."""
        return np.array([_metric(run, "test_accuracy") for run in self.runs], dtype="float64")

    def evaluated(self):
        return [run for run, value in zip(self.runs, self.test_accuracies()) if not np.isnan(value)]


def group_key(run):
    """What makes runs one group: every setting but the seed, as canonical JSON."""
    settings = {key: value for key, value in flat_config(run).items() if key not in NOT_PART_OF_A_GROUP}
    return json.dumps(settings, sort_keys=True, default=str)


def group_runs(runs):
    """The runs' groups, in the order their first runs come; each run in exactly one group."""
    by_key = {}
    for run in runs:
        by_key.setdefault(group_key(run), []).append(run)
    groups = []
    for key, members in by_key.items():
        first = SEED_SUFFIX.sub("", min(members, key=queue_order).name)   # the oldest run's name, as it was typed
        groups.append(Group(key=key, runs=members,
                            label=first if len(members) == 1 else f"{first} (×{len(members)})"))
    labels = [group.label for group in groups]
    for group in groups:   # two configurations whose first runs share a name: tell them apart
        if labels.count(group.label) > 1:
            group.label = f"{group.label} [{group.runs[0].id[-6:]}]"
    return groups


def group_of(run_id, groups):
    """The group holding the run `run_id`."""
    return next(group for group in groups if any(run.id == run_id for run in group.runs))


def groups_table(groups):
    """One row per group: n (evaluated runs), mean ± std, min and max of test accuracy, the best
    validation accuracy (mean over runs, each at its own best epoch, with that epoch's mean), the
    mean training time and the parameters."""
    rows = []
    for group in groups:
        accuracies = group.test_accuracies()
        accuracies = accuracies[~np.isnan(accuracies)]
        best = [_best_epoch(run) for run in group.runs]
        best = [(value, epoch) for value, epoch in best if value is not None]
        times = [_metric(run, "train_seconds") for run in group.evaluated()]
        rows.append({
            "group": group.label, "arch": str(group.arch or ""), "n": len(accuracies),
            "test accuracy": accuracies.mean() if len(accuracies) else np.nan,
            "± std": accuracies.std(ddof=1) if len(accuracies) > 1 else np.nan,
            "min": accuracies.min() if len(accuracies) else np.nan,
            "max": accuracies.max() if len(accuracies) else np.nan,
            "best val accuracy": np.mean([value for value, _ in best]) if best else np.nan,
            "best epoch": np.mean([epoch for _, epoch in best]) if best else np.nan,
            "training time (s)": np.nanmean(times) if times else np.nan,
            "params": as_number(group.runs[0].record.get("params")),
            "runs": len(group.runs)})
    table = pd.DataFrame(rows, columns=GROUP_COLUMNS)
    table["params"] = pd.array(table["params"].round(), dtype="Int64")
    return table


def band_data(groups, metric="val_accuracy", x="epoch"):
    """Long table (group, run, x, value) of one metric from every run of each group, per finished
    epoch; `x` is "epoch" or "elapsed" (seconds of training when the epoch ended)."""
    _check(metric, BAND_METRICS, "metric")
    _check(x, BAND_AXES, "x")
    rows = []
    for group in groups:
        for label, run in zip(run_labels(group.runs), group.runs):
            for record in run.epochs():
                if record.get("partial"):
                    continue   # a stop inside an epoch: not comparable with the others' whole epochs
                epoch, value, elapsed = (as_number(record.get(key)) for key in ("epoch", metric, "elapsed"))
                if not (np.isnan(epoch) or np.isnan(value)):
                    rows.append({"group": group.label, "run": label, "epoch": epoch, "elapsed": elapsed,
                                 "value": value})
    data = pd.DataFrame(rows, columns=["group", "run", "epoch", "elapsed", "value"])
    return data.assign(x=data[x])


def band_summary(data):
    """Per group and epoch: the mean value, mean ± 1 std (0 with one run), the mean x and the count."""
    summary = data.groupby(["group", "epoch"], sort=False).agg(
        x=("x", "mean"), mean=("value", "mean"), std=("value", "std"), n=("value", "size")).reset_index()
    summary["std"] = summary["std"].fillna(0.0)
    return summary.assign(low=summary["mean"] - summary["std"], high=summary["mean"] + summary["std"])


def band_chart(data, metric="val_accuracy", x="epoch", *, show_runs=False):
    """Each group's mean as a line with a ±1 std band around it; each run faint with `show_runs`."""
    summary = band_summary(data)
    order = list(dict.fromkeys(summary["group"]))
    colour = alt.Color("group:N", title="group", sort=order, scale=alt.Scale(domain=order, scheme="tableau10"),
                       legend=alt.Legend(orient="bottom", columns=2, labelLimit=320))
    is_rate = metric.endswith("accuracy")
    x_axis = alt.X("x:Q", title=BAND_AXES[x], axis=alt.Axis(tickMinStep=1) if x == "epoch" else alt.Axis())
    y_axis = alt.Y("mean:Q", title=BAND_METRICS[metric], scale=alt.Scale(zero=False),
                   axis=alt.Axis(format=".0%" if is_rate else "~g"))
    base = alt.Chart(summary)
    band = base.mark_area(opacity=0.2).encode(x=x_axis, y=alt.Y("low:Q", title=BAND_METRICS[metric]),
                                              y2="high:Q", color=colour)
    value_format = ".1%" if is_rate else ".4f"
    line = base.mark_line(point=True).encode(
        x=x_axis, y=y_axis, color=colour,
        tooltip=[alt.Tooltip("group:N"), alt.Tooltip("epoch:Q"), alt.Tooltip("n:Q", title="runs"),
                 alt.Tooltip("mean:Q", format=value_format), alt.Tooltip("std:Q", title="± std", format=value_format)])
    layers = [band, line]
    if show_runs:
        layers.insert(0, alt.Chart(data).mark_line(opacity=0.25, strokeWidth=1).encode(
            x="x:Q", y="value:Q", color=colour, detail="run:N"))
    return alt.layer(*layers).properties(height=320)


def compare_groups(first, second):
    """`(difference, sentence)`: the second group's test accuracy minus the first's, and what it means."""
    difference = compare_means(first.test_accuracies(), second.test_accuracies())
    return difference, verdict(difference, names=(first.label, second.label))


def per_class_differences(first, second):
    """Per class: the second group's mean test accuracy minus the first's, its interval (Bonferroni
    across the ten classes), and whether it is beyond noise. Empty without evaluations on both sides."""
    per_class = [_per_class(group) for group in (first, second)]
    if any(table.empty for table in per_class):
        return pd.DataFrame(columns=["class", "difference", "low", "high", "beyond noise"])
    rows = []
    for name in per_class[0].columns.intersection(per_class[1].columns):
        difference = compare_means(per_class[0][name], per_class[1][name], confidence=PER_CLASS_CONFIDENCE)
        rows.append({"class": name, "difference": difference.difference, "low": difference.low,
                     "high": difference.high, "beyond noise": difference.real})
    return pd.DataFrame(rows)


def repeat_group(manager, group, repeats):
    """Queue `repeats` more runs of `group`'s configuration, with seeds none of its runs used, in
    its repeat group: the Repeat ×N button under a comparison that one run each cannot settle."""
    first = group.runs[0]
    config = TrainConfig.from_dict(first.record.get("config"))
    seeds = [run.record["config"].get("seed") for run in group.runs if isinstance(run.record.get("config"), dict)]
    name = SEED_SUFFIX.sub("", first.name)
    existing = next((tags[GROUP_TAG] for tags in (run.record.get("tags") or {} for run in group.runs)
                     if isinstance(tags.get(GROUP_TAG), str)), None)
    return submit_repeats(manager, config, repeats, name=name, taken_seeds=[s for s in seeds if isinstance(s, int)],
                          group=existing)


def _per_class(group):
    """Rows: the group's evaluated runs; columns: classes; values: per-class test accuracy."""
    rows = []
    for run in group.runs:
        evaluation = read_evaluation(run, missing_ok=True, corrupt_ok=True)
        if evaluation and isinstance(evaluation.get("per_class_accuracy"), dict):
            rows.append({name: as_number(value) for name, value in evaluation["per_class_accuracy"].items()})
    return pd.DataFrame(rows)


def _best_epoch(run):
    """`(best validation accuracy, its epoch)` of a run's curves, or (None, None)."""
    best = None
    for record in run.epochs():
        value, epoch = as_number(record.get("val_accuracy")), as_number(record.get("epoch"))
        if not (np.isnan(value) or np.isnan(epoch)) and (best is None or value > best[0]):
            best = (value, epoch)
    return best or (None, None)


def _metric(run, key):
    metrics = run.record.get("metrics") if isinstance(run.record.get("metrics"), dict) else {}
    return as_number(metrics.get(key))


def _check(value, allowed, name):
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(allowed)}")
