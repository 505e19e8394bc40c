"""The Keras-fit recipe's core on whichever Keras backend this process runs: a run with report
001's augmentation, SAM, SAM under float16 loss scaling, and the batches made on the device.

Written for any backend, with no TensorFlow import: run it under JAX with
`KERAS_BACKEND=jax python -m pytest -n 0 tests/unit/test_core_keras_fit.py`. The last test checks
that JAX trains with TensorFlow out of reach, as on a machine without it."""
import importlib.util
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from cifar_tf.data.device_batches import DeviceBatches, augmentation_transform, evaluation_data
from cifar_tf.models.registry import build_model
from cifar_tf.training import keras_fit
from cifar_tf.training.config import TrainConfig
from cifar_tf.training.optim import SharpnessAware
from cifar_tf.training.run import train
from helpers import ROOT, synthetic_images

BACKEND = keras.backend.backend()


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def weights_of(model):
    return [numpy(w.value).copy() for w in model.trainable_weights]


@pytest.fixture(autouse=True)
def _float32():
    yield
    keras.mixed_precision.set_global_policy("float32")  # a test that changed it must not leak it


@pytest.fixture(scope="module")
def data():
    """A few hundred synthetic images per split (learnable classes), as prepare_data returns."""
    rng = np.random.default_rng(0)
    splits = {}
    for name, n, seed in (("train", 320, 1), ("val", 64, 2), ("test", 64, 3)):
        labels = rng.permutation(np.arange(n) % 10)
        splits[f"x_{name}"], splits[f"y_{name}"] = synthetic_images(labels, seed=seed), labels
    return {**splits, "path": "synthetic"}


def test_a_keras_fit_run_trains_with_report_001_augmentation(data, runs_dir):
    config = TrainConfig(arch="simple_cnn", epochs=2, batch_size=32, augment="seed001", lr=3e-3, log_every=5,
                         backend=BACKEND)
    run = train(config, runs_dir=runs_dir, data=data, log=lambda *_: None)
    record = run.record
    assert record["status"] == "completed", record.get("error")
    assert record["device"]["backend"] == BACKEND and record["steps_per_epoch"] == 10
    losses = [epoch["loss"] for epoch in run.epochs()]
    assert len(losses) == 2 and all(np.isfinite(losses)) and losses[1] < losses[0]
    assert run.epochs()[-1]["val_accuracy"] is not None and record["metrics"]["test_accuracy"] is not None


def test_sam_trains_and_moves_the_weights(data):
    keras.utils.set_random_seed(0)
    model = build_model("simple_cnn")
    before = weights_of(model)
    config = TrainConfig(arch="simple_cnn", epochs=1, batch_size=64, augment="flip", sam_rho=0.05).validated()
    history = keras_fit.fit(model, config, data, device={"xla": BACKEND == "jax"}, callbacks=[],
                            stop=SimpleNamespace(requested=False), log=lambda *_: None)
    assert np.isfinite(history["loss"][0]) and np.isfinite(history["val_loss"][0])
    after = weights_of(model)
    assert all(np.isfinite(w).all() for w in after)
    assert sum(not np.array_equal(a, b) for a, b in zip(before, after)) == len(before)


