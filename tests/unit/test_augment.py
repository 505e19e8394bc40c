"""Augmentation: the settings, the maths (keras.ops, any backend) and TensorFlow's pipeline.

Written for any Keras backend: TensorFlow is imported only by the tests that are about it."""
import keras
import numpy as np
import pytest

from cifar_tf.data import augment
from cifar_tf.data.augment import AUGMENT_PRESETS, Augmentation, augment_batch, parse_augmentation
from cifar_tf.validation import InvalidArgument

SEED = np.array([1, 2], np.uint32)
TENSORFLOW_BACKEND = keras.backend.backend() == "tensorflow"


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


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
    out = numpy(augment_batch(images, "flip", SEED))
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)]
    same = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(f or s for f, s in zip(flipped, same))
    assert 0 < sum(flipped) < len(images)  # some of each


def test_crop_is_an_integer_translation(images):
    out = numpy(augment_batch(images, "crop=3", SEED))
    for o, i in zip(out, images):
        matches = [(dx, dy) for dx in range(-3, 4) for dy in range(-3, 4)
                   if np.allclose(o[8:24, 8:24], i[8 + dy:24 + dy, 8 + dx:24 + dx], atol=1e-3)]
        assert matches, "each image must be its original moved by whole pixels"


def test_seed001_is_repeatable_and_stays_in_range(images):
    a = numpy(augment_batch(images, "seed001", SEED))
    b = numpy(augment_batch(images, "seed001", SEED))
    c = numpy(augment_batch(images, "seed001", np.array([3, 4], np.uint32)))
    assert a.shape == images.shape and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= -1e-3 and a.max() <= 255 + 1e-3
    assert not np.allclose(a, images)


def test_cutout_zeroes_one_square(images):
    out = numpy(augment_batch(images + 1, "cutout=8", SEED))  # +1: no true zeros in the input
    for o in out:
        zero_pixels = (o == 0).all(axis=-1)
        rows, cols = np.nonzero(zero_pixels)
        assert 0 < zero_pixels.sum() <= 64
        assert rows.max() - rows.min() < 8 and cols.max() - cols.min() < 8


@pytest.mark.skipif(not TENSORFLOW_BACKEND, reason="tf.data feeds the TensorFlow backend only")
def test_training_dataset_batches_one_hot_and_repeatable():
    import tensorflow as tf

    from cifar_tf.data.augment import training_dataset

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


def _numpy_random_uniform(seed, rows, n):
    """augment.random_uniform in NumPy: what every backend must draw, number for number."""
    def mix(x):
        x = x.astype(np.uint64)
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return (x ^ (x >> 16)).astype(np.uint32)

    seed = np.asarray(seed).astype(np.uint32)
    key0 = mix(seed[0:1])
    key1 = mix(key0 ^ seed[1])
    counter = (np.arange(rows)[:, None] * 2 ** 20 + np.arange(n)[None, :]).astype(np.uint32)
    return (mix(mix(counter ^ key0) ^ key1) >> 8).astype(np.float32) * np.float32(2.0 ** -24)


def test_random_numbers_are_the_same_on_every_backend():
    for seed in ([1, 2], [0, 0], [2 ** 32 - 1, 12345]):
        expected = _numpy_random_uniform(seed, len(augment.DRAWS), 300)
        drawn = numpy(augment.compiled(lambda s: augment.random_uniform(s, len(augment.DRAWS), 300))(
            np.array(seed, np.uint32)))
        np.testing.assert_array_equal(drawn, expected)
    assert 0.45 < expected.mean() < 0.55 and expected.min() >= 0 and expected.max() < 1
    # An image's numbers do not depend on how many images share its batch.
    np.testing.assert_array_equal(numpy(augment.random_uniform(SEED, 3, 5)), _numpy_random_uniform(SEED, 3, 300)[:, :5])


@pytest.mark.parametrize("fill", augment.FILL_MODES)
def test_warp_is_image_projective_transform_v3(images, fill):
    """The bilinear pass against TensorFlow's own kernel: bit for bit uncompiled under TensorFlow;
    under another backend (with TensorFlow installed to compare) within float rounding; compiled,
    XLA's fusion moves the last bits only."""
    tf = pytest.importorskip("tensorflow")
    aug = parse_augmentation(f"seed001,crop=3,fill={fill}")
    transforms = numpy(augment._random_affine(images.shape, aug, augment.random_uniform(SEED, len(augment.DRAWS),
                                                                                         len(images))))
    expected = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=[32, 32], fill_value=0.0, interpolation="BILINEAR",
        fill_mode=fill.upper()).numpy()
    warped = numpy(augment._warp_bilinear(keras.ops.convert_to_tensor(images), transforms, fill))
    if TENSORFLOW_BACKEND:
        np.testing.assert_array_equal(warped, expected)
    else:
        np.testing.assert_allclose(warped, expected, atol=0.01)
    compiled = numpy(augment.compiled(lambda x, t: augment._warp_bilinear(x, t, fill))(images, transforms))
    np.testing.assert_allclose(compiled, expected, atol=0.01)
