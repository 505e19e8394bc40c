import io

import numpy as np
import pytest
from PIL import Image

from cifar_tf import CLASS_NAMES
from cifar_tf.data import augment, cifar10, images
from cifar_tf.evaluation import predict
from cifar_tf.runs import store
from cifar_tf.validation import InvalidArgument
from cifar_tf.views import data as data_view
from cifar_tf.views import formatting, pictures
from helpers import chart_rows


def test_sample_indices_are_distinct_repeatable_and_change_with_the_seed():
    labels = np.arange(100) % 10
    first = cifar10.sample_indices(labels, 32, seed=1)
    assert len(first) == 32 and len(set(first)) == 32
    assert np.array_equal(first, cifar10.sample_indices(labels, 32, seed=1))
    assert not np.array_equal(first, cifar10.sample_indices(labels, 32, seed=2))


def test_sample_indices_keeps_only_the_chosen_classes_and_caps_at_what_there_is():
    labels = np.arange(100) % 10
    picked = cifar10.sample_indices(labels, 32, classes=[3, 7], seed=0)
    assert len(picked) == 20
    assert set(labels[picked]) == {3, 7}
    assert len(cifar10.sample_indices(labels, 32, classes=[], seed=0)) == 32
    assert len(cifar10.sample_indices(labels, 0, seed=0)) == 0
    with pytest.raises(InvalidArgument):
        cifar10.sample_indices(labels, -1, seed=0)


def test_enlarge_keeps_pixels_as_blocks():
    image = np.zeros((32, 32, 3), np.uint8)
    image[0, 0] = [255, 0, 0]
    big = pictures.enlarge(image, 96)
    assert big.size == (96, 96)
    pixels = np.asarray(big)
    assert (pixels[:3, :3] == [255, 0, 0]).all() and (pixels[3:, 3:] == 0).all()


def _info():
    return {"class_names": list(CLASS_NAMES),
            "train_counts": {name: 5000 for name in CLASS_NAMES},
            "test_counts": {name: 1000 + i for i, name in enumerate(CLASS_NAMES)}}


def test_class_counts_is_long_and_in_class_order():
    counts = data_view.class_counts(_info())
    assert list(counts.columns) == ["class", "split", "count"]
    assert len(counts) == 20
    assert counts.groupby("split")["count"].sum().to_dict() == {"train": 50000, "test": 10045}
    assert list(counts["class"].cat.categories) == list(CLASS_NAMES)
    table = data_view.class_counts_table(counts)
    assert list(table.columns) == ["train", "test"]
    assert table.loc["truck", "test"] == 1009 and table.loc["total", "train"] == 50000


def test_class_counts_chart_draws_both_splits_of_every_class():
    info = _info()
    chart = data_view.class_counts_chart(data_view.class_counts(info))
    bars = {(row["class"], row["split"]): row["count"] for row in chart_rows(chart)}
    assert bars == {(name, split): info[f"{split}_counts"][name] for name in CLASS_NAMES for split in ("train", "test")}
    assert chart.to_dict()["encoding"]["y"]["sort"] == list(CLASS_NAMES)    # in CIFAR-10's order, names whole


def test_augmentation_preview_shapes_and_variety():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = augment.augmentation_preview(image, "flip,crop=4,rotation=15", n=16, seed=0)
    assert out.shape == (16, 32, 32, 3) and out.dtype == np.uint8
    assert len({o.tobytes() for o in out}) > 8
    assert np.array_equal(out, augment.augmentation_preview(image, "flip,crop=4,rotation=15", n=16))
    none = augment.augmentation_preview(image, "none", n=4)
    assert (none == image).all()


@pytest.mark.parametrize("spec", ["banana", "crop=-1", "rotation=lots", "colour=3"])
def test_augmentation_preview_rejects_bad_specs(spec):
    with pytest.raises(InvalidArgument):
        augment.augmentation_preview(np.zeros((32, 32, 3), np.uint8), spec)


