"""What the tests share: synthetic CIFAR-10 folders, the app under AppTest, a real server and a
headless Chromium, and a wait loop. Imported by tests as `helpers` (pytest.ini puts tests/ on the path).

Synthetic CIFAR-10 copies are written in the official "python version" layout, so the real
loader reads them. Each class gets its own colour and stripe direction plus noise, so a tiny
network learns it in an epoch or two: tests can tell a model that learnt from one that did not.
"""
import json
import os
import pickle
import re
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from cifar_tf.bench import app_client
from cifar_tf.bench.app_client import CHROMIUM, streamlit_server, wait_for  # noqa: F401 - tests import it from here

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = {"home": "", "data": "data", "train": "train", "runs": "runs", "groups": "groups", "evaluate": "evaluate",
         "predict": "predict", "search": "search", "gradient-descent": "lab_gradient_descent",
         "sharpness": "lab_sharpness", "network-view": "lab_network_view", "reports": "reports"}


# --- synthetic CIFAR-10 -----------------------------------------------------------------------

LABEL_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer",
               b"dog", b"frog", b"horse", b"ship", b"truck"]


def synthetic_images(labels, seed=0):
    rng = np.random.default_rng(seed)
    n = len(labels)
    yy, xx = np.mgrid[0:32, 0:32]
    images = np.empty((n, 32, 32, 3), np.float32)
    palette = np.array([[230, 40, 40], [40, 230, 40], [40, 40, 230], [230, 230, 40], [230, 40, 230],
                        [40, 230, 230], [140, 70, 20], [250, 250, 250], [20, 20, 20], [128, 128, 128]],
                       np.float32)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        stripes = ((xx * (c % 3 + 1) + yy * (c // 3)) // 4) % 2
        images[idx] = palette[c] * (0.55 + 0.45 * stripes[..., None])
    images += rng.normal(0, 25, images.shape)
    return np.clip(images, 0, 255).astype(np.uint8)


def _batch(images, labels, name):
    data = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    return {b"batch_label": name.encode(), b"labels": [int(x) for x in labels], b"data": data,
            b"filenames": [f"img_{i:05d}.png".encode() for i in range(len(images))]}


def write_cifar10(root, per_batch=100, test_size=100, seed=0):
    """Write `root/cifar-10-batches-py/` with 5 training batches and a test batch; return root."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for b in range(1, 6):
        labels = rng.permutation(np.arange(per_batch) % 10)
        images = synthetic_images(labels, seed=seed + b)
        with open(folder / f"data_batch_{b}", "wb") as f:
            pickle.dump(_batch(images, labels, f"training batch {b} of 5"), f, protocol=2)
    labels = rng.permutation(np.arange(test_size) % 10)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(_batch(synthetic_images(labels, seed=seed + 99), labels, "testing batch 1 of 1"),
                    f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"num_cases_per_batch": per_batch, b"label_names": LABEL_NAMES, b"num_vis": 3072},
                    f, protocol=2)
    return Path(root)


# --- waiting ----------------------------------------------------------------------------------

# wait_for(predicate, timeout=180, every=0.3): cifar_tf.bench.app_client's, imported above.


# --- charts -----------------------------------------------------------------------------------

def chart_rows(chart):
    """The rows of data an Altair chart draws (every dataset of its layers), as dicts."""
    spec = chart.to_dict()
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


# --- the app under AppTest --------------------------------------------------------------------

def shown(text):
    """What a reader sees of Markdown that escapes its special characters (`\\*` shows as `*`)."""
    return re.sub(r"\\(.)", r"\1", str(text))


def open_app(page=None, timeout=90):
    """An AppTest of the whole app, switched to `page` (e.g. "pages/runs.py") and run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout).run()
    if page:
        at.switch_page(page).run()
    return at


# --- a real server and a headless Chromium ----------------------------------------------------

@contextmanager
def app_server(env=None):
    """A real `streamlit run app.py` on 127.0.0.1 for a test: its URL. The server's output goes to
    the file $STREAMLIT_LOG names, if any."""
    with streamlit_server(env, log_path=os.environ.get("STREAMLIT_LOG")) as (url, _, _):
        yield url


@contextmanager
def lab_server(folder, trained_runs, env=None):
    """A real server over a copy of `trained_runs` in `folder`, one training slot, and a synthetic
    CIFAR-10 big enough that the default 5,000-image validation split leaves 1,000 to train on:
    `(url, runs folder)`."""
    runs = Path(folder) / "runs"
    shutil.copytree(trained_runs, runs)
    data = write_cifar10(Path(folder) / "data", per_batch=1200, test_size=200)
    with app_server({"CIFAR_TF_RUNS_DIR": str(runs), "CIFAR10_DIR": str(data), "CIFAR_TF_MAX_RUNS": "1",
                     **(env or {})}) as url:
        yield url, runs


def chromium_unavailable_reason():
    """None when Chromium and Playwright are here (installing Chromium with apt-get if we may)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-test.txt)"
    if not os.path.exists(CHROMIUM) and os.geteuid() == 0 and shutil.which("apt-get"):
        import fcntl

        # The test processes (pytest -n 2) install it once, one after the other.
        with open("/tmp/cifar_tf-tests-chromium.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(CHROMIUM):
                env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
                subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
                subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True,
                               timeout=900)
    if not os.path.exists(CHROMIUM):
        return f"Debian's chromium is not installed at {CHROMIUM} and apt-get could not install it"
    return None


LAB_HOSTS = ("127.0.0.1", "localhost")   # where the tests' servers listen: the lab's own


class OutsideRequests(list):
    """Every request a test's browser made to a host other than the lab's: a classroom may have
    no internet, and nothing the lab serves may make a browser fetch from elsewhere."""

    def watch(self, context):
        context.on("request", self._seen)
        return context

    def _seen(self, request):
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LAB_HOSTS:
            self.append(request.url)


@contextmanager
def chromium():
    """A headless Chromium whose pages (made with `new_person` or `browser_page`) may ask the lab's
    own server only: the test fails, listing the addresses, if any asked another host."""
    with app_client.chromium() as browser:
        browser.outside_requests = OutsideRequests()
        yield browser
    assert not browser.outside_requests, f"the browser asked hosts other than the lab's: {browser.outside_requests}"


def new_person(browser, width=1400, height=1000):
    """A page in a browser context of its own: its own cookies, as another person's browser."""
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    browser.outside_requests.watch(context)
    page = context.new_page()
    page.set_default_timeout(60_000)
    return page


@contextmanager
def browser_page(width=1400, height=1000):
    with chromium() as browser:
        yield new_person(browser, width, height)


def wait_until_idle(page, timeout=90_000):
    """Wait for the script run to finish (Streamlit marks the app 'notRunning')."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    page.wait_for_timeout(300)


def open_page(page, url, slug):
    page.goto(f"{url}/{slug}")
    wait_until_idle(page)


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def finished_run_with_curve(runs_dir, *, accuracy, seed=0, optimizer="sgd", name="run", curve=(0.3, 0.5, 0.6), per_class=None):
    """A completed run made by hand: its settings, epochs with validation accuracies, metrics and
    (with `per_class`) an evaluation, without training."""
    from cifar_tf.runs import store
    from cifar_tf.runs.files import append_jsonl
    from cifar_tf.training.config import TrainConfig

    config = TrainConfig(arch="simple_cnn", optimizer=optimizer, seed=seed)
    run = store.create_run(runs_dir, arch="simple_cnn", config=config.to_dict(), name=name, status="queued")
    for epoch, value in enumerate(curve, 1):
        append_jsonl(run.file(store.EPOCHS_FILE), {"epoch": epoch, "val_accuracy": value, "loss": 1 / epoch,
                                                  "elapsed": 10.0 * epoch})
    if per_class is not None:
        (run.path / "evaluation.json").write_text(json.dumps({
            "accuracy": accuracy, "loss": 1.0, "weighted_f1": accuracy, "top3_accuracy": accuracy,
            "class_names": CIFAR_CLASSES, "confusion_matrix": [[0] * 10 for _ in CIFAR_CLASSES], "report": {},
            "per_class_accuracy": dict(zip(CIFAR_CLASSES, per_class))}))
    run.finish("completed", metrics={"test_accuracy": accuracy, "train_seconds": 30.0}, params=1000)
    return store.load_run(run.id, runs_dir)
