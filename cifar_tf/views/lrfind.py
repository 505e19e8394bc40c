"""A learning-rate range test as the Train page shows it: loss against learning rate on a log axis,
the smoothed loss over the raw one, each rule's suggestion marked and named (training/lrfind.py)."""
from ..training.lrfind import RULES, is_range_test, points_of, suggest

COLOURS = {"loss": "#c7c7c7", "smoothed loss": "#4c78a8", "valley": "#e45756", "steepest": "#54a24b"}


def range_tests(runs):
    """The range tests among `runs`, in the order given (newest first from list_runs)."""
    return [run for run in runs if is_range_test(run)]


def result(run):
    """`(points, suggestions)` of a range test: what it recorded so far, and the rates read off it
    (from its record once it ended, else from its points)."""
    points = points_of(run)
    recorded = run.record.get("lrfind") or {}
    found = {key: recorded.get(key) for key in ("valley", "steepest", "suggested", "rule")} \
        if recorded.get("suggested") is not None else suggest(points)
    return points, found


def chart_rows(points):
    """One row per recorded step and series (the raw loss, the smoothed loss); non-finite ones left out."""
    rows = []
    for point in points:
        for series, key in (("loss", "loss"), ("smoothed loss", "smoothed")):
            if isinstance(point.get(key), (int, float)):
                rows.append({"step": point["step"], "lr": point["lr"], "series": series, "loss": point[key]})
    return rows


def range_chart(points, found, *, height=300):
    """The Vega-Lite spec: both losses against the rate (log axis), a labelled rule per suggestion.
    The loss axis stops a little above the start, where a diverging loss would flatten the rest."""
    rows = chart_rows(points)
    smoothed = [row["loss"] for row in rows if row["series"] == "smoothed loss"]
    top = max(smoothed[:max(1, len(smoothed) // 10)] + [min(smoothed, default=1.0)]) * 1.25 if smoothed else None
    marks = [{"rule": rule, "lr": found[rule], "label": f"{rule} {found[rule]:.2g}"}
             for rule in ("valley", "steepest") if isinstance(found.get(rule), (int, float))]
    x = {"field": "lr", "type": "quantitative", "scale": {"type": "log"}, "title": "learning rate (log scale)",
         "axis": {"format": ".0e"}}
    colour = {"scale": {"domain": list(COLOURS), "range": list(COLOURS.values())}, "legend": {"orient": "bottom"},
              "title": None}
    layers = [{"data": {"values": rows}, "mark": {"type": "line", "clip": True},
               "encoding": {"x": x, "y": {"field": "loss", "type": "quantitative", "title": "loss",
                                          "scale": {"zero": False, **({"domainMax": top} if top else {})}},
                            "color": {"field": "series", "type": "nominal", **colour},
                            "tooltip": [{"field": "step", "type": "quantitative"},
                                        {"field": "lr", "type": "quantitative", "format": ".3g"},
                                        {"field": "series", "type": "nominal"},
                                        {"field": "loss", "type": "quantitative", "format": ".4f"}]}}]
    if marks:
        layers += [{"data": {"values": marks}, "mark": {"type": "rule", "strokeDash": [5, 3], "size": 2},
                    "encoding": {"x": x, "color": {"field": "rule", "type": "nominal", **colour}}},
                   {"data": {"values": marks}, "mark": {"type": "text", "align": "left", "dx": 4, "baseline": "top"},
                    "encoding": {"x": x, "y": {"value": 4}, "text": {"field": "label", "type": "nominal"},
                                 "color": {"field": "rule", "type": "nominal", **colour}}}]
    return {"height": height, "layer": layers}


def suggestion_text(found):
    """The suggestion and the rule behind it, in a sentence (None when there is none)."""
    if found.get("suggested") is None:
        return None
    rule = found.get("rule") or "valley"
    text = f"Suggested learning rate: **{found['suggested']:.2g}**, by the {RULES.get(rule, rule)}."
    other = "steepest" if rule == "valley" else "valley"
    if found.get(other) is not None:
        text += f" The {RULES[other].split(':')[0]} rule says {found[other]:.2g}."
    return text
