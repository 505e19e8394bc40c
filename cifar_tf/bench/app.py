"""The app's measurements, each run in a fresh process: start-up, page views (time and server CPU,
idle and while a run trains), a class opening pages at once, a prediction's latency, and the fast
preset started from the Train page and watched in Chromium beside the same run from the CLI.

Page views are opened with `app_client.open_page`, the way a browser tab asks for them, so their
times are the server's whole cost of a view; a class is many such clients at once, with the health
endpoint polled beside them.
"""
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from ..classroom.links import config_params
from ..settings import DEFAULT_RUNS_DIR, PROJECT_DIR
from ..training.presets import preset_config, preset_with
from .app_client import (browser_cpu_seconds, browser_cpu_since, chromium, cpu_seconds, health_seconds, open_page,
                         streamlit_server, wait_until_quiet)
from .training import train_flags

PAGES = {"Home": "", "Data": "data", "Train": "train", "Runs": "runs", "Evaluate": "evaluate",
         "Predict": "predict", "Search": "search", "Gradient descent": "lab_gradient_descent",
         "Sharpness and SAM": "lab_sharpness", "What the network sees": "lab_network_view"}
CLASS_PAGES = ("runs", "train")        # what thirty students open at the start of a lesson


def app_startup():
    """Seconds from `streamlit run app.py` to a healthy server, and to its first page (Home, cold:
    the first view pays for the imports), opened as a browser tab does."""
    with streamlit_server() as (url, healthy, _):
        page, exceptions = open_page(url)
    if exceptions:
        raise RuntimeError(f"the first page showed {exceptions} exception(s)")
    return {"server_seconds": round(healthy, 2), "first_page_seconds": round(page, 2),
            "to_first_page_seconds": round(healthy + page, 2)}


@contextmanager
def lab_server(data_dir=None, runs=None):
    """The app on a private copy of the runs (the shipped demo run when none are given)."""
    with tempfile.TemporaryDirectory(prefix="cifar-bench-") as folder:
        copy = Path(folder) / "runs"
        shutil.copytree(runs or DEFAULT_RUNS_DIR, copy, ignore=shutil.ignore_patterns(".*"))
        env = {"CIFAR_TF_RUNS_DIR": str(copy), **({"CIFAR10_DIR": str(data_dir)} if data_dir else {})}
        with streamlit_server(env) as (url, _, server):
            yield url, server, copy


def page_views(url, pid, pages=PAGES, repeats=3):
    """Per page: the first view's time, then the median time and server CPU of `repeats` more."""
    rows = []
    for name, slug in pages.items():
        before = cpu_seconds(pid)
        first, exceptions = open_page(url, slug)
        first_cpu = cpu_seconds(pid) - before
        times, cpus = [], []
        for _ in range(repeats):
            before = cpu_seconds(pid)
            seconds, more = open_page(url, slug)
            cpus.append(cpu_seconds(pid) - before)
            times.append(seconds)
            exceptions += more
        rows.append({"page": name, "first_seconds": round(first, 3), "first_cpu_seconds": round(first_cpu, 3),
                     "seconds": round(statistics.median(times), 3), "cpu_seconds": round(statistics.median(cpus), 3),
                     "exceptions": exceptions})
    return rows


def sessions_at_once(url, count=30, pages=CLASS_PAGES, timeout=300):
    """`count` sessions opening `pages` in turn, all at once, with the health endpoint polled every
    0.2 s meanwhile: the page views' p50, p95 and slowest, and the health's slowest answer."""
    start = threading.Barrier(count + 1)
    times, healths, done = [], [], threading.Event()

    def session(i):
        start.wait()
        times.append(open_page(url, pages[i % len(pages)], timeout=timeout)[0])

    def watch():
        while not done.is_set():
            healths.append(health_seconds(url, timeout=60) or 60.0)
            time.sleep(0.2)

    sessions = [threading.Thread(target=session, args=(i,), daemon=True) for i in range(count)]
    watcher = threading.Thread(target=watch, daemon=True)
    for thread in sessions:
        thread.start()
    watcher.start()
    start.wait()
    started = time.perf_counter()
    for thread in sessions:
        thread.join(timeout)
    elapsed = time.perf_counter() - started
    done.set()
    watcher.join(70)
    p50, p95 = np.percentile(times, [50, 95]).round(2).tolist() if times else (None, None)
    return {"sessions": count, "pages": list(pages), "answered": len(times), "seconds": round(elapsed, 2),
            "p50": p50, "p95": p95, "slowest": round(max(times), 2) if times else None,
            "health_slowest": round(max(healths), 3) if healths else None}