def test_augmentation_preview_rejects_a_wrong_image():
    with pytest.raises(InvalidArgument):
        augment.augmentation_preview(np.zeros((28, 28), np.uint8), "flip")


def test_probability_chart_from_pairs_and_from_a_vector():
    pairs = [("cat", 0.7), ("dog", 0.2), ("frog", 0.05)]
    frame = data_view.probability_frame(pairs)
    assert list(frame["class"]) == ["cat", "dog", "frog"]
    vector = np.zeros(10)
    vector[[3, 5]] = [0.3, 0.7]
    frame = data_view.probability_frame(vector, CLASS_NAMES)
    assert list(frame["class"][:2]) == ["dog", "cat"] and len(frame) == 10
    drawn = chart_rows(data_view.probability_chart(pairs))
    assert [(row["class"], row["probability"], row["rank"]) for row in drawn] == [
        ("cat", 0.7, "top"), ("dog", 0.2, "other"), ("frog", 0.05, "other")]
    with pytest.raises(ValueError):
        data_view.probability_frame(np.zeros(3), CLASS_NAMES)


def _png(size=(40, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_read_uploads_keeps_going_past_junk():
    junk = io.BytesIO(b"definitely not an image")
    junk.name = "junk.png"
    good = io.BytesIO(_png())
    good.name = "red.png"
    uploads = images.read_uploads([junk, good, b""])
    assert [u.name for u in uploads] == ["junk.png", "red.png", "image 3"]
    assert uploads[0].error and uploads[2].error == "empty file"
    assert uploads[1].error is None and uploads[1].model_input.shape == (32, 32, 3)
    assert uploads[1].image.size == (40, 30)


class _Constant:
    """A stand-in model: always the same probabilities, one row per image."""

    def predict_on_batch(self, images):
        row = np.linspace(1, 2, 10, dtype=np.float32)
        return np.tile(row / row.sum(), (len(images), 1))


def test_predict_uploads_predicts_only_usable_images():
    uploads = images.read_uploads([b"junk", _png(), _png((64, 64))])
    probabilities = predict.predict_uploads(_Constant(), uploads)
    assert probabilities.shape == (2, 10)
    assert predict.predict_uploads(_Constant(), uploads[:1]).shape == (0, 10)


def test_label_predictions():
    probabilities = np.eye(10)[[3, 5, 0]] * 0.9 + 0.01
    results = predict.label_predictions(probabilities, [3, 3, 0], CLASS_NAMES)
    assert [r["correct"] for r in results] == [True, False, True]
    assert results[1] == {"true": "cat", "predicted": "dog", "probability": pytest.approx(0.91),
                          "correct": False}
    with pytest.raises(ValueError):
        predict.label_predictions(probabilities, [1, 2], CLASS_NAMES)


def test_model_runs_and_demo_run(tmp_path):

    with_model = store.create_run(tmp_path, arch="simple_cnn", config={}, status="completed")
    with_model.model_path.write_bytes(b"model")
    store.create_run(tmp_path, arch="simple_cnn", config={}, status="completed")
    found, _ = store.list_runs(tmp_path)
    assert [r.id for r in store.with_model(found)] == [with_model.id]

    assert store.demo_run(tmp_path) is None
    demo = store.create_run(tmp_path, arch="simple_cnn", config={}, run_id=store.DEMO_RUN,
                           status="completed")
    assert store.demo_run(tmp_path) is None  # no model file yet
    demo.model_path.write_bytes(b"model")
    assert store.demo_run(tmp_path).id == store.DEMO_RUN


@pytest.mark.parametrize("text", ["**bold**", ":red[alarm]", "[x](javascript:alert(1))",
                                  "<script>alert(1)</script>", "# heading\n- item", "$x^2$"])
def test_escape_markdown_leaves_no_live_syntax(text):
    escaped = formatting.escape_markdown(text)
    assert "\n" not in escaped
    for special in "*[]<>#$:":
        assert f"{special}" not in escaped.replace(f"\\{special}", "")
