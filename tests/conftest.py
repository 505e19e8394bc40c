"""Fixtures: a synthetic dataset, private runs folders, two small trained runs, the app's environment.

Every test runs with its own caches and no CIFAR10_DIR or runs folder of the user's."""
import os
import shutil

import pytest

from helpers import ROOT, write_cifar10

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Each app test makes its own manager: a standby worker apiece would import TensorFlow for nothing.
# The browser tests of the Train page and the benchmark turn it on, as the app has it.
os.environ["CIFAR_TF_STANDBY_WORKER"] = "off"

# The files that take longest (a full run's --durations, 2026-12-06), first: the two test processes
# take whole files in collection order (pytest.ini's --dist loadfile), and a long file taken last
# leaves the other process idle at the end.
LONGEST_FIRST = ("unit/test_bench.py", "unit/test_gpu_check.py", "unit/test_ray.py", "unit/test_train.py",
                 "unit/test_backends.py", "browser/test_classroom.py", "browser/test_pages.py", "unit/test_search.py",
                 "unit/test_manager.py", "unit/test_knobs.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        path = item.path.relative_to(ROOT / "tests").as_posix()
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)   # stable: each file's tests keep their order


@pytest.fixture(scope="session")
def cifar_dir(tmp_path_factory):
    """A small synthetic CIFAR-10 (500 training, 100 test images) in the official layout."""
    return write_cifar10(tmp_path_factory.mktemp("cifar"))


@pytest.fixture(scope="session")
def roomy_cifar_dir(tmp_path_factory):
    """A synthetic CIFAR-10 with 1,500 training images: room for the pages' smallest validation
    split (500) with images left to train on."""
    return write_cifar10(tmp_path_factory.mktemp("cifar-roomy"), per_batch=300)


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
    for name in ("CIFAR10_DIR", "CIFAR_TF_RUNS_DIR", "CIFAR10_URL", "CIFAR10_MD5", "CIFAR_TF_MAX_RUNS",
                 "CIFAR_TF_CLASS_MODE", "CIFAR_TF_TEACHER_CODE", "CIFAR_TF_RUNS_PER_GPU", "CIFAR_TF_BACKEND",
                 "CIFAR_TF_CLASS_SEATS", "CIFAR_TF_CLASS_JOINS_PER_MINUTE", "CIFAR_TF_RAY_ADDRESS", "CIFAR_TF_RAY_CPUS",
                 # A run manager hides the GPUs from its own process (hardware.keep_gpus_free): undone.
                 "CUDA_VISIBLE_DEVICES", "CIFAR_TF_RUN_GPUS", "JAX_PLATFORMS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory, cifar_dir):
    """A runs folder with two small finished runs (simple_cnn completed, one stopped), trained once."""
    from cifar_tf.runs import store
    from cifar_tf.training.config import TrainConfig
    from cifar_tf.training.run import train

    folder = tmp_path_factory.mktemp("trained-runs")
    quiet = lambda *_: None  # noqa: E731
    train(TrainConfig(arch="simple_cnn", epochs=2, batch_size=16, val_size=100, log_every=2),
          runs_dir=folder, data_dir=cifar_dir, name="baseline", log=quiet)
    stopped = store.create_run(folder, arch="simple_cnn", config={}, name="stopped early")
    stopped.request_stop()
    train(TrainConfig(arch="simple_cnn", epochs=2, batch_size=50, val_size=100, optimizer="sgd", lr=0.05),
          run=stopped, data_dir=cifar_dir, log=quiet)
    return folder


@pytest.fixture
def app_env(tmp_path, monkeypatch, cifar_dir, trained_runs):
    """Environment for app tests: a private copy of the trained runs and the synthetic dataset."""
    folder = tmp_path / "app-runs"
    shutil.copytree(trained_runs, folder)
    monkeypatch.setenv("CIFAR_TF_RUNS_DIR", str(folder))
    monkeypatch.setenv("CIFAR10_DIR", str(cifar_dir))
    monkeypatch.chdir(ROOT)
    return folder
