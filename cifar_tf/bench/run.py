"""The benchmark's parent: runs every section, each measurement in a child process, and the tables."""
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from ..hardware import device_summary
from ..settings import PROJECT_DIR, set_bench_browser_cores
from ..training.presets import preset_config
from .tables import render

RESULT_TAG = "BENCH-RESULT "
SECTIONS = ("throughput", "pipeline", "presets", "cli", "app", "pages", "watched")

PLANS = {
    "full": {
        "archs": None,                      # all of them
        "arch_steps": 200, "arch_warmup": 20, "arch_batch": 64,
        "pipeline_images": 45000, "pipeline_rounds": 3,
        # (label, preset, overrides): the device's settings of each preset.
        "presets": [("fast", "fast", {}), ("fast10", "fast10", {})],
        "predictions": 200,
        "sessions": 30, "watched_tabs": (1, 5), "watched_overrides": {},
        "cli_runs": 5, "cli_overrides": {},
    },
    "quick": {
        "archs": ("simple_cnn", "fast_cnn", "resnet20"),
        "arch_steps": 30, "arch_warmup": 5, "arch_batch": 64,
        "pipeline_images": 8000, "pipeline_rounds": 4,
        "presets": [("fast (quick: 20,000 images)", "fast", {"train_limit": 20000})],
        "predictions": 50,
        "sessions": 30, "watched_tabs": (1,), "watched_overrides": {"train_limit": 10000},
        "cli_runs": 2, "cli_overrides": {"train_limit": 10000},
    },
}

# --- the parent: runs the sections, prints and writes the tables --------------------------------

def run_bench(*, quick=False, data_dir=None, cache_dir=None, sections=None, write=None, log=print, plan=None,
              slow_cpu=False):
    """Measure, print the tables, optionally write them as Markdown; return the results.

    `plan` overrides parts of the full or quick plan (the tests use tiny ones). `slow_cpu` runs
    everything on one core, as a slower machine would: the app's share of the CPU then shows."""
    plan = {**PLANS["quick" if quick else "full"], **(plan or {})}
    sections = list(sections or SECTIONS)
    cores = os.sched_getaffinity(0)
    if slow_cpu:  # every process the benchmark starts inherits it: training and server share one core...
        os.sched_setaffinity(0, {max(cores)})
        # ...and the browsers, the students' machines, run beside it (app_client.chromium): on the
        # training's core, Chromium driven by Playwright took 11 % of it yet halved the training's
        # speed (5,000 images: 45 s against 24 s; 24 s with Chromium on the other core).
        set_bench_browser_cores(cores - {max(cores)} or {max(cores)})
    try:
        return _run_sections(plan, sections, quick=quick, slow_cpu=slow_cpu, data_dir=data_dir, cache_dir=cache_dir,
                             write=write, log=log)
    finally:
        os.sched_setaffinity(0, cores)
        set_bench_browser_cores(None)


