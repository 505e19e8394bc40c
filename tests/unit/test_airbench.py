"""The airbench recipe, part by part against hand computation, then one tiny run end to end.

Written for any Keras backend: the suite runs this file under TensorFlow, and again under JAX
(tests/unit/test_backends.py)."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from scipy.special import softmax

from cifar_tf.data.cifar10 import load_cifar10
from cifar_tf.evaluation import tta
from cifar_tf.models.registry import build_model
from cifar_tf.runs import store
from cifar_tf.training import airbench
from cifar_tf.training.config import check_config
from cifar_tf.training.presets import preset_config
from cifar_tf.training.run import train
from cifar_tf.validation import InvalidArgument

TINY = {"widths": (4, 8, 8)}


@pytest.fixture(autouse=True)
def _float32():
    keras.mixed_precision.set_global_policy("float32")  # exact comparisons
    yield
    keras.mixed_precision.set_global_policy("float32")


def _settings(**overrides):
    config = preset_config("fast", arch_params=TINY, epochs=2, batch_size=8, warmup_epochs=0.5,
                           mixed_precision="off", **overrides).validated()
    return airbench.recipe_settings(config, train_size=16)


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def test_whitening_kernel_whitens_two_by_two_patches():
    rng = np.random.default_rng(0)
    # Correlated inputs: smoothed noise, so neighbouring pixels and channels covary.
    noise = rng.normal(size=(64, 33, 33, 3)).astype(np.float32)
    inputs = (noise[:, 1:, 1:] + noise[:, :-1, :-1] + 0.5 * noise[:, :-1, 1:]) @ np.array(
        [[1, 0.5, 0.2], [0.3, 1, 0.4], [0, 0.2, 1]], np.float32)
    kernel = airbench.whitening_kernel(inputs, 2, 24, eps=5e-4)
    assert kernel.shape == (2, 2, 3, 24)
    np.testing.assert_allclose(kernel[..., 12:], -kernel[..., :12])  # each filter and its negative
    out = keras.ops.convert_to_numpy(keras.ops.conv(inputs, kernel, padding="valid"))
    out = out[..., :12].reshape(-1, 12).astype(np.float64)
    covariance = out.T @ out / len(out)
    patches = np.stack([inputs[:, i:31 + i, j:31 + j] for i in range(2) for j in range(2)], 3).reshape(-1, 12)
    eigenvalues = np.linalg.eigvalsh(patches.T.astype(np.float64) @ patches / len(patches))[::-1]
    np.testing.assert_allclose(covariance, np.diag(eigenvalues / (eigenvalues + 5e-4)), atol=2e-3)
    assert np.allclose(np.diag(covariance), 1, atol=0.01)  # eigenvalues >> eps here: white


def test_init_whitening_sets_the_frozen_kernel_from_the_data():
    model = build_model("fast_cnn", widths=TINY["widths"])
    before = _numpy(model.get_layer("whiten").kernel).copy()
    airbench.init_whitening(model, _images(20))
    after = _numpy(model.get_layer("whiten").kernel)
    assert not np.allclose(before, after) and np.allclose(after[..., 12:], -after[..., :12])


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable.value)


def _gradients(model, loss_fn, x, y):
    """d loss / d weight for each trainable weight of `model` (by path), with the backend's own
    autodiff, on a stateless call (BatchNorm statistics left as they are)."""
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def loss(values):
        logits, _ = model.stateless_call(values, non_trainable, x, training=True)
        return loss_fn(y, logits)

    if keras.backend.backend() == "jax":
        import jax

        grads = jax.grad(loss)(trainable)
    else:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(trainable)
            value = loss(trainable)
        grads = tape.gradient(value, trainable)
    return {v.path: keras.ops.convert_to_numpy(g) for v, g in zip(model.trainable_variables, grads)}


def test_one_step_matches_hand_computed_coupled_l2_and_bias_rate():
    keras.utils.set_random_seed(1)
    model = build_model("fast_cnn", widths=TINY["widths"])
    rng = np.random.default_rng(1)
    for layer in model.layers:  # non-zero biases, so their L2 term shows
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.beta.assign(rng.normal(0, 0.5, layer.beta.shape).astype(np.float32))
    model.get_layer("whiten").bias.assign(rng.normal(0, 0.5, (24,)).astype(np.float32))
    settings = _settings()
    trainer = airbench.build_trainer(model, settings)
    x, y = _images(8, 2).astype(np.float32), np.eye(10, dtype=np.float32)[np.arange(8)]

    # Hand computation: gradient of the summed smoothed loss, plus batch x wd x w (wd / 64 for
    # BatchNorm biases), BatchNorm biases at 64x the rate; the first Nesterov step moves a
    # weight by -lr (1 + momentum) g, at the schedule's starting rate 0.2 x peak.
    before = {v.path: _numpy(v).copy() for v in model.weights}
    logits_net = keras.Model(model.input, model.get_layer("probabilities").input)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True, reduction="sum", label_smoothing=0.2)
    grads = _gradients(logits_net, loss_fn, x, y)

    trainer.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    lr = settings["lr"] * airbench.HYP["opt"]["lr_start"]
    momentum, wd = settings["momentum"], settings["weight_decay"]
    bn_biases = {layer.beta.path for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}
    whiten = model.get_layer("whiten")
    assert bn_biases and whiten.bias.path in grads
    for v in model.trainable_weights:
        if v is whiten.kernel:
            continue
        scale = 64.0 if v.path in bn_biases else 1.0
        expected_grad = scale * (grads[v.path] + 8 * wd / scale * before[v.path])
        expected = before[v.path] - lr * (1 + momentum) * expected_grad
        np.testing.assert_allclose(_numpy(v), expected, rtol=2e-4, atol=1e-6, err_msg=v.path)
    # The whitening kernel is frozen.
    np.testing.assert_array_equal(_numpy(whiten.kernel), before[whiten.kernel.path])


def test_whitening_bias_stops_after_its_epochs():
    model = build_model("fast_cnn", widths=TINY["widths"])
    trainer = airbench.build_trainer(model, {**_settings(), "whiten_bias_steps": 0})
    bias = model.get_layer("whiten").bias
    before = _numpy(bias).copy()
    x, y = _images(8, 3).astype(np.float32), np.eye(10, dtype=np.float32)[np.arange(8)]
    trainer.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_array_equal(_numpy(bias), before)


def test_lookahead_pulls_weights_to_the_average_statistics_included():
    model = build_model("fast_cnn", widths=TINY["widths"])
    settings = {**_settings(), "total_steps": 5}
    trainer = airbench.build_trainer(model, settings)
    names = [v.path for v in trainer._ema_sources]
    assert any("moving_mean" in n for n in names) and any("moving_variance" in n for n in names)
    trainer.optimizer.build(trainer.trainable_variables)
    averages = [_numpy(a).copy() for a in trainer._ema]
    weights = []
    for v in trainer._ema_sources:
        v.assign(_numpy(v) + 1.0)
        weights.append(_numpy(v).copy())
    trainer.optimizer.iterations.assign(4)      # not a lookahead step: nothing moves
    trainer.lookahead_step()
    for v, w in zip(trainer._ema_sources, weights):
        np.testing.assert_array_equal(_numpy(v), w)
    trainer.optimizer.iterations.assign(5)      # every 5 steps, with decay 0.95^5 (step / total)^3
    trainer.lookahead_step()
    decay = 0.95 ** 5 * (5 / 5) ** 3
    for v, a, avg, w in zip(trainer._ema_sources, trainer._ema, averages, weights):
        np.testing.assert_allclose(_numpy(a), decay * avg + (1 - decay) * w, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(_numpy(v), _numpy(a))
    # In training: step 5 is a lookahead step.
    trainer = airbench.build_trainer(build_model("fast_cnn", widths=TINY["widths"]), _settings())
    x, y = _images(40, 4).astype(np.float32), np.eye(10, dtype=np.float32)[np.arange(40) % 10]
    trainer.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for v, a in zip(trainer._ema_sources, trainer._ema):
        np.testing.assert_allclose(_numpy(v), _numpy(a))


def test_alternating_flip_mirrors_every_image_on_odd_epochs():
    n = 64
    images = np.zeros((n, 32, 32, 3), np.uint8)
    images[:, 0] = np.arange(n)[:, None, None]                 # row 0: the index, mirror-proof
    images[:, 1:] = np.arange(32, dtype=np.uint8)[None, None, :, None] * 4   # a left-right ramp
    batches = list(airbench.training_batches(images, np.arange(n) % 10, batch_size=n, epochs=4,
                                             translate=0, seed=3))
    flipped = []
    for batch, _ in batches:
        batch = keras.ops.convert_to_numpy(batch)
        order = batch[:, 0, 0, 0].astype(int)
        assert sorted(order) == list(range(n))                  # every image once per epoch
        state = np.empty(n, bool)
        state[order] = batch[:, 5, 0, 0] > batch[:, 5, -1, 0]   # the ramp runs right to left
        flipped.append(state)
    assert 0 < flipped[0].sum() < n                             # epoch 0: a random half
    assert (flipped[1] == ~flipped[0]).all() and (flipped[3] == ~flipped[2]).all()
    assert (flipped[2] == flipped[0]).all()


def test_translation_moves_whole_pixels_within_the_pad():
    source = _images(16, 5)
    offsets = np.random.default_rng(5).integers(0, 5, (2, 16)).astype(np.int32)
    out = keras.ops.convert_to_numpy(airbench.translate_batch(keras.ops.convert_to_tensor(source), offsets, 2))
    for o, i, dy, dx in zip(out, source, offsets[0] - 2, offsets[1] - 2):
        np.testing.assert_array_equal(o[4:28, 4:28], i[4 + dy:28 + dy, 4 + dx:28 + dx])
    assert len({(a, b) for a, b in offsets.T}) > 1


def test_tta_is_airbenchs_weighted_mean_of_six_views_logits():
    keras.utils.set_random_seed(2)
    model = build_model("fast_cnn", widths=TINY["widths"])
    images = _images(6, 6)
    logits = keras.Model(model.input, model.get_layer("probabilities").input)
    f = lambda v: np.asarray(logits.predict_on_batch(v.astype(np.float32)))  # noqa: E731
    mirror = lambda v: v[:, :, ::-1]  # noqa: E731
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    up_left, down_right = padded[:, :32, :32], padded[:, 2:, 2:]
    expected = (0.5 * (0.5 * f(images) + 0.5 * f(mirror(images)))
                + 0.5 * 0.5 * ((0.5 * f(up_left) + 0.5 * f(mirror(up_left)))
                               + (0.5 * f(down_right) + 0.5 * f(mirror(down_right)))))
    # Log-probabilities are the logits less one constant per image: the same after a softmax.
    np.testing.assert_allclose(tta.predict_proba(model, images, batch_size=4), softmax(expected, axis=1), atol=1e-5)
    np.testing.assert_allclose(tta.predict_proba(model, images, tta.PLAIN), softmax(f(images), axis=1), atol=1e-5)


def test_recipe_refuses_what_it_cannot_honour():
    for field, value in [("optimizer", "adam"), ("schedule", "cosine"), ("augment", "seed001"), ("sam_rho", 0.05)]:
        with pytest.raises(InvalidArgument) as info:
            check_config(preset_config("fast", **{field: value}), build=False)
        assert info.value.name == field


@pytest.mark.slow
def test_tiny_fast_run_trains_saves_a_plain_model_and_stops_on_request(cifar_dir, runs_dir):
    config = preset_config("fast", arch_params={"widths": (16, 32, 32)}, epochs=1, batch_size=64, val_size=100,
                           log_every=2)
    run = train(config, runs_dir=runs_dir, data_dir=cifar_dir, log=lambda *_: None)
    record = run.record
    assert record["status"] == "completed" and record["recipe"] == "airbench"
    assert record["config"]["recipe"] == "airbench" and record["epochs_completed"] == 1
    metrics = record["metrics"]
    assert run.evaluation()["accuracy"] == pytest.approx(metrics["test_accuracy"])
    # The accuracy without TTA is the saved model's own, as plain Keras computes it: in float32
    # here, in bfloat16 during the run, which flips a few of these 100 near-chance predictions.
    data = load_cifar10(cifar_dir)
    plain = keras.models.load_model(run.model_path).predict(data.x_test.astype("float32"), verbose=0)
    assert float((plain.argmax(1) == data.y_test).mean()) == pytest.approx(metrics["test_accuracy_no_tta"], abs=0.05)
    assert len(run.epochs()) == 1 and run.epochs()[0]["val_accuracy"] is not None and run.steps()

    # Plain Keras loads it anywhere, float32, no custom objects; its outputs are probabilities.
    data = load_cifar10(cifar_dir)
    np.save(runs_dir / "x.npy", data.x_test[:8])
    code = ("import keras, numpy as np, sys; m = keras.models.load_model(sys.argv[1]);"
            "p = m.predict(np.load(sys.argv[2]), verbose=0);"
            "print(p.dtype, round(float(p.sum(1).mean()), 4), {l.dtype_policy.name for l in m.layers})")
    out = subprocess.run([sys.executable, "-c", code, run.model_path, runs_dir / "x.npy"], capture_output=True,
                         text=True, timeout=120, cwd="/", env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.stdout.split()[:2] == ["float32", "1.0"], out.stderr
    assert "{'float32'}" in out.stdout

    stopped = store.create_run(runs_dir, arch="fast_cnn", config={}, name="stopped")
    stopped.request_stop()
    stopped = train(config.__class__(**{**config.to_dict(), "epochs": 3}), run=stopped, data_dir=cifar_dir,
                    log=lambda *_: None)
    # Stopped after its first batch: nothing finished, the cut epoch recorded as partial.
    assert stopped.status == "stopped" and stopped.record["epochs_completed"] == 0
    assert stopped.epochs()[-1]["partial"]
    assert stopped.model_path.exists()


def test_the_gpu_preset_is_airbench94():
    from cifar_tf.training.presets import PRESETS

    preset, opt = PRESETS["fast"]["config"], airbench.HYP["opt"]
    sgd = airbench.sgd_hyperparameters()
    assert preset["recipe"] == "airbench" and preset["arch"] == "fast_cnn"
    assert preset["lr"] == pytest.approx(sgd["lr"]) == pytest.approx(1.4648e-3, rel=1e-4)
    assert preset["weight_decay"] == pytest.approx(sgd["weight_decay"])
    # per step of 1024 images: lr x L2 coefficient x 1024 = airbench's 0.0153 x 1024 / kilostep
    assert 1024 * sgd["lr"] * sgd["weight_decay"] == pytest.approx(0.0153 * 1024 / (1024 * (1 + 1 / 0.15)))
    assert (preset["momentum"], preset["batch_size"], preset["epochs"], preset["label_smoothing"]) == (
        opt["momentum"], opt["batch_size"], opt["epochs"], opt["label_smoothing"])
    assert preset["warmup_epochs"] / preset["epochs"] == pytest.approx(opt["warmup"])
    assert preset["augment"] == "flip,crop=2" and "arch_params" not in preset  # fast_cnn's 64/256/256
    assert build_model("fast_cnn").get_layer("block3_conv2").kernel.shape[-1] == airbench.HYP["net"]["widths"][-1]
