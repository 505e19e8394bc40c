"""The GPU check: `python -m cifar_tf bench --gpu --out DIR`, one command for a machine with a GPU.

It answers what the CPU benchmark cannot: how the lab trains on a GPU, against airbench94 on the
same chip and data. Everything runs in child processes, as a user's runs do, and every section
writes its results as it ends, so a check cut short still leaves what it measured:

1. `data`: CIFAR-10 built from a carried copy (`--cifar-copy`: the folder with `build.py` and
   its two `.npz` files), or the dataset the lab finds.
2. `anchor`: airbench94 in PyTorch (`bench/airbench94/`), a warm-up run that compiles,
   then timed runs, timed as airbench times them.
3. `ours`: the fast preset at airbench94's size (all 50,000 training images, no validation split)
   from the command line under JAX, twice: a cold start that compiles, then a warm one that finds
   the compiled step in the persistent cache, as every later run of a class does.
4. `class`: one fast run submitted through the run manager (its time alone, and the first curve
   point after submit), then `CLASS_SIZE` at once, as a class's app does.
5. `throughput`: every architecture's training images/s (the CPU table's GPU column).
6. `tests`: the training core's tests on the GPU.

`tiny` runs the same sections on a few hundred images (our runs on a narrow fast_cnn) for a few
minutes on a CPU, so CI keeps the check from rotting; its figures mean nothing.
"""
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ..settings import PROJECT_DIR
from .gpu_class import TINY_WIDTHS

CLASS_SIZE = 30
GOALS = {"train_ratio": 1.5, "accuracy_points": 0.3, "class_seconds": 180}
PLANS = {
    # budget_s: checked before each section (one that would start after it is skipped, saying
    # so); deadline_s: no child runs past it. The device machine allows one command 10 minutes.
    "full": {"limit": None, "anchor_runs": 3, "warm_runs": 2, "class_size": CLASS_SIZE, "epochs": None,
             "archs": None, "arch_steps": 100, "arch_warmup": 10, "throughput_s": 60, "budget_s": 420,
             "deadline_s": 530, "section_timeout_s": 240, "tests": ["tests/unit/test_airbench.py", "tests/unit/test_core_keras_fit.py"]},
    "tiny": {"limit": 600, "anchor_runs": 1, "warm_runs": 1, "class_size": 2, "epochs": 1,
             "archs": ("simple_cnn",), "arch_steps": 3, "arch_warmup": 1, "throughput_s": None,
             "budget_s": 900, "deadline_s": 1100, "section_timeout_s": 300,
             # CI runs the core's tests under JAX anyway (tests/unit/test_backends.py): one, to check the wiring.
             "tests": ["tests/unit/test_airbench.py::test_translation_moves_whole_pixels_within_the_pad"]},
}
SECTIONS = ("data", "anchor", "ours", "class", "throughput", "tests")


def run_gpu_check(out_dir, *, cifar_copy=None, data_dir=None, tiny=False, sections=None, deadline_s=None,
                  log=print):
    """Run the check's sections, writing `gpu-check.json` and `gpu-check.md` in `out_dir` after
    each one; return the results. `deadline_s` shortens the plan's time (no section starts in
    its last 60 s, no child runs past it)."""
    started = time.time()
    plan = {**PLANS["tiny" if tiny else "full"]}
    if deadline_s:
        plan.update(deadline_s=deadline_s, budget_s=min(plan["budget_s"], deadline_s - 60))
    plan["deadline"] = started + plan["deadline_s"]
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sections = list(sections or SECTIONS)
    env = _child_env(out)
    results = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "tiny": tiny,
               "machine": _machine(env), "goals": GOALS, "sections": {}}

    def section(name, function):
        if name not in sections:
            return None
        spent = time.time() - started
        if spent > plan["budget_s"]:
            results["sections"][name] = {"skipped": f"the check's budget of {plan['budget_s']} s was spent "
                                                    f"({spent:.0f} s) before this section"}
        else:
            log(f"[{spent:6.1f} s] {name}...")
            section_started = time.time()
            try:
                results["sections"][name] = function()
            except Exception as error:  # noqa: BLE001 - one broken section must not lose the others
                results["sections"][name] = {"error": f"{type(error).__name__}: {error}"}
            results["sections"][name]["seconds"] = round(time.time() - section_started, 1)
        _write(out, results)
        return results["sections"][name]

    data = section("data", lambda: build_data(out, cifar_copy, data_dir, plan["limit"]))
    data_dir = (data or {}).get("data_dir") or data_dir
    section("anchor", lambda: anchor(data_dir, plan, out, env))
    section("ours", lambda: ours(data_dir, plan, out, env))
    section("class", lambda: a_class(data_dir, plan, out, env))
    section("throughput", lambda: throughput(plan, env))
    section("tests", lambda: core_tests(plan["tests"], out, env, _time_left(plan)))
    results["seconds"] = round(time.time() - started, 1)
    _write(out, results)
    log(render(results))
    return results