def _run_sections(plan, sections, *, quick, slow_cpu, data_dir, cache_dir, write, log):
    results = {"machine": machine(), "quick": quick, "slow_cpu": slow_cpu, "started": _now(), "sections": {}}
    data = {"data_dir": str(data_dir) if data_dir else None, "cache_dir": str(cache_dir) if cache_dir else None}
    started = time.time()
    log(f"benchmark ({'quick' if quick else 'full'}) on {results['machine']['description']}")
    if "throughput" in sections:
        log("throughput of every architecture at its defaults...")
        results["sections"]["throughput"] = worker("throughput", archs=plan["archs"], steps=plan["arch_steps"],
                                                   warmup=plan["arch_warmup"], batch_size=plan["arch_batch"])
    if "pipeline" in sections:
        log("input pipelines side by side (simple_cnn, batch 64)...")
        results["sections"]["pipeline"] = worker("pipeline", images=plan["pipeline_images"],
                                                 rounds=plan["pipeline_rounds"], **data)
    if "presets" in sections:
        rows, measured = [], {}
        for label, preset, overrides in plan["presets"]:
            settings = preset_config(preset, val_size=0, **overrides).to_dict()
            same = next((name for name, other in measured.items() if other == settings), None)
            if same:  # on a GPU fast10 is fast: one measurement is enough
                rows.append({"label": label, "skipped": f"the same settings as {same} on this device"})
                continue
            log(f"time to accuracy: {label}...")
            rows.append(worker("preset", label=label, preset=preset, overrides=overrides, **data))
            measured[label] = settings
        results["sections"]["presets"] = rows
    if "cli" in sections:
        dataset = _dataset(data_dir, cache_dir)
        if dataset:
            from .training import cli_start_to_saved

            times = "once" if plan["cli_runs"] == 1 else f"{plan['cli_runs']} times in a row"
            log(f"the fast preset from the command line, {times}...")
            results["sections"]["cli"] = cli_start_to_saved(dataset, runs=plan["cli_runs"], overrides=plan["cli_overrides"])
        else:
            results["sections"]["cli"] = {"skipped": "needs CIFAR-10: --data-dir or CIFAR10_DIR"}
    if "app" in sections:
        log("the app: start-up and prediction latency...")
        results["sections"]["app"] = {**worker("app_startup"), **worker("predict", count=plan["predictions"])}
    dataset = _dataset(data_dir, cache_dir) if {"pages", "watched"} & set(sections) else None
    if "pages" in sections:
        log(f"page views idle and while a run trains, and {plan['sessions']} sessions at once...")
        results["sections"]["pages"] = worker("pages", data_dir=dataset, sessions=plan["sessions"])
    if "watched" in sections:
        if dataset:
            log("the fast preset from the command line, then from the Train page watched in Chromium...")
            results["sections"]["watched"] = worker("watched", data_dir=dataset, tabs=plan["watched_tabs"],
                                                   overrides=plan["watched_overrides"])
        else:
            results["sections"]["watched"] = {"skipped": "needs CIFAR-10: --data-dir or CIFAR10_DIR"}
    results["seconds"] = round(time.time() - started, 1)
    results["load_average"] = os.getloadavg()
    text = render(results)
    log(text)
    if write:
        path = Path(write)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        log(f"written to {path}")
    return results


def _dataset(data_dir, cache_dir):
    """Where CIFAR-10 is, as text, or None: the sections that need it say they were skipped."""
    from ..data.cifar10 import DatasetNotFound, find_dataset

    try:
        return str(find_dataset(data_dir, cache_dir))
    except DatasetNotFound:
        return None


def worker(task, env=None, timeout=None, **kwargs):
    """Run one measurement in a fresh Python process (with `env` for its environment, else this
    one's; killed after `timeout` seconds); return its result with its peak memory."""
    env = {**(env or os.environ), "TF_CPP_MIN_LOG_LEVEL": "3"}  # `-m` from the project folder finds cifar_tf
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen([sys.executable, "-m", "cifar_tf.bench", task, json.dumps(kwargs)],
                                   stdout=out, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_DIR)
        timer = threading.Timer(timeout, process.kill) if timeout else None
        if timer:
            timer.start()
        if hasattr(os, "wait4"):  # the child's own resource usage, peak memory included
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        else:
            process.wait()
            usage = None
        if timer:
            timer.cancel()
        out.seek(0)
        lines = out.read().splitlines()
    results = [json.loads(line[len(RESULT_TAG):]) for line in lines if line.startswith(RESULT_TAG)]
    if process.returncode or not results:
        tail = "\n".join(lines[-60:])   # past a browser's page snapshot to the error itself
        raise RuntimeError(f"benchmark task {task} failed (exit {process.returncode}):\n{tail}")
    result = results[-1]
    if isinstance(result, dict):
        scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes there, KiB on Linux
        result["peak_memory_mb"] = round(usage.ru_maxrss / scale) if usage else None
    return result


def machine():
    summary = device_summary()
    what = ", ".join(summary["gpus"]) if summary["gpus"] else f"{summary['cpu']} ({summary['cpu_features']}), {summary['cpu_count']} cores"
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    except (ValueError, OSError, AttributeError):
        memory = None
    return {**summary, "description": what + (f", {memory:.0f} GiB" if memory else ""),
            "python": platform.python_version(), "host": socket.gethostname()}


def _now():
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


