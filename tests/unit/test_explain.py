import numpy as np
import pytest

from cifar_tf.evaluation import explain

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from cifar_tf.models.registry import build_model  # noqa: E402
from cifar_tf.validation import InvalidArgument  # noqa: E402

# Small versions of each family: plain CNN, residual net with parameter-free shortcuts, the
# airbench net, and a keras.applications base nested in the model as "base".
ARCHS = {
    "simple_cnn": dict(filters1=8, filters2=8, filters3=8, dense_units=8),
    "resnet20": dict(blocks_per_stage=1, width=8),
    "fast_cnn": dict(widths=(8, 16, 16), whiten_width=6),
    "mobilenetv2": dict(weights=None, dense_units=8),
}


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return {name: build_model(name, **params) for name, params in ARCHS.items()}


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", ARCHS)
def test_grad_cam_is_a_normalised_map_for_every_architecture(models, image, name):
    model = models[name]
    layer = explain.cam_layer(model)
    for class_index in (None, 3):
        heatmap = explain.grad_cam(model, image, class_index)
        assert heatmap.ndim == 2 and min(heatmap.shape) >= 2 and heatmap.dtype == np.float32
        assert heatmap.min() >= 0 and heatmap.max() in (0.0, 1.0)
    if name == "mobilenetv2":
        assert layer.startswith("base/")  # found inside the nested keras.applications model


def test_grad_cam_agrees_with_the_keras_io_recipe(models, image):
    # The recipe builds a model of the last conv block's output and the logits, then weighs the
    # feature maps by the mean gradient: possible directly here because simple_cnn is flat.
    model = models["simple_cnn"]
    assert explain.cam_layer(model) == "relu3"
    reference = keras.Model(model.input, [model.get_layer("relu3").output, model.get_layer("logits").output])
    with tf.GradientTape() as tape:
        features, logits = reference(image[None].astype("float32"))
        score = logits[:, 5]
    weights = tf.reduce_mean(tape.gradient(score, features), axis=(1, 2))
    cam = tf.nn.relu(tf.reduce_sum(features * weights[:, None, None, :], axis=-1))[0].numpy()
    expected = cam / cam.max() if cam.max() > 0 else cam
    assert np.allclose(explain.grad_cam(model, image, 5), expected, atol=1e-5)


def test_grad_cam_defaults_to_the_predicted_class(models, image):
    model = models["resnet20"]
    predicted = int(np.argmax(model(image[None].astype("float32"))))
    assert np.allclose(explain.grad_cam(model, image), explain.grad_cam(model, image, predicted))


def test_overlay_for_display(models, image):
    model = models["fast_cnn"]
    picture = explain.grad_cam_overlay(model, image, 2)
    assert picture.shape == (224, 224, 3) and picture.dtype == np.uint8
    big = np.full((300, 300, 3), 128, np.uint8)
    assert explain.grad_cam_overlay(model, image, display=big, size=None).shape == (300, 300, 3)
    # A cold map leaves the picture nearly as it was; a hot one colours it.
    cold = explain.overlay(big, np.zeros((4, 4)), alpha=0.5)
    hot = explain.overlay(big, np.ones((4, 4)), alpha=0.5)
    assert np.abs(cold.astype(int) - 128).mean() < np.abs(hot.astype(int) - 128).mean()


def test_bad_arguments(models, image):
    with pytest.raises(InvalidArgument):
        explain.grad_cam(models["simple_cnn"], image, class_index=10)
    with pytest.raises(ValueError, match="shape"):
        explain.grad_cam(models["simple_cnn"], image[:16])
    with pytest.raises(ValueError, match="no layer"):
        explain.grad_cam(models["simple_cnn"], image, layer="nope")


@pytest.mark.parametrize("name, count, size", [("simple_cnn", 8, 3), ("fast_cnn", 6, 2), ("mobilenetv2", 32, 3)])
def test_first_layer_filters(models, name, count, size):
    filters = explain.first_layer_filters(models[name])
    assert filters.shape == (count, size, size, 3) and filters.dtype == np.uint8
    assert (filters.reshape(count, -1).max(axis=1) == 255).all()  # each stretched to full contrast
    grid = explain.image_grid(filters, columns=4, scale=5, pad=1)
    assert grid.shape == (1 + -(-count // 4) * (5 * size + 1), 1 + 4 * (5 * size + 1), 3)


@pytest.mark.parametrize("name", ARCHS)
def test_activation_maps_cover_every_convolution(models, image, name):
    model = models[name]
    maps = explain.activation_maps(model, image, max_channels=4)
    assert [m["layer"] for m in maps] == explain.conv_layers(model)
    for entry in maps:
        height, width, channels = entry["shape"]
        assert entry["maps"].shape == (min(4, channels), height, width)
        assert entry["maps"].min() >= 0 and entry["maps"].max() <= 1
    assert explain.image_grid(maps[0]["maps"]).dtype == np.uint8


def test_a_saved_model_works_too(trained_runs, image):
    from cifar_tf.evaluation.predict import load_model
    from cifar_tf.runs.store import list_runs

    run = next(r for r in list_runs(trained_runs)[0] if r.name == "baseline")
    model = load_model(run.model_path)
    assert explain.grad_cam(model, image).shape == (4, 4)
    assert explain.first_layer_filters(model).shape == (32, 3, 3, 3)
