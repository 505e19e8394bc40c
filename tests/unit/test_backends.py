"""One training core for every Keras backend. This suite runs under TensorFlow; here the core's own
test files run again in a process on JAX, and a model saved under one backend is loaded and
scored under the other."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cifar_tf.data.cifar10 import load_cifar10
from cifar_tf.evaluation.predict import load_model, predict_proba
from cifar_tf.runs import store
from helpers import ROOT

pytestmark = pytest.mark.slow
CORE_TEST_FILES = ["tests/unit/test_airbench.py", "tests/unit/test_core_keras_fit.py", "tests/unit/test_tta.py"]
# The airbench recipe's full run on JAX is trained below (test_a_model_trained_on_jax...) and by the
# GPU check's tiny plan (test_gpu_check.py): its unit test is not run a third time here.
ALREADY_TRAINED_ON_JAX = "not test_tiny_fast_run_trains_saves_a_plain_model_and_stops_on_request"


def _on_jax(arguments, timeout=900):
    pytest.importorskip("jax")
    return subprocess.run([sys.executable, *arguments], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_the_training_core_passes_its_own_tests_on_jax():
    done = _on_jax(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "-k", ALREADY_TRAINED_ON_JAX,
                    *CORE_TEST_FILES])
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, summary


def test_a_model_trained_on_jax_scores_the_same_on_tensorflow(cifar_dir, runs_dir):
    done = _on_jax(["-m", "cifar_tf", "train", "--preset", "fast", "--arch-param", "widths=16,32,32", "--epochs", "1",
                    "--batch-size", "64", "--val-size", "100", "--runs-dir", str(runs_dir), "--data-dir",
                    str(cifar_dir), "--json"])
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(done.stdout)
    assert record["device"]["backend"] == "jax" and record["config"]["backend"] == "auto"
    run = store.load_run(record["id"], runs_dir)
    # This process runs TensorFlow: the saved model is a plain Keras file, whatever trained it.
    data = load_cifar10(cifar_dir)
    plain = predict_proba(load_model(run.model_path), data.x_test)
    accuracy = float((plain.argmax(1) == data.y_test).mean())
    assert accuracy == pytest.approx(record["metrics"]["test_accuracy_no_tta"], abs=0.02)


def test_a_model_trained_on_tensorflow_predicts_the_same_on_jax(trained_runs, cifar_dir, tmp_path):
    run = next(r for r in store.list_runs(trained_runs)[0] if r.status == "completed")
    data = load_cifar10(cifar_dir)
    here = predict_proba(load_model(run.model_path), data.x_test[:32])
    np.save(tmp_path / "x.npy", data.x_test[:32])
    code = ("import sys, numpy as np; from cifar_tf.evaluation.predict import load_model, predict_proba;"
            "np.save(sys.argv[3], predict_proba(load_model(sys.argv[1]), np.load(sys.argv[2])))")
    done = _on_jax(["-c", code, str(run.model_path), str(tmp_path / "x.npy"), str(tmp_path / "p.npy")], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), here, atol=1e-4)
