"""The lab's one test-time augmentation: its named views do what their names say, and Predict, a
run's test scores and the benchmark all average them through the same function."""
import keras
import numpy as np
import pytest

from cifar_tf.evaluation import predict, tta
from cifar_tf.training import airbench

# A 4x4 picture whose pixels are all different: 0..15, row by row.
PICTURE = np.arange(16, dtype=np.uint8).reshape(1, 4, 4, 1)


def made(name):
    [view] = [v for v in tta.VIEWS if v.name == name]
    return keras.ops.convert_to_numpy(tta.make_views(PICTURE, (view,)))[0, 0, :, :, 0]


def test_the_named_views_make_the_transforms_their_names_say():
    x = PICTURE[0, :, :, 0].astype(np.float32)
    assert [v.name for v in tta.VIEWS] == ["identity", "flip", "shift down-right", "shift down-right, flip",
                                           "shift up-left", "shift up-left, flip"]
    np.testing.assert_array_equal(made("identity"), x)
    np.testing.assert_array_equal(made("flip"), x[:, ::-1])            # left and right swapped
    down_right = made("shift down-right")
    np.testing.assert_array_equal(down_right[1:, 1:], x[:-1, :-1])      # every pixel one row down, one column right
    np.testing.assert_array_equal(down_right[0, 1:], x[1, :-1])         # the edge let in is a reflection
    np.testing.assert_array_equal(down_right[1:, 0], x[:-1, 1])
    up_left = made("shift up-left")
    np.testing.assert_array_equal(up_left[:-1, :-1], x[1:, 1:])
    np.testing.assert_array_equal(up_left[-1, :-1], x[-2, 1:])
    np.testing.assert_array_equal(made("shift down-right, flip"), down_right[:, ::-1])
    np.testing.assert_array_equal(made("shift up-left, flip"), up_left[:, ::-1])


def test_weights_are_airbenchs_and_the_words_say_which_views():
    assert [v.weight for v in tta.VIEWS] == [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
    assert tta.describe() == ("6 views averaged: identity ×0.25, flip ×0.25, shift down-right ×0.125, "
                              "shift down-right, flip ×0.125, shift up-left ×0.125, shift up-left, flip ×0.125")
    assert tta.describe(tta.VIEWS[:2]) == "2 views averaged: identity ×0.5, flip ×0.5"   # airbench's level 1
    assert tta.describe(tta.PLAIN) == "one view (no test-time augmentation)"
    scores = np.stack([np.full((2, 3), float(i)) for i in range(6)])
    np.testing.assert_allclose(tta.average(scores), np.full((2, 3), 0.125 * (2 + 3 + 4 + 5) + 0.25))


@pytest.fixture
def model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def test_predict_the_runs_test_scores_and_the_benchmark_use_the_same_function(model, cifar_dir, monkeypatch):
    from cifar_tf.bench import training as bench_training
    from cifar_tf.training import device

    calls, real = [], tta.view_scores

    def spy(model, images, views=tta.VIEWS, **kwargs):
        calls.append(tuple(view.name for view in views))
        return real(model, images, views, **kwargs)

    monkeypatch.setattr(tta, "view_scores", spy)
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    every_view = tuple(view.name for view in tta.VIEWS)

    predict.predict_proba(model, images, tta=True)                      # Predict
    assert calls == [every_view]
    airbench.test_probabilities(model, images, [0, 1, 2], log=lambda *_: None)   # a run's test scores
    assert calls == [every_view] * 2
    # The benchmark's preset timing, its training left out: it scores the test set plain, then with TTA.
    monkeypatch.setattr(airbench, "fit", lambda *args, **kwargs: None)
    monkeypatch.setattr(device, "configure", lambda *args: {"precision": "float32", "xla": False})
    result = bench_training.task_preset("tiny", overrides={"epochs": 1, "arch_params": {"widths": (4, 8, 8)}},
                                        data_dir=cifar_dir)
    assert calls[2:] == [every_view, ("identity",)] and "final_accuracy" in result
