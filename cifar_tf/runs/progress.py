"""Where a run stands, read from its folder while another process trains it."""


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
