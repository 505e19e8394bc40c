import keras
import numpy as np
import pytest

from cifar_tf.training.config import TrainConfig
from cifar_tf.training.optim import LinearWarmupDecay, SharpnessAware, make_optimizer, make_schedule

STEPS = 10  # steps per epoch


def lr_at(config, step):
    schedule = make_schedule(config.validated(), STEPS)
    return float(schedule(step)) if callable(schedule) else float(schedule)


def test_constant():
    config = TrainConfig(lr=0.01)
    assert lr_at(config, 0) == lr_at(config, 99) == pytest.approx(0.01)


def test_step_decay_divides_by_ten_after_ten_epochs():
    # Report 001's recipe: Adam 1e-3, lr / 10 after epoch 10.
    config = TrainConfig(lr=1e-3, epochs=30, schedule="step", decay_every=10, decay_factor=0.1)
    assert lr_at(config, 99) == pytest.approx(1e-3)
    assert lr_at(config, 100) == pytest.approx(1e-4)
    assert lr_at(config, 250) == pytest.approx(1e-5)


def test_exponential_is_smooth():
    config = TrainConfig(lr=1.0, epochs=20, schedule="exponential", decay_every=10, decay_factor=0.5)
    assert lr_at(config, 50) == pytest.approx(0.5 ** 0.5, rel=1e-5)
    assert lr_at(config, 100) == pytest.approx(0.5, rel=1e-5)


def test_cosine_with_and_without_warmup():
    config = TrainConfig(lr=1.0, epochs=10, schedule="cosine")
    assert lr_at(config, 0) == pytest.approx(1.0)
    assert lr_at(config, 50) == pytest.approx(0.5, abs=1e-5)
    assert lr_at(config, 100) == pytest.approx(0.0, abs=1e-6)
    warm = TrainConfig(lr=1.0, epochs=10, schedule="cosine", warmup_epochs=2)
    assert lr_at(warm, 0) == pytest.approx(0.1)
    assert lr_at(warm, 20) == pytest.approx(1.0)
    assert lr_at(warm, 60) == pytest.approx(0.5, abs=1e-5)


def test_onecycle_rises_then_falls_linearly():
    config = TrainConfig(lr=1.0, epochs=10, schedule="onecycle", warmup_epochs=2)
    assert lr_at(config, 0) == pytest.approx(0.1)
    assert lr_at(config, 10) == pytest.approx(0.55)
    assert lr_at(config, 20) == pytest.approx(1.0)
    assert lr_at(config, 60) == pytest.approx(0.5)
    assert lr_at(config, 100) == pytest.approx(0.0, abs=1e-6)
    assert LinearWarmupDecay.from_config(LinearWarmupDecay(1.0, 100, 20).get_config()).warmup_steps == 20


@pytest.mark.parametrize("name, cls", [("sgd", keras.optimizers.SGD), ("adam", keras.optimizers.Adam),
                                       ("adamw", keras.optimizers.AdamW), ("rmsprop", keras.optimizers.RMSprop)])
def test_optimizers(name, cls):
    optimizer = make_optimizer(TrainConfig(optimizer=name, nesterov=True, weight_decay=1e-4).validated(), STEPS)
    assert isinstance(optimizer, cls)
    assert optimizer.weight_decay == pytest.approx(1e-4)
    if name == "sgd":
        assert optimizer.nesterov and optimizer.momentum == pytest.approx(0.9)


def tiny_model():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def one_step(model, x, y):
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    model.train_on_batch(x, y)
    return [w.numpy() for w in model.trainable_weights]


def test_sam_is_a_real_two_pass_update():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 32, 32, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, 8), 10)
    keras.utils.set_random_seed(1)
    plain = tiny_model()
    start = [w.numpy() for w in plain.trainable_weights]
    plain_after = one_step(plain, x, y)

    keras.utils.set_random_seed(1)
    inner = tiny_model()
    assert all(np.array_equal(a, b) for a, b in zip(start, inner.trainable_weights))
    sam_after = one_step(SharpnessAware(inner, rho=0.5), x, y)
    # The weights moved (the perturbation was undone, the step applied) and not as plain SGD did.
    assert any(not np.allclose(a, b) for a, b in zip(start, sam_after))
    assert any(not np.allclose(a, b, atol=1e-6) for a, b in zip(plain_after, sam_after))

    # With rho -> 0, SAM's gradient is the plain gradient.
    keras.utils.set_random_seed(1)
    tiny_rho = one_step(SharpnessAware(tiny_model(), rho=1e-9), x, y)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(plain_after, tiny_rho))
