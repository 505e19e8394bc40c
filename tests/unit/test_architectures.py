"""Architectures: every registered model builds, trains a step, stays float32 under mixed
precision and round-trips through a .keras file loaded by plain Keras."""
import importlib
import inspect

import keras
import numpy as np
import pytest
from keras import layers

from cifar_tf.models import applications, registry
from cifar_tf.validation import InvalidArgument

# Keras' TF backend trips a NumPy 2 deprecation on every variable read; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

# Small settings so the whole file runs in well under 90 s on 2 CPU cores.
SMALL = {
    "simple_cnn": {},
    "hyper_cnn": {"filters1": 8, "filters2": 8, "dense_units": 16},
    "deep_cnn": {"filters": 8, "blocks": 2, "dense_units": 16},
    "resnet_style": {"filters": 8, "depth": 3, "dense_units": 16},
    "concat_cnn": {"filters": 8, "dense_units": "16,8"},
    "fast_cnn": {"widths": "8,16,16", "whiten_width": 12},
    "resnet20": {"width": 4, "blocks_per_stage": 1},
    "resnet18": {"width": 8},
    "vgg16": {"width": 8, "dense_units": 16},
    "vgg19": {"width": 8, "dense_units": 16},
    "mobilenetv2": {"weights": None, "image_size": 32, "dense_units": 16},
    "resnet50": {"weights": None, "image_size": 32, "dense_units": 16},
    "densenet121": {"weights": None, "image_size": 32, "dense_units": 16},
    "keras_vgg19": {"weights": None, "image_size": 32, "dense_units": 16},
}


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.backend.clear_session()
    yield
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()


def _images(n=2, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def test_registry_covers_small_settings_and_defaults_match_signatures():
    assert set(SMALL) == set(registry.ARCHITECTURES)
    for name, arch in registry.ARCHITECTURES.items():
        assert arch.name == name and arch.description and arch.source
        assert "\n" not in arch.description
        # Read from the builder's source without importing TensorFlow, and the same as its signature.
        builder = getattr(importlib.import_module(f"cifar_tf.models.{arch.module}"), name)
        params = inspect.signature(builder).parameters
        assert arch.defaults == {k: p.default for k, p in params.items()}
        assert arch.defaults["num_classes"] == 10 and arch.defaults["name"] == name
        assert set(SMALL[name]) <= set(arch.defaults)


@pytest.mark.parametrize("name", list(SMALL))
def test_builds_trains_and_round_trips(name, tmp_path):
    model = registry.build_model(name, **SMALL[name])
    x = _images()
    probs = model(x, training=False)
    assert probs.dtype == "float32" and tuple(probs.shape) == (2, 10)
    np.testing.assert_allclose(np.sum(probs, axis=1), 1.0, rtol=1e-5)
    assert model.layers[-1].name == "probabilities"
    assert not any(isinstance(layer, layers.Lambda) for layer in _all_layers(model))

    # Eager keeps the test fast (no graph tracing); the step itself is the same.
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", run_eagerly=True)
    loss = model.train_on_batch(x, np.array([0, 1]))
    assert np.isfinite(np.ravel(loss)[0])

    path = tmp_path / "model.keras"
    model.save(path)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    keras.backend.clear_session()
    loaded = keras.models.load_model(path)   # plain Keras, safe mode, no custom objects
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x, training=False)), expected,
                               rtol=1e-5, atol=1e-6)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


@pytest.mark.parametrize("name", list(SMALL))
def test_output_stays_float32_under_mixed_precision(name):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = registry.build_model(name, **SMALL[name])
        assert model.get_layer("logits").compute_dtype == "bfloat16"
        probs = model(_images(), training=False)
        assert probs.dtype == "float32"
        np.testing.assert_allclose(np.sum(probs, axis=1), 1.0, rtol=1e-3)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_unknown_hyperparameter_and_architecture_are_named():
    with pytest.raises(InvalidArgument, match="widht") as info:
        registry.build_model("resnet18", widht=8)
    # Named as the setting it belongs to (the command line's --arch-param), with the typo as value.
    assert info.value.name == "arch_params" and info.value.value == "widht" and "width" in str(info.value)
    with pytest.raises(InvalidArgument) as info:
        registry.get_architecture("lenet")
    assert info.value.name == "arch"
    assert all(name in str(info.value) for name in registry.ARCHITECTURES)
    with pytest.raises(InvalidArgument, match="arch"):
        registry.build_model("lenet")


@pytest.mark.parametrize("name, hp, bad", [
    ("resnet18", {"width": 0}, "width"),
    ("deep_cnn", {"dropout": 1.5}, "dropout"),
    ("fast_cnn", {"widths": "8,16"}, "widths"),
    ("resnet_style", {"depth": 9}, "depth"),
    ("resnet20", {"shortcut": "pad"}, "shortcut"),
    ("simple_cnn", {"l2": "x"}, "l2"),
    ("mobilenetv2", {"weights": "/no/such/file.h5"}, "weights"),
    ("mobilenetv2", {"image_size": 16}, "image_size"),
])
def test_hyperparameter_values_are_validated(name, hp, bad):
    with pytest.raises(InvalidArgument) as info:
        registry.build_model(name, **hp)
    assert info.value.name == bad


