import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from synthetic import write_cifar10  # noqa: E402


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory):
    """A small synthetic CIFAR-10 (500 training, 100 test images) in the official layout."""
    return write_cifar10(tmp_path_factory.mktemp("cifar"))


@pytest.fixture
def runs_dir(tmp_path):
    path = tmp_path / "runs"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    # No test may read or write the user's real caches or runs.
    monkeypatch.setenv("CIFAR_TF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    monkeypatch.delenv("CIFAR_TF_RUNS_DIR", raising=False)
    monkeypatch.delenv("CIFAR10_URL", raising=False)
    monkeypatch.delenv("CIFAR10_MD5", raising=False)


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory, cifar_dir):
    """A runs folder with two small finished runs (simple_cnn completed, one stopped), trained once."""
    from cifar_tf import runs
    from cifar_tf.config import TrainConfig
    from cifar_tf.train import train

    folder = tmp_path_factory.mktemp("trained-runs")
    quiet = lambda *_: None  # noqa: E731
    train(TrainConfig(arch="simple_cnn", epochs=2, batch_size=16, val_size=100, log_every=2),
          runs_dir=folder, data_dir=cifar_dir, name="baseline", log=quiet)
    stopped = runs.create_run(folder, arch="simple_cnn", config={}, name="stopped early")
    stopped.request_stop()
    train(TrainConfig(arch="simple_cnn", epochs=2, batch_size=50, val_size=100, optimizer="sgd", lr=0.05),
          run=stopped, data_dir=cifar_dir, log=quiet)
    return folder


@pytest.fixture
def app_env(tmp_path, monkeypatch, cifar_dir, trained_runs):
    """Environment for app tests: a private copy of the trained runs and the synthetic dataset."""
    import shutil

    folder = tmp_path / "app-runs"
    shutil.copytree(trained_runs, folder)
    monkeypatch.setenv("CIFAR_TF_RUNS_DIR", str(folder))
    monkeypatch.setenv("CIFAR10_DIR", str(cifar_dir))
    monkeypatch.chdir(ROOT)
    return folder


APP = str(ROOT / "app.py")


def open_app(page=None, timeout=90):
    """An AppTest of the whole app, switched to `page` (e.g. "pages/runs.py") and run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout).run()
    if page:
        at.switch_page(page).run()
    return at