# --- sections ------------------------------------------------------------------------------------

def build_data(out, cifar_copy, data_dir, limit):
    """The dataset: built from a carried copy into `out/cifar`, else the one the lab finds."""
    if cifar_copy:
        target = out / "cifar"
        command = [sys.executable, str(Path(cifar_copy) / "build.py"), str(target)]
        if limit:
            command += ["--limit", str(limit)]
        if not (target / "cifar-10-batches-py" / "test_batch").exists():
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
        data_dir = target
    from ..data.cifar10 import find_dataset, load_cifar10

    data = load_cifar10(find_dataset(data_dir))
    return {"data_dir": str(data.path), "train_images": len(data.y_train), "test_images": len(data.y_test)}


def anchor(data_dir, plan, out, env):
    """airbench94 itself, in PyTorch, on the same GPU and files."""
    result_file = out / "anchor.json"
    command = [sys.executable, "-m", "cifar_tf.bench.airbench94", str(data_dir), "--runs",
               str(plan["anchor_runs"]), "--json", str(result_file), "--quiet",
               # torch.compile's default mode: airbench's max-autotune spends minutes autotuning,
               # more than this check's whole budget.
               "--compile-mode", "default"]
    if plan["limit"]:
        command += ["--limit", str(plan["limit"]), "--batch-size", "256"]
    if plan["epochs"]:
        command += ["--epochs", str(plan["epochs"])]
    if not _has_cuda_torch():   # the CPU runs airbench eager (run_airbench94 ignores compiling there)
        command += ["--device", "cpu"]
    _run(command, env, _time_left(plan), out / "anchor.log")
    result = json.loads(result_file.read_text())
    result["train_seconds_median"] = statistics.median(result["train_seconds"])
    result["accuracy_mean"] = statistics.mean(result["accuracy"])
    return result


def ours(data_dir, plan, out, env):
    """The fast preset at airbench94's size from the command line, cold then warm."""
    runs = []
    for attempt in range(1 + plan["warm_runs"]):
        runs_dir = out / "ours_runs"
        command = [sys.executable, "-m", "cifar_tf", "train", "--preset", "fast", "--backend", "jax",
                   "--val-size", "0", "--json", "--runs-dir", str(runs_dir), "--data-dir", str(data_dir),
                   "--name", "cold start" if attempt == 0 else f"warm start {attempt}"]
        if plan["limit"]:
            command += ["--batch-size", "256", "--arch-param", "widths=" + ",".join(map(str, TINY_WIDTHS))]
        if plan["epochs"]:  # the GPU preset warms up for 2.3 epochs: a short run warms up for less
            command += ["--epochs", str(plan["epochs"]), "--warmup-epochs", str(plan["epochs"] / 4)]
        started = time.time()
        stdout = _run(command, env, _time_left(plan), out / f"ours{attempt}.log")
        wall = time.time() - started
        record = json.loads(stdout)
        runs.append(_run_figures(record, wall, Path(runs_dir) / record["id"]))
    cold, warm = runs[0], runs[1:]
    return {"cold": cold, "warm": warm,
            "train_seconds_median": statistics.median(r["train_seconds"] for r in warm),
            "loop_seconds_median": statistics.median(r["loop_seconds"] for r in warm),
            "wall_seconds_median": statistics.median(r["wall_seconds"] for r in warm),
            "compile_seconds": round(cold["train_seconds"] - statistics.median(r["train_seconds"] for r in warm), 2),
            "accuracy_mean": statistics.mean(r["accuracy"] for r in warm),
            "device": cold["device"]}


