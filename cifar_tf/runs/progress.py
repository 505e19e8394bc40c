"""Where a run stands, read from its folder while another process trains it."""
from .files import read_jsonl_tail
from .store import STEPS_FILE

# What a step record holds besides its step: numbers, or nothing. A line with anything else (a
# hand-edited {"step": 5, "epoch": [1]}) is skipped as a damaged one is.
STEP_NUMBERS = ("epoch", "batch", "loss", "accuracy", "lr", "images_per_second", "elapsed")


def is_step(record):
    """Whether a steps.jsonl record can be drawn and counted: a positive step, numbers elsewhere."""
    return _is_number(record.get("step")) and record["step"] > 0 and all(
        record.get(key) is None or _is_number(record[key]) for key in STEP_NUMBERS)


def latest_step(run):
    """The latest usable step record of `run` ({} if none), read from the end of its history only."""
    steps = [record for record in read_jsonl_tail(run.file(STEPS_FILE)) if is_step(record)]
    return steps[-1] if steps else {}


def progress(run, last_step=None, epochs_completed=None):
    """Epoch i of N, step, throughput, elapsed time and ETA of a run. `last_step` and
    `epochs_completed` are what the caller read already (a live view reads them incrementally);
    without them they are read from the folder."""
    record = run.record
    config = record.get("config") or {}
    epochs = (config.get("epochs") or 0) + (config.get("fine_tune_epochs") or 0)
    if last_step is None:
        last_step = latest_step(run)
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


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)