def task_pages(data_dir=None, sessions=30, train_limit=None):
    """Page views idle and while the fast preset trains beside them; the class at once."""
    from ..runs.manager import RunManager

    with lab_server(data_dir) as (url, server, runs):
        open_page(url)                                   # the server's own first run (imports)
        idle = page_views(url, server.pid)
        crowd = sessions_at_once(url, sessions)
        busy, training = None, None
        if data_dir:
            manager = RunManager(runs, max_concurrent=1, data_dir=data_dir)
            config = preset_config("fast", **({"train_limit": train_limit} if train_limit else {}))
            run = manager.submit(config, name="trains beside the page views")
            deadline = time.time() + 300
            while time.time() < deadline and _phase(runs, run.id) not in ("training", None):
                time.sleep(1)
            busy = page_views(url, server.pid)
            training = _phase(runs, run.id) == "training"
            manager.stop(run.id)
    return {"idle": idle, "training": busy, "trained_throughout": training, "class": crowd}


def _phase(runs, run_id):
    record = json.loads((runs / run_id / "run.json").read_text())
    return record.get("phase") if record["status"] == "running" else None


# --- the fast preset: the command line against the Train page in Chromium ------------------------

def task_fast_preset_watched(data_dir, tabs=(1, 5), overrides=None):
    """The fast preset (with `overrides`, e.g. fewer images) from the command line (start to saved),
    then started from the Train page and watched in 1 and in 5 Chromium tabs (Start to "Completed"),
    side by side in one process; with the CPU the watching took, the server's and the browser's."""
    overrides = overrides or {}
    return {"overrides": overrides, "rows": [_fast_from_cli(data_dir, overrides)] +
            [_fast_from_page(data_dir, count, overrides) for count in tabs]}


def _fast_from_cli(data_dir, overrides):
    with tempfile.TemporaryDirectory(prefix="cifar-bench-") as runs:
        command = [sys.executable, "-m", "cifar_tf", "train", "--preset", "fast", "--data-dir", str(data_dir),
                   "--runs-dir", runs, "--json", *train_flags(overrides)]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - started
        record = json.loads(done.stdout)
    return {"how": "command line (start to saved)", "tabs": 0, "seconds": round(seconds, 1),
            "train_seconds": record["metrics"]["train_seconds"], "accuracy": record["metrics"]["test_accuracy"],
            "first_point_seconds": None, "server_cpu_share": None, "browser_cpu_share": None,
            "config": record["config"]}


