"""The demo model shipped in models/: what the README promises, usable offline on Predict and Evaluate."""
import io
import shutil

import numpy as np
import pytest
from PIL import Image

from cifar_tf.runs import store
from helpers import ROOT, open_app

DEMO = ROOT / "models" / "demo-fast-cnn"


@pytest.fixture
def demo_only(tmp_path, monkeypatch):
    """A fresh clone's state: a runs folder holding only the demo run, and no dataset anywhere."""
    runs = tmp_path / "runs"
    shutil.copytree(DEMO, runs / DEMO.name)
    monkeypatch.setenv("CIFAR_TF_RUNS_DIR", str(runs))
    return runs


def test_demo_run_is_a_finished_run_within_the_size_limit():
    from cifar_tf.runs.outputs import read_evaluation

    run = store.read_run(DEMO)
    assert run.status == "completed"
    assert run.record["config"]["recipe"] == "airbench" and run.record["train_size"] == 50000
    assert run.model_path.stat().st_size <= 10 * 1024 * 1024
    evaluation = read_evaluation(run)
    assert evaluation["accuracy"] >= 0.90
    assert sum(map(sum, evaluation["confusion_matrix"])) == 10000


def test_readme_states_the_demo_accuracy():
    from cifar_tf.runs.outputs import read_evaluation

    accuracy = read_evaluation(store.read_run(DEMO))["accuracy"]
    assert f"{accuracy:.1%}" in (ROOT / "README.md").read_text()


def test_demo_model_loads_with_plain_keras_and_gives_probabilities():
    import keras

    model = keras.models.load_model(DEMO / "model.keras")
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    probabilities = np.asarray(model.predict(images, verbose=0))
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-4)


def test_evaluate_shows_the_demo_report_without_the_dataset(demo_only):
    at = open_app("pages/evaluate.py")
    assert not at.exception
    accuracy = next(m for m in at.metric if m.label == "Accuracy")
    assert float(accuracy.value.rstrip("%")) >= 90
    assert at.dataframe  # the per-class report
    assert any("not on this machine" in w.value for w in at.warning)


def test_predict_classifies_an_upload_with_the_demo_model_offline(tmp_path, monkeypatch):
    empty = tmp_path / "no-runs"
    empty.mkdir()
    monkeypatch.setenv("CIFAR_TF_RUNS_DIR", str(empty))
    at = open_app("pages/predict.py")
    assert not at.exception
    model = at.selectbox(key="predict_run")
    assert model.value.id == DEMO.name and "Demo" in model.format_func(model.value)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 90, 200)).save(buffer, format="PNG")
    at.file_uploader[0].set_value(("sky.png", buffer.getvalue(), "image/png")).run()
    assert not at.exception and not at.error
    [text] = [m.value for m in at.markdown if "looks like a" in m.value]
    assert "sky" in text
