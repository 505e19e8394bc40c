"""The Train page's live curves: training points every few batches, validation points every epoch."""
import altair as alt
import pandas as pd


def live_frames(run):
    """Training points (every few batches) and validation points (every epoch), x in epochs."""
    steps_per_epoch = run.record.get("steps_per_epoch") or 1
    rows = []
    for record in run.steps():
        x = record["step"] / steps_per_epoch
        for metric in ("loss", "accuracy"):
            if record.get(metric) is not None:
                rows.append({"epoch": x, "metric": metric, "split": "train", "value": record[metric]})
    for record in run.epochs():
        for metric in ("loss", "accuracy"):
            value = record.get(f"val_{metric}")
            if value is not None:
                rows.append({"epoch": float(record["epoch"]), "metric": metric, "split": "validation",
                             "value": value})
    return pd.DataFrame(rows, columns=["epoch", "metric", "split", "value"])


def live_chart(frame, metric, *, epochs=None, height=260):
    """One metric's curves: a line for training, points joined by a line for validation."""
    data = frame[frame["metric"] == metric]
    x_scale = alt.Scale(domain=[0, max(epochs or 1, float(data["epoch"].max()) if len(data) else 1)])
    y_title = "loss" if metric == "loss" else "accuracy"
    base = alt.Chart(data).encode(
        x=alt.X("epoch:Q", title="epoch", scale=x_scale),
        y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=metric != "loss")),
        color=alt.Color("split:N", title=None, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=["train", "validation"], range=["#4c78a8", "#f58518"])),
        tooltip=["split", alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".4f")])
    train = base.transform_filter(alt.datum.split == "train").mark_line()
    validation = base.transform_filter(alt.datum.split == "validation").mark_line(point=True)
    return (train + validation).properties(height=height, title=y_title.capitalize())
