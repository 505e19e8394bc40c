"""A run's calibration as the Evaluate page and the report show it: the reliability diagram (with the
diagonal a calibrated model follows), ECE before and after temperature scaling, the per-class table.
`report_fragment` is the report's section, an HTML string with every value escaped."""
from html import escape

import altair as alt
import pandas as pd

from ..evaluation.calibration import run_calibration

CLASS_COLUMNS = ["answers", "confidence", "accuracy", "overconfidence", "ECE", "ECE after"]


def reliability_frame(report):
    """Long table of the reliability bins: series (before / after temperature scaling), bin bounds,
    count, mean confidence, accuracy and gap (confidence − accuracy); empty bins left out."""
    rows = []
    for series, key in (("as trained", "before"), (temperature_label(report), "after")):
        for b in (report.get(key) or {}).get("bins", []):
            if b["count"]:
                rows.append({"series": series, "lower": b["lower"], "upper": b["upper"], "count": b["count"],
                             "confidence": b["confidence"], "accuracy": b["accuracy"],
                             "gap": b["confidence"] - b["accuracy"]})
    return pd.DataFrame(rows, columns=["series", "lower", "upper", "count", "confidence", "accuracy", "gap"])


def temperature_label(report):
    temperature = report.get("temperature")
    return "after temperature scaling" if temperature is None else f"after temperature scaling (T = {temperature:.2f})"


def reliability_chart(report):
    """Accuracy against mean confidence per bin (points sized by their images) for each series, the
    diagonal of perfect calibration, and below the images per bin."""
    frame = reliability_frame(report)
    axis = alt.Scale(domain=[0, 1])
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(
        strokeDash=[5, 4], color="gray").encode(x="x:Q", y="y:Q")
    series = alt.Color("series:N", title=None, legend=alt.Legend(orient="top", labelLimit=320))
    tooltip = [alt.Tooltip("series:N"), alt.Tooltip("lower:Q", title="confidence from", format=".0%"),
               alt.Tooltip("upper:Q", title="to", format=".0%"), alt.Tooltip("count:Q", title="images"),
               alt.Tooltip("confidence:Q", title="mean confidence", format=".1%"),
               alt.Tooltip("accuracy:Q", format=".1%"), alt.Tooltip("gap:Q", title="over-confidence", format="+.1%")]
    base = alt.Chart(frame).encode(
        x=alt.X("confidence:Q", title="confidence (the answer's probability)", scale=axis, axis=alt.Axis(format="%")),
        y=alt.Y("accuracy:Q", title="accuracy", scale=axis, axis=alt.Axis(format="%")), color=series)
    lines = base.mark_line(point=False, opacity=0.6) + base.mark_circle(opacity=0.85).encode(
        size=alt.Size("count:Q", title="images", legend=None, scale=alt.Scale(range=[20, 400])), tooltip=tooltip)
    top = alt.layer(diagonal, lines).properties(height=320)
    counts = alt.Chart(frame[frame["series"] == "as trained"]).mark_bar(color="#9ecae1", stroke="white").encode(
        x=alt.X("lower:Q", title="confidence bin", scale=axis, axis=alt.Axis(format="%")), x2="upper:Q",
        y=alt.Y("count:Q", title="images"), tooltip=tooltip[1:5]).properties(height=110)
    return alt.vconcat(top, counts).resolve_scale(color="independent")


def summary_rows(report):
    """ECE, negative log-likelihood (the loss), mean confidence and accuracy, as trained and after."""
    before, after = report["before"], report.get("after") or {}
    rows = {"ECE": ("ece", "{:.1%}"), "loss (NLL)": ("nll", "{:.3f}"),
            "mean confidence": ("mean_confidence", "{:.1%}"), "accuracy": ("accuracy", "{:.1%}")}
    return [{"measure": label, "as trained": form.format(before[key]),
             "after temperature scaling": form.format(after[key]) if after.get(key) is not None else "–"}
            for label, (key, form) in rows.items()]


def class_table(report):
    """Per answered class: how many answers, mean confidence, accuracy (precision), over-confidence
    (confidence − accuracy), ECE before and after."""
    rows = {}
    for row in report.get("per_class", []):
        confidence, accuracy = row["confidence"], row["accuracy"]
        gap = confidence - accuracy if confidence is not None and accuracy is not None else None
        rows[row["class"]] = [row["answers"], confidence, accuracy, gap, row["ece"], row["ece_after"]]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=CLASS_COLUMNS).astype(
        {c: "float64" for c in CLASS_COLUMNS[1:]})
    table.index.name = "answered"
    return table