def _fast_from_page(data_dir, tabs, overrides):
    from playwright.sync_api import expect

    with tempfile.TemporaryDirectory(prefix="cifar-bench-") as folder, \
            streamlit_server({"CIFAR_TF_RUNS_DIR": folder, "CIFAR10_DIR": str(data_dir)}) as (url, _, server), \
            chromium() as browser:
        first = browser.new_page(viewport={"width": 1280, "height": 800})
        first.set_default_timeout(120_000)
        if overrides:  # the preset's settings with the overrides, as a link fills the form
            first.goto(f"{url}/train?{urlencode(config_params(preset_with('fast', **overrides)))}")
        else:
            first.goto(f"{url}/train")
            _idle(first)
            first.get_by_role("button", name="fast", exact=True).click()
        # The form shows the preset once its rerun is done: a Start pressed before would train the defaults.
        expect(first.get_by_role("combobox", name="Architecture")).to_have_value(re.compile("^fast_cnn"),
                                                                                 timeout=120_000)  # a loaded machine
        _idle(first)
        # A class's server has been up a while when Start is pressed: its standby worker is ready.
        wait_until_quiet(server.pid)
        first.evaluate(_CLOCK_START_TO_CHART)
        first.get_by_role("button", name="Start training").click()
        started = time.perf_counter()
        server_cpu, browser_cpu = cpu_seconds(server.pid), browser_cpu_seconds()
        first.wait_for_url("**/train?run=*", timeout=120_000)
        first.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=300_000)
        first_point = first.evaluate("(window.chartAt - window.startAt) / 1000")  # tab 1's clock, not when we looked
        # The others open the run's link once it trains, as a class does when its teacher shares it:
        # their page loads are the students' machines' work, not the first point's.
        watchers = [first]
        for _ in range(tabs - 1):
            other = browser.new_page(viewport={"width": 1280, "height": 800})
            other.goto(first.url)
            watchers.append(other)
        first.get_by_text("Completed: test accuracy").wait_for(timeout=3_600_000)
        seconds = time.perf_counter() - started
        # Per second of watching, in cores: the server's own threads (the training is another process)
        # and every Chromium process, read before the tabs close.
        server_cpu, browser_cpu = cpu_seconds(server.pid) - server_cpu, browser_cpu_since(browser_cpu)
        record = json.loads(next(Path(folder).glob("*/run.json")).read_text())
    if record["config"]["arch"] != preset_config("fast").arch:
        raise RuntimeError(f"the page trained {record['config']['arch']}, not the fast preset")
    if overrides.get("train_limit") not in (None, record["config"]["train_limit"]):
        raise RuntimeError(f"the page trained on {record['config']['train_limit']} images, not {overrides['train_limit']}")
    return {"how": f"Train page, watched in {tabs} tab{'s' if tabs > 1 else ''} (Start to Completed)",
            "tabs": tabs, "seconds": round(seconds, 1), "train_seconds": record["metrics"]["train_seconds"],
            "accuracy": record["metrics"]["test_accuracy"], "first_point_seconds": round(first_point, 1),
            "server_cpu_share": round(server_cpu / seconds, 4), "browser_cpu_share": round(browser_cpu / seconds, 4),
            "config": record["config"]}


# In the first tab: when Start is pressed and when the first chart shows, by the page's own clock
# (not when Playwright looked: on a loaded CPU its polling lags).
_CLOCK_START_TO_CHART = """() => {
    const chart = "[data-testid='stVegaLiteChart']";
    window.startAt = window.chartAt = null;
    document.addEventListener("click", () => { window.startAt ??= performance.now(); }, {capture: true, once: true});
    const watch = new MutationObserver(() => {
        if (window.startAt !== null && document.querySelector(chart)) { window.chartAt = performance.now(); watch.disconnect(); }
    });
    watch.observe(document.body, {childList: true, subtree: true});
}"""


def _idle(page):
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")


# --- a prediction's latency ----------------------------------------------------------------------

def task_predict(count=200):
    """Latency of one prediction on a loaded model: the demo model when it is there."""
    from ..evaluation.predict import load_model, predict_proba
    from ..runs.store import demo_run

    demo = demo_run()
    if demo:
        model, name = load_model(demo.model_path), f"the demo model ({demo.id})"
    else:
        import keras

        from ..models.registry import build_model

        keras.mixed_precision.set_global_policy("float32")
        config = preset_config("fast")
        model, name = build_model(config.arch, **config.arch_params), f"{config.arch} (untrained: no demo model)"
    image = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    for _ in range(5):
        predict_proba(model, image)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        predict_proba(model, image)
        times.append((time.perf_counter() - started) * 1000)
    predict_proba(model, image, tta=True)   # compiles the views' scoring function once per model
    tta = []
    for _ in range(max(10, count // 4)):
        started = time.perf_counter()
        predict_proba(model, image, tta=True)
        tta.append((time.perf_counter() - started) * 1000)
    return {"model": name, "count": count, "median_ms": round(statistics.median(times), 2),
            "p95_ms": round(float(np.percentile(times, 95)), 2),
            "tta_median_ms": round(statistics.median(tta), 2)}