def _sam_one_step(initial_scale):
    """A float16 SAM step under a LossScaleOptimizer: (weights before, after, scale after)."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax", dtype="float32")])
    trainer = SharpnessAware(model, rho=0.05)
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=initial_scale)
    trainer.compile(optimizer=optimizer, loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 8)).astype("float32"), np.eye(10, dtype="float32")[rng.integers(0, 10, 16)]
    trainer.build((None, 8))
    before = weights_of(model)
    trainer.train_on_batch(x, y)
    return before, weights_of(model), float(numpy(optimizer.dynamic_scale))


def test_sam_leaves_the_weights_when_float16_gradients_overflow():
    # A scale of 1e10 overflows float16 (65,504) on the way back: the first pass's gradients are
    # infinite. Unguarded, rho * g / |g| is inf / inf = NaN and the perturbation poisons the weights.
    before, after, scale = _sam_one_step(initial_scale=1e10)
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert scale == 5e9  # the loss-scale optimizer skipped the step and halved its scale, as without SAM
    # The same step at a scale that fits trains as usual.
    before, after, scale = _sam_one_step(initial_scale=2.0 ** 10)
    assert all(np.isfinite(w).all() for w in after) and any(not np.array_equal(a, b) for a, b in zip(before, after))
    assert scale == 2.0 ** 10


def test_device_batches_visit_every_image_once_per_epoch_repeatably():
    n, batch = 70, 16
    x = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 32, 32, 3)).copy()
    y = np.arange(n) % 10
    batches = DeviceBatches(x, y, batch_size=batch, epochs=3, seed=5, drop_remainder=False)
    assert len(batches) == 5
    epochs = [list(batches.iterate(e, e + 1)) for e in range(3)]
    orders = []
    for epoch in epochs:
        assert [len(numpy(images)) for images, _ in epoch] == [16, 16, 16, 16, 6]
        images = np.concatenate([numpy(images) for images, _ in epoch])
        labels = np.concatenate([numpy(labels) for _, labels in epoch])
        assert images.dtype == np.float32 and images.shape == (n, 32, 32, 3)
        assert labels.dtype == np.float32 and labels.shape == (n, 10)
        order = images[:, 0, 0, 0].astype(int)           # each image is its own index, everywhere
        assert sorted(order) == list(range(n))
        np.testing.assert_array_equal(labels, np.eye(10)[y[order]])
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    assert sum(1 for _ in batches) == 15                  # iterating runs all three epochs
    # Whole batches only: 4 steps, and an epoch of 64 different images.
    whole = DeviceBatches(x, y, batch_size=batch, seed=5)
    assert len(whole) == 4 and len({int(v) for b, _ in whole for v in numpy(b)[:, 0, 0, 0]}) == 64
    with pytest.raises(ValueError, match="batch_size"):
        DeviceBatches(x, y, batch_size=n + 1)


def test_device_batches_augment_the_same_for_a_seed_and_afresh_each_epoch(data):
    x, y = data["x_train"][:64], data["y_train"][:64]

    def first_epochs(seed):
        batches = DeviceBatches(x, y, batch_size=32, epochs=2, seed=seed, shuffle=False,
                                transform=augmentation_transform("seed001"))
        return [numpy(images) for images, _ in batches]

    a, b, c = first_epochs(1), first_epochs(1), first_epochs(2)
    assert all(np.array_equal(p, q) for p, q in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert not np.allclose(a[0], a[2])                    # same images, unshuffled: a new draw
    assert 0 <= min(v.min() for v in a) and max(v.max() for v in a) <= 255.01


def test_evaluation_data_is_in_order_and_unaugmented(data):
    x, y = data["x_val"], data["y_val"]
    batches = list(evaluation_data(x, y, batch_size=24))
    assert [len(numpy(images)) for images, _ in batches] == [24, 24, 16]
    np.testing.assert_array_equal(np.concatenate([numpy(images) for images, _ in batches]), x.astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([numpy(labels) for _, labels in batches]), np.eye(10)[y])


BLOCK_TENSORFLOW = """
import importlib.abc, sys

class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"{name} is blocked: this process has no TensorFlow")

sys.meta_path.insert(0, NoTensorFlow())
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX")
def test_jax_trains_without_tensorflow(tmp_path):
    code = BLOCK_TENSORFLOW + textwrap.dedent("""
        import numpy as np
        import cifar_tf.data.augment, cifar_tf.data.device_batches, cifar_tf.training.keras_fit, cifar_tf.training.optim
        from cifar_tf.training.config import TrainConfig
        from cifar_tf.training.run import train
        from helpers import synthetic_images

        labels = np.arange(96) % 10
        images = synthetic_images(labels)
        data = dict(x_train=images[:64], y_train=labels[:64], x_val=images[64:80], y_val=labels[64:80],
                    x_test=images[80:], y_test=labels[80:])
        config = TrainConfig(arch="simple_cnn", epochs=1, batch_size=32, augment="seed001,cutout=8",
                             sam_rho=0.05, backend="jax")
        run = train(config, runs_dir=sys.argv[1], data=data, log=lambda *_: None)
        assert run.record["status"] == "completed", run.record
        assert "tensorflow" not in sys.modules
        print("trained", run.record["device"]["backend"], run.epochs()[-1]["loss"])
        """)
    env = {**os.environ, "KERAS_BACKEND": "jax", "CIFAR_TF_BACKEND": "jax",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "trained jax" in result.stdout