def verdict(report):
    """One sentence for a class: over- or under-confident, by how much, and what scaling did."""
    before = report["before"]
    gap = before["mean_confidence"] - before["accuracy"]
    numbers = (f"mean confidence {before['mean_confidence']:.1%} for {before['accuracy']:.1%} right, an ECE of "
               f"{before['ece']:.1%}")
    if abs(gap) <= 0.01:
        text = f"It is about as sure as it is right: {numbers}."
    else:
        text = f"On average it is {abs(gap):.1%} {'over' if gap > 0 else 'under'}-confident: {numbers}."
    if report.get("after"):
        temperature = report["temperature"]
        effect = "softens" if temperature > 1 else "sharpens"
        text += (f" A temperature of {temperature:.2f}, fitted on {report['validation_images']:,} validation "
                 f"images, {effect} its probabilities: ECE {report['after']['ece']:.1%} on the test set, "
                 "the same answers.")
    return text


def unavailable_message(report):
    """Why no temperature was fitted, or None."""
    if report.get("after"):
        return None
    return f"Temperature scaling is not available for this run: {report.get('unavailable') or 'no validation predictions'}."


def calibration_section(run, dataset):
    """The report's calibration section for `run`, measured on `dataset` (None: not on this machine).
    Never raises for a run that cannot be measured: the section says why."""
    if dataset is None:
        return report_fragment("The CIFAR-10 labels were not on the machine that made this report.")
    try:
        return report_fragment(run_calibration(run, dataset))
    except (ValueError, OSError) as error:
        return report_fragment(f"Calibration could not be measured: {error}")


def report_fragment(report):
    """The report's calibration section (HTML, values escaped): verdict, summary, reliability bins
    as a small bar diagram, per-class table. `report` None or a string: the reason it is missing."""
    if not isinstance(report, dict):
        return f"<h2>Calibration</h2><p>{escape(str(report or 'Calibration could not be measured.'))}</p>"
    parts = ["<h2>Calibration</h2>", f"<p>{escape(verdict(report))}</p>"]
    if unavailable_message(report):
        parts.append(f'<p class="sub">{escape(unavailable_message(report))}</p>')
    if report.get("note"):
        parts.append(f'<p class="sub">Note: {escape(report["note"])}.</p>')
    header = "".join(f"<th>{escape(h)}</th>" for h in ("measure", "as trained", "after temperature scaling"))
    rows = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row.values()) + "</tr>"
                   for row in summary_rows(report))
    parts += [f"<table><tr>{header}</tr>{rows}</table>", _diagram_svg(report),
              '<p class="sub">Bars: accuracy in each confidence bin (blue as trained, orange after temperature '
              'scaling); dashed: perfect calibration; the number above a bar: its test images.</p>']
    table = class_table(report)
    head = "<tr><th>answered</th>" + "".join(f"<th>{escape(c)}</th>" for c in table.columns) + "</tr>"
    body = []
    for name, row in table.iterrows():
        cells = [f"{int(row['answers']):,}"] + [_cell(row[c], signed=c == "overconfidence") for c in CLASS_COLUMNS[1:]]
        body.append(f"<tr><td>{escape(str(name))}</td>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    parts.append(f"<table>{head}{''.join(body)}</table>")
    return "".join(parts)


def _cell(value, signed=False):
    if value is None or value != value:
        return "–"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def _diagram_svg(report, width=420, height=260):
    """Accuracy bars per confidence bin, both series side by side, over the dashed diagonal."""
    left, top, plot_w, plot_h = 44, 12, width - 56, height - 52
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="reliability diagram" font-family="sans-serif" font-size="11">']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        y = top + plot_h * (1 - tick)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick:.0%}</text>'
                     f'<text x="{left + plot_w * tick:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{tick:.0%}</text>')
    series = [("before", "#4c78a8")] + ([("after", "#f58518")] if report.get("after") else [])
    for offset, (key, colour) in enumerate(series):
        for b in report[key]["bins"]:
            if not b["count"]:
                continue
            bar_w = (b["upper"] - b["lower"]) * plot_w / len(series)
            x = left + b["lower"] * plot_w + offset * bar_w
            y = top + plot_h * (1 - b["accuracy"])
            parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                         f'height="{top + plot_h - y:.1f}" fill="{colour}" opacity="0.85"/>')
            if key == "before":
                parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="9">'
                             f'{b["count"]}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top}" stroke="#555" '
                 f'stroke-dasharray="5 4"/><text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">'
                 'confidence</text></svg>')
    return "".join(parts)
