import numpy as np
import pytest
import tensorflow as tf

from cifar_tf.data.augment import AUGMENT_PRESETS, Augmentation, augment_batch, parse_augmentation, training_dataset
from cifar_tf.validation import InvalidArgument

SEED = tf.constant([1, 2], tf.int64)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (16, 32, 32, 3)).astype(np.float32)


def test_parse_presets_and_settings():
    assert parse_augmentation("seed001") == AUGMENT_PRESETS["seed001"]
    assert parse_augmentation("seed001").rotation == 15 and parse_augmentation("seed001").zoom == 0.2
    combined = parse_augmentation("seed001,cutout=8")
    assert combined.cutout == 8 and combined.rotation == 15
    assert parse_augmentation("flip,crop=4") == Augmentation(flip=True, crop=4)
    assert parse_augmentation("none").is_identity and parse_augmentation("").is_identity


@pytest.mark.parametrize("spec, name", [("sideways", "augment"), ("crop=-1", "augment crop"),
                                        ("rotation=400", "augment rotation"), ("colour=1", "augment"),
                                        ("fill=mirror", "augment fill")])
def test_bad_specs_name_the_setting(spec, name):
    with pytest.raises(InvalidArgument) as info:
        parse_augmentation(spec)
    assert info.value.name == name


def test_flip_gives_the_image_or_its_mirror(images):
    out = augment_batch(images, "flip", SEED).numpy()
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)]
    same = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(f or s for f, s in zip(flipped, same))
    assert 0 < sum(flipped) < len(images)  # some of each


def test_crop_is_an_integer_translation(images):
    out = augment_batch(images, "crop=3", SEED).numpy()
    for o, i in zip(out, images):
        matches = [(dx, dy) for dx in range(-3, 4) for dy in range(-3, 4)
                   if np.allclose(o[8:24, 8:24], i[8 + dy:24 + dy, 8 + dx:24 + dx], atol=1e-3)]
        assert matches, "each image must be its original moved by whole pixels"


def test_seed001_is_repeatable_and_stays_in_range(images):
    a = augment_batch(images, "seed001", SEED).numpy()
    b = augment_batch(images, "seed001", SEED).numpy()
    c = augment_batch(images, "seed001", tf.constant([3, 4], tf.int64)).numpy()
    assert a.shape == images.shape and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= -1e-3 and a.max() <= 255 + 1e-3
    assert not np.allclose(a, images)


def test_cutout_zeroes_one_square(images):
    out = augment_batch(images + 1, "cutout=8", SEED).numpy()  # +1: no true zeros in the input
    for o in out:
        zero_pixels = (o == 0).all(axis=-1)
        rows, cols = np.nonzero(zero_pixels)
        assert 0 < zero_pixels.sum() <= 64
        assert rows.max() - rows.min() < 8 and cols.max() - cols.min() < 8


def test_training_dataset_batches_one_hot_and_repeatable():
    x = np.arange(10 * 32 * 32 * 3, dtype=np.uint8).reshape(10, 32, 32, 3)
    y = np.arange(10) % 10
    dataset = training_dataset(x, y, batch_size=4, augmentation="flip", seed=7)
    batches = list(dataset)
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert dataset.cardinality() == 3  # known in advance: Keras counts an epoch's steps from it
    images, labels = batches[0]
    assert images.dtype == tf.float32 and labels.shape == (4, 10)
    assert np.allclose(labels.numpy().sum(axis=1), 1)
    again = list(training_dataset(x, y, batch_size=4, augmentation="flip", seed=7))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(batches, again))