def test_simple_cnn_matches_report_001():
    # Report 001's model, written as the report has it (inputs already divided by 255).
    reference = keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(32, (3, 3)), layers.BatchNormalization(), layers.Activation("relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3)), layers.BatchNormalization(), layers.Activation("relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3)), layers.BatchNormalization(), layers.Activation("relu"),
        layers.Flatten(),
        layers.Dense(64), layers.BatchNormalization(), layers.Activation("relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model = registry.build_model("simple_cnn")
    assert model.count_params() == reference.count_params() == registry.count_params("simple_cnn")
    ours = [type(layer).__name__ for layer in model.layers
            if not isinstance(layer, (keras.layers.InputLayer, layers.Rescaling))]
    theirs = [type(layer).__name__ for layer in reference.layers]
    assert ours[:-1] == theirs   # ours splits the last Dense's softmax into its own layer
    assert ours[-1] == "Activation"
    assert [w.shape for w in model.weights] == [w.shape for w in reference.weights]


def test_fast_cnn_convs_start_as_identity():
    model = registry.build_model("fast_cnn", widths="8,16,16", whiten_width=12)
    for b in (1, 2, 3):
        for i in (1, 2):
            kernel = keras.ops.convert_to_numpy(model.get_layer(f"block{b}_conv{i}").kernel)
            n = min(kernel.shape[2], kernel.shape[3])
            identity = np.zeros((3, 3, kernel.shape[2], n), "float32")
            identity[1, 1, np.arange(n), np.arange(n)] = 1.0
            np.testing.assert_array_equal(kernel[..., :n], identity)
            if kernel.shape[3] > n:   # the remaining filters keep their random init
                assert np.abs(kernel[..., n:]).sum() > 0
    assert model.get_layer("whiten").kernel.shape == (2, 2, 3, 12)
    assert isinstance(model.get_layer("logit_scale"), layers.Rescaling)


def test_resnet50_caffe_preprocessing_matches_keras():
    model = registry.build_model("resnet50", **SMALL["resnet50"])
    x = _images().astype("float32")
    ours = keras.ops.convert_to_numpy(model.get_layer("caffe_preprocess")(x))
    theirs = keras.applications.resnet50.preprocess_input(x.copy())
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    assert not model.get_layer("caffe_preprocess").trainable


def test_application_base_is_named_and_freezable():
    model = registry.build_model("mobilenetv2", freeze_base=True, **SMALL["mobilenetv2"])
    base = model.get_layer("base")
    assert isinstance(base, keras.Model) and not base.trainable
    # Only the new head trains.
    assert {w.path.split("/")[0] for w in model.trainable_weights} == {"dense", "logits"}


def test_weights_path_round_trip(tmp_path):
    # The same `weights=` route Keras uses for its downloaded ImageNet files, with a local file.
    base = keras.applications.MobileNetV2(include_top=False, weights=None, pooling="avg",
                                          input_shape=(32, 32, 3))
    path = tmp_path / "base.weights.h5"
    base.save_weights(path)
    expected = base.get_weights()
    keras.backend.clear_session()
    model = registry.build_model("mobilenetv2", weights=str(path), image_size=32, dense_units=16)
    got = model.get_layer("base").get_weights()
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_imagenet_weights_come_from_the_keras_cache(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")
    monkeypatch.setattr(applications, "_download_imagenet_weights", no_network)
    assert not applications.imagenet_weights_available("mobilenetv2", 32)

    # Put a legacy .h5 weights file where Keras caches downloads ($KERAS_HOME/models).
    import h5py
    from keras.src.legacy.saving import legacy_h5_format
    base = keras.applications.MobileNetV2(include_top=False, weights=None, pooling="avg",
                                          input_shape=(32, 32, 3))
    filename = applications.imagenet_weights_filename("mobilenetv2", 32)
    assert filename.endswith("_1.0_224_no_top.h5")   # Keras' choice for sizes it has no file for
    cache = tmp_path / "keras-home" / "models"
    cache.mkdir(parents=True)
    with h5py.File(cache / filename, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, base)
    expected = base.get_weights()
    keras.backend.clear_session()

    assert applications.imagenet_weights_available("mobilenetv2", 32)
    model = registry.build_model("mobilenetv2", weights="imagenet", image_size=32, dense_units=16)
    for a, b in zip(model.get_layer("base").get_weights(), expected):
        np.testing.assert_array_equal(a, b)


def test_missing_imagenet_weights_raise_weights_unavailable(monkeypatch):
    calls = []

    def offline(name, image_size):
        calls.append((name, image_size))
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(applications, "_download_imagenet_weights", offline)
    assert not applications.imagenet_weights_available("mobilenetv2")
    with pytest.raises(applications.WeightsUnavailable, match="ImageNet weights for mobilenetv2 could not "
                                                   "be downloaded") as info:
        registry.build_model("mobilenetv2", weights="imagenet")
    assert "weights=PATH" in str(info.value) and ".keras/models" in str(info.value)
    assert calls == [("mobilenetv2", 96)]   # default image size with pretrained weights
    assert isinstance(info.value, RuntimeError)


def test_default_sizes_are_sensible():
    assert registry.count_params("resnet20") == 271_098   # "0.27M" in He et al. 2016, table 6
    assert registry.count_params("resnet18") == 11_183_562
    assert registry.count_params("resnet20", shortcut="projection") > registry.count_params("resnet20")


def test_a_parse_that_another_thread_trips_is_tried_again(monkeypatch):
    """Python 3.11.7's ast.parse fails now and then while another thread parses (autograph in the
    app's warm-up thread): the registry's read of a builder's source tries again instead of
    showing the page a SystemError."""
    real_parse, failures = registry.ast.parse, []

    def flaky_parse(source, **kwargs):
        if len(failures) < 2:
            failures.append(1)
            raise SystemError("AST constructor recursion depth mismatch (before=57, after=94)")
        return real_parse(source, **kwargs)

    monkeypatch.setattr(registry.ast, "parse", flaky_parse)
    tree = registry.parse_source(inspect.getsourcefile(applications))
    assert len(failures) == 2
    assert any(getattr(node, "name", None) == "mobilenetv2" for node in tree.body)
    failures.clear()
    with pytest.raises(SystemError):
        registry.parse_source(inspect.getsourcefile(applications), attempts=2)
