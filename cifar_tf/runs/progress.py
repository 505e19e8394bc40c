"""Where a run stands, read from its folder while another process trains it."""


def progress(run, last_step=None, epochs_completed=None):
    """Epoch i of N, step, throughput, elapsed time and ETA of a run. `last_step` and
    `epochs_completed` are what the caller read already (a live view reads them incrementally);
    without them they are read from the folder."""
    record = run.record
    config = record.get("config") or {}
    epochs = (config.get("epochs") or 0) + (config.get("fine_tune_epochs") or 0)
    if last_step is None:
        steps = run.steps()
        last_step = steps[-1] if steps else {}
    if epochs_completed is None:
        epochs_completed = sum(not e.get("partial") for e in run.epochs())
    total_steps = record.get("total_steps") or 0
    step = last_step.get("step") or 0
    elapsed = last_step.get("elapsed")
    eta = None
    if step and elapsed and total_steps and run.status == "running":
        eta = max(0.0, elapsed / step * (total_steps - step))
    epoch_now = last_step.get("epoch") or (epochs_completed + 1 if run.status == "running" else epochs_completed)
    return {
        "status": run.status, "phase": record.get("phase"),
        "epoch": min(epoch_now, epochs) if epochs else epoch_now, "epochs": epochs,
        "epochs_completed": epochs_completed, "step": step, "total_steps": total_steps,
        "fraction": min(1.0, step / total_steps) if total_steps else 0.0,
        "images_per_second": last_step.get("images_per_second"), "elapsed": elapsed, "eta_seconds": eta,
    }