def _run_figures(record, wall, folder):
    """What a saved run says about its speed. `loop_seconds` is the training loop as airbench
    times it: the epochs' own seconds, the first epoch's tracing and compiling replaced by the
    median epoch (so compile time stays out, as airbench's warm-up keeps it out)."""
    epochs = [json.loads(line) for line in (folder / "epochs.jsonl").read_text().splitlines() if line.strip()]
    seconds = [e["seconds"] for e in epochs]
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    metrics = record["metrics"]
    return {"wall_seconds": round(wall, 2), "train_seconds": metrics["train_seconds"],
            "loop_seconds": round(steady * len(seconds), 2), "first_epoch_seconds": seconds[0],
            "epoch_seconds": seconds, "accuracy": metrics["test_accuracy"],
            "accuracy_no_tta": metrics.get("test_accuracy_no_tta"), "device": record.get("device"),
            "images_per_second": metrics.get("images_per_second")}


def a_class(data_dir, plan, out, env):
    """One run alone, then a class's runs at once, through the run manager as the app uses it."""
    command = [sys.executable, "-m", "cifar_tf.bench.gpu_class", str(data_dir), str(out / "class_runs"),
               "--size", str(plan["class_size"]), "--json", str(out / "class.json"),
               # its own wait ends first, so that it still writes what it saw
               "--timeout", str(max(10, int(_time_left(plan)) - 20))]
    if plan["limit"]:
        command += ["--tiny"]
    _run(command, env, _time_left(plan), out / "class.log")
    return json.loads((out / "class.json").read_text())


def throughput(plan, env):
    """Every architecture's training images/s on this machine under JAX (bench.training)."""
    from .run import worker

    return worker("throughput", env=env, timeout=_time_left(plan), archs=plan["archs"], steps=plan["arch_steps"],
                  warmup=plan["arch_warmup"], batch_size=64, max_seconds=plan["throughput_s"])


def core_tests(tests, out, env, timeout):
    """The training core's tests under JAX (on the GPU where there is one)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "-m", "not slow", *tests]
    log_path = out / "tests.log"
    try:
        _run(command, env, timeout, log_path)
        passed = True
    except RuntimeError:
        passed = False
    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    return {"passed": passed, "summary": tail[0]}


# --- helpers -------------------------------------------------------------------------------------

def _time_left(plan):
    """A child's time limit: its section's, cut to what is left before the check's deadline."""
    return max(5.0, min(plan["section_timeout_s"], plan["deadline"] - time.time()))


def _child_env(out):
    """Children train under JAX, with the runs' compile cache in the check's folder."""
    return {**os.environ, "KERAS_BACKEND": "jax", "CIFAR_TF_BACKEND": "jax", "CIFAR_TF_STANDBY_WORKER": "off",
            "CIFAR_TF_CACHE": str(out / "cache"), "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def _run(command, env, timeout, log_path):
    """Run `command` from the project; its stdout, its stderr appended to `log_path`."""
    done = subprocess.run(command, env=env, cwd=str(PROJECT_DIR), capture_output=True, text=True, timeout=timeout)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(command)}\n{done.stdout}\n{done.stderr}\n")
    if done.returncode:
        last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{command[2] if len(command) > 2 else command[0]} exited {done.returncode}: {last}")
    return done.stdout


def _has_cuda_torch():
    probe = subprocess.run([sys.executable, "-c", "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"],
                           capture_output=True, timeout=120)
    return probe.returncode == 0


def _machine(env):
    """The benchmark's machine summary, with the versions the check's children import."""
    from .run import machine

    versions = {}
    for module in ("jax", "keras", "torch", "numpy"):
        probe = subprocess.run([sys.executable, "-c", f"import {module}; print({module}.__version__)"],
                               capture_output=True, text=True, timeout=120, env=env)
        versions[module] = probe.stdout.strip() or None
    return {**machine(), "versions": versions}


def _write(out, results):
    (out / "gpu-check.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "gpu-check.md").write_text(render(results))


def render(results):
    """The check's table, in Markdown: each figure beside its goal."""
    from .gpu_tables import render_gpu_check

    return render_gpu_check(results)
