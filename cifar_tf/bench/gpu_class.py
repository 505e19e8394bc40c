"""A class on one machine: `python -m cifar_tf.bench.gpu_class DATA_DIR RUNS_DIR --size N --json OUT`.

What the app's run manager does when a class presses Start: one process submits every run (each
checked, queued on disk), the manager starts as many as the machine takes (`CIFAR_TF_RUNS_PER_GPU`
per GPU) and the workers hand their slots on as they finish. First one run alone, for its time
and for the first curve point a student waits for; then `size` runs at once.
"""
import argparse
import json
import sys
import time
from pathlib import Path

from ..runs import store
from .app_client import wait_for
from ..runs.manager import RunManager
from ..runs.placement import default_max_concurrent
from ..training.presets import preset_config

TINY_WIDTHS = (16, 32, 32)   # fast_cnn's blocks in a tiny check (the preset's are 64, 256, 256)
OUT_OF_MEMORY = ("RESOURCE_EXHAUSTED", "out of memory", "Out of memory", "OOM")


def fast_config(tiny, seed):
    # tiny: a narrow net on a few hundred images, so that a CPU runs the section in seconds
    overrides = {"train_limit": 400, "epochs": 1, "warmup_epochs": 0.25, "batch_size": 128, "val_size": 100,
                 "arch_params": {"widths": TINY_WIDTHS}} if tiny else {}
    return preset_config("fast", seed=seed, **overrides)


def one_alone(manager, tiny, timeout):
    """Submit → first curve point → saved, for one run with the machine to itself."""
    submitted = time.time()
    run = manager.submit(fast_config(tiny, seed=100), name="alone")
    first_point = None
    while time.time() - submitted < timeout:
        manager.poll()
        run = store.load_run(run.id, manager.runs_dir)
        if first_point is None and run.steps():
            first_point = time.time() - submitted
        if run.status not in ("queued", "running"):
            break
        time.sleep(0.1)
    return {**_figures(run, submitted), "first_point_seconds": round(first_point, 2) if first_point else None}


def a_class(manager, size, tiny, timeout):
    """`size` runs submitted at once; seconds from the last submit until every one has ended."""
    first_submit = time.time()
    ids = [manager.submit(fast_config(tiny, seed=i), name=f"student {i + 1}").id for i in range(size)]
    last_submit = time.time()
    ended = wait_for(lambda: _all_ended(manager, ids), timeout, every=0.5)
    all_done = time.time() - last_submit
    runs = [store.load_run(run_id, manager.runs_dir) for run_id in ids]
    rows = [_figures(run, last_submit) for run in runs]
    return {"size": size, "runs_at_once": manager.max_concurrent, "submit_seconds": round(last_submit - first_submit, 2),
            "all_ended": ended, "seconds_after_last_submit": round(all_done, 1),
            "completed": sum(r["status"] == "completed" for r in rows),
            "failed": [r for r in rows if r["status"] != "completed"],
            "out_of_memory": sum(r["out_of_memory"] for r in rows),
            "train_seconds": [r["train_seconds"] for r in rows], "rows": rows}


def _all_ended(manager, ids):
    manager.poll()
    return all(store.load_run(run_id, manager.runs_dir).status not in ("queued", "running") for run_id in ids)


def _figures(run, since):
    record = run.record
    log = run.path / "worker.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    metrics = record.get("metrics") or {}
    return {"id": run.id, "status": run.status, "error": record.get("error"),
            "train_seconds": metrics.get("train_seconds"), "accuracy": metrics.get("test_accuracy"),
            "placement": record.get("placement"), "device": (record.get("device") or {}).get("name"),
            "saved_after_seconds": round(run.path.joinpath("run.json").stat().st_mtime - since, 2),
            "out_of_memory": any(marker in text for marker in OUT_OF_MEMORY)}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cifar_tf.bench.gpu_class")
    parser.add_argument("data_dir")
    parser.add_argument("runs_dir")
    parser.add_argument("--size", type=int, default=30)
    parser.add_argument("--tiny", action="store_true", help="a few hundred images, one epoch")
    parser.add_argument("--timeout", type=float, default=240, help="seconds to wait for the class")
    parser.add_argument("--json", required=True)
    args = parser.parse_args(argv)
    Path(args.runs_dir).mkdir(parents=True, exist_ok=True)
    manager = RunManager(args.runs_dir, data_dir=Path(args.data_dir).resolve())
    result = {"runs_at_once": default_max_concurrent(), "alone": one_alone(manager, args.tiny, args.timeout)}
    print(f"one run alone: {result['alone']}", flush=True)
    result["class"] = a_class(manager, args.size, args.tiny, args.timeout)
    print(f"class: {result['class']['completed']}/{args.size} completed, "
          f"{result['class']['seconds_after_last_submit']} s after the last submit", flush=True)
    Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
