import io
import threading
import warnings

import numpy as np
import pytest
from PIL import Image
from scipy.special import softmax

from cifar_tf import CLASS_NAMES
from cifar_tf.evaluation.predict import load_model, predict_files, predict_proba, top_k
from cifar_tf.validation import InvalidArgument

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A tiny untrained stand-in with the same input and output contract as the real models."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    with warnings.catch_warnings():  # Keras's saving code trips a numpy 2 deprecation, not ours
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        keras.Model(inputs, outputs).save(path)
    return path


@pytest.fixture(scope="module")
def model(model_path):
    return load_model(model_path)


@pytest.fixture(scope="module")
def batch():
    # A left-to-right gradient plus noise: not mirror-symmetric, so test-time augmentation matters.
    rng = np.random.default_rng(0)
    gradient = np.linspace(0, 255, 32)[None, None, :, None]
    return np.clip(gradient + rng.normal(0, 40, (5, 32, 32, 3)), 0, 255).astype(np.uint8)


def _manual_prediction(model, images):
    return np.asarray(model(images.astype(np.float32), training=False))


def test_load_model_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="model file not found: .*missing.keras"):
        load_model(tmp_path / "missing.keras")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="could not load model .*junk.keras"):
        load_model(junk)


def test_probabilities_have_one_row_per_image_summing_to_one(model, batch):
    probabilities = predict_proba(model, batch)
    assert probabilities.shape == (5, 10) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(probabilities, _manual_prediction(model, batch), atol=1e-6)


def test_batch_size_does_not_change_the_result(model, batch):
    np.testing.assert_allclose(predict_proba(model, batch, batch_size=2),
                               predict_proba(model, batch), atol=1e-6)


def test_tta_averages_the_six_named_views(model, batch):
    plain = _manual_prediction(model, batch)
    padded = np.pad(batch, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    down_right, up_left = padded[:, :32, :32], padded[:, 2:, 2:]
    views = [batch, batch[:, :, ::-1], down_right, down_right[:, :, ::-1], up_left, up_left[:, :, ::-1]]
    logs = [np.log(_manual_prediction(model, view)) for view in views]
    expected = softmax(0.25 * (logs[0] + logs[1]) + 0.125 * sum(logs[2:]), axis=1)
    with_tta = predict_proba(model, batch, tta=True)
    assert np.abs(with_tta - plain).max() > 1e-6
    np.testing.assert_allclose(with_tta, expected, atol=1e-6)
    np.testing.assert_allclose(with_tta.sum(axis=1), 1, atol=1e-5)


def test_no_images_give_no_rows(model):
    assert predict_proba(model, np.zeros((0, 32, 32, 3), np.uint8)).shape == (0, 10)


@pytest.mark.parametrize("images", [np.zeros((32, 32, 3), np.uint8),
                                    np.zeros((2, 28, 28, 3), np.uint8),
                                    np.zeros((2, 32, 32, 3), np.float32)])
def test_images_must_be_a_uint8_batch(model, images):
    with pytest.raises(ValueError, match="uint8 array of shape"):
        predict_proba(model, images)


def test_concurrent_predictions_agree(model, batch):
    expected = predict_proba(model, batch)
    results = [None] * 4

    def predict(slot):
        results[slot] = predict_proba(model, batch, batch_size=3)

    threads = [threading.Thread(target=predict, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-6)


def test_top_k_is_sorted_and_validated():
    row = np.array([0.05, 0.3, 0.05, 0.1, 0.0, 0.4, 0.02, 0.03, 0.05, 0.0])
    assert top_k(row) == [("dog", 0.4), ("automobile", 0.3), ("cat", 0.1)]
    assert [name for name, _ in top_k(row, k=5)][3:] == ["airplane", "bird"]  # ties: class order
    assert len(top_k(row, k=10)) == 10
    assert top_k([0.2, 0.8], k=1, class_names=("no", "yes")) == [("yes", 0.8)]
    for bad_k in (0, 11, 2.5, True, "three"):
        with pytest.raises(InvalidArgument, match="k="):
            top_k(row, k=bad_k)


def test_predict_files_reports_bad_files_and_predicts_the_others(model, tmp_path):
    good_png = tmp_path / "good.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(good_png)
    good_jpg = tmp_path / "good.jpg"
    Image.new("RGB", (64, 64), (30, 30, 200)).save(good_jpg)
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    upload = io.BytesIO(good_png.read_bytes())
    upload.name = "upload.png"  # like Streamlit's UploadedFile

    missing = str(tmp_path / "missing.png")

    results = predict_files(model, [good_png, junk, missing, good_jpg, upload], top_k=2)

    assert [result["file"] for result in results] == [
        str(good_png), str(junk), missing, str(good_jpg), "upload.png"]
    assert results[1] == {"file": str(junk), "error": "not an image file this lab can read (try PNG, JPEG, GIF, BMP or WebP)"}
    assert results[2]["error"].startswith("cannot read the file")
    for result in (results[0], results[3], results[4]):
        assert result["error"] is None
        ranked = result["top_k"]
        assert len(ranked) == 2 and all(entry["class"] in CLASS_NAMES for entry in ranked)
        assert ranked[0]["probability"] >= ranked[1]["probability"]
    assert results[0]["top_k"] == results[4]["top_k"]

    single = predict_proba(model, np.array(Image.new("RGB", (32, 32), (200, 30, 30)))[None])
    assert results[0]["top_k"][0]["probability"] == pytest.approx(float(single.max()), abs=1e-6)


def test_predict_files_validates_top_k(model):
    with pytest.raises(InvalidArgument, match="top_k="):
        predict_files(model, [], top_k=0)
    assert predict_files(model, []) == []
