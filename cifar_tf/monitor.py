"""Where a run stands, read from its folder while another process trains it: progress and live curves."""
import altair as alt
import pandas as pd


def progress(run):
    """Epoch i of N, step, throughput, elapsed time and ETA of a run, from its folder alone."""
    record = run.record
    epochs = (record.get("config") or {}).get("epochs") or 0
    epochs += (record.get("config") or {}).get("fine_tune_epochs") or 0
    total_steps = record.get("total_steps") or 0
    steps, finished = run.steps(), run.epochs()
    last = steps[-1] if steps else {}
    step = last.get("step", 0)
    rate = last.get("images_per_second")
    elapsed = last.get("elapsed")
    eta = None
    if step and elapsed and total_steps and run.status == "running":
        eta = max(0.0, elapsed / step * (total_steps - step))
    epoch_now = last.get("epoch") or (len(finished) + 1 if run.status == "running" else len(finished))
    return {
        "status": run.status, "epoch": min(epoch_now, epochs) if epochs else epoch_now, "epochs": epochs,
        "epochs_completed": len(finished), "step": step, "total_steps": total_steps,
        "fraction": min(1.0, step / total_steps) if total_steps else 0.0,
        "images_per_second": rate, "elapsed": elapsed, "eta_seconds": eta,
    }


def format_seconds(seconds):
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


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
