"""What the network sees: Grad-CAM heatmaps, the first layer's filters, activation maps.

Works on every model of `cifar_tf.architectures`, including the keras.applications ones whose
convolutions sit inside a nested model called "base":

    heatmap = grad_cam(model, image)                  # (h, w) in [0, 1], for the predicted class
    picture = grad_cam_overlay(model, image, class_index=3, display=big_photo)   # uint8 RGB
    filters = first_layer_filters(model)              # (n, kh, kw, 3) uint8, one image per filter
    maps = activation_maps(model, image)              # one entry per convolution layer

`image` is what the model takes: a (32, 32, 3) uint8 RGB array (`images.load_for_model`).

Grad-CAM (Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391; keras.io example "Grad-CAM
class activation visualization") weighs the channels of the last convolutional feature map by
the average gradient of the class score (the logit, before the softmax) and keeps the positive
part: bright where evidence for the class lies.
"""
import threading
import weakref

import numpy as np

from .. import IMAGE_SHAPE

# The frozen 1x1 convolution that turns RGB into ImageNet-centred BGR for ResNet50: preprocessing,
# not something the network learnt.
PREPROCESSING_LAYERS = ("caffe_preprocess",)

_TAPPED = weakref.WeakKeyDictionary()  # model → {taps: tapped model}, built once per model
_TAPPED_LOCK = threading.Lock()


# --- finding layers ----------------------------------------------------------------------------

def _is_conv(layer):
    import keras

    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    return isinstance(layer, kinds) and layer.name not in PREPROCESSING_LAYERS


def _is_nested(layer):
    import keras

    return isinstance(layer, keras.Model)


def _walk(model, prefix=""):
    """Every layer in call order as `(path, layer)`, going into nested models ("base/Conv1")."""
    for layer in model.layers:
        path = prefix + layer.name
        if _is_nested(layer):
            yield from _walk(layer, path + "/")
        else:
            yield path, layer


def _output_shape(layer):
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):  # a layer used more than once has no single output
        return ()


def conv_layers(model):
    """Paths of the convolution layers, in call order."""
    return [path for path, layer in _walk(model) if _is_conv(layer)]


def cam_layer(model):
    """The path of the layer Grad-CAM looks at: the last feature map of at least 2x2.

    Pooling and padding layers only move those features around, so the output of the layer before
    them counts; and 1x1 maps (a global max-pool, MobileNetV2's last block at 32 px) carry no
    "where" any more.
    """
    for path, layer in reversed(list(_walk(model))):
        shape = _output_shape(layer)
        if (len(shape) == 4 and shape[1] and shape[2] and min(shape[1], shape[2]) >= 2
                and not type(layer).__name__.endswith(("Pooling2D", "Padding2D"))):
            return path
    raise ValueError(f"model {model.name} has no 4-D feature map of at least 2x2 for Grad-CAM")


def _find(model, path):
    found = dict(_walk(model))
    if path not in found:
        raise ValueError(f"model {model.name} has no layer {path!r}; its convolutions: "
                         + ", ".join(conv_layers(model)[:20]))
    return found[path]


# --- tapping inner outputs ---------------------------------------------------------------------

def _tapped(model, paths):
    """A model sharing `model`'s weights whose outputs are a dict: each path's output and "logits".

    Built by replaying the model's graph (keras.models.clone_model with the layers themselves as
    clones) and recording what the chosen layers return, so nested models work too.
    """
    key = tuple(paths)
    with _TAPPED_LOCK:
        cache = _TAPPED.setdefault(model, {})
        if key not in cache:
            taps = {}
            clone = _replay(model, set(paths), "", taps, top=True)
            inputs = clone.inputs[0] if len(clone.inputs) == 1 else clone.inputs
            cache[key] = _dict_model(inputs, {**taps, "output": clone.outputs[0]})
        return cache[key]


def _dict_model(inputs, outputs):
    import keras

    return keras.Model(inputs, outputs)


def _replay(model, paths, prefix, taps, top=False):
    import keras

    last = model.layers[-1]

    def call(layer, *args, **kwargs):
        path = prefix + layer.name
        if _is_nested(layer) and any(p.startswith(path + "/") for p in paths):
            inner_taps = {}
            inner = _replay(layer, paths, path + "/", inner_taps)
            inner = _dict_model(inner.inputs, {**inner_taps, "output": inner.outputs[0]})
            outputs = inner(*args, **kwargs)
            output = outputs.pop("output")
            taps.update(outputs)
            return output
        if top and layer is last and _is_softmax(layer):
            taps["logits"] = args[0]  # Grad-CAM wants the class score before the softmax
        output = layer(*args, **kwargs)
        if path in paths:
            taps[path] = output
        return output

    return keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)


def _is_softmax(layer):
    import keras

    return (isinstance(layer, keras.layers.Activation)
            and getattr(layer.activation, "__name__", "") == "softmax")


def _batch(image):
    image = np.asarray(image)
    if image.shape != IMAGE_SHAPE:
        raise ValueError(f"image must be a {IMAGE_SHAPE} RGB array, got shape {image.shape}")
    return image[None].astype("float32")


# --- Grad-CAM ----------------------------------------------------------------------------------

def grad_cam(model, image, class_index=None, *, layer=None):
    """Grad-CAM heatmap for `class_index` (default: the predicted class), float32 (h, w) in [0, 1].

    `layer` names the feature map to explain (default `cam_layer(model)`); h and w are its size.
    A map with no positive evidence at all is all zeros.
    """
    import tensorflow as tf

    from ..validation import check_int

    layer = layer or cam_layer(model)
    _find(model, layer)
    tapped = _tapped(model, [layer])
    x = tf.constant(_batch(image))
    with tf.GradientTape() as tape:
        outputs = tapped(x, training=False)
        features = outputs[layer]
        scores = outputs.get("logits", outputs["output"])
        if class_index is None:
            class_index = int(tf.argmax(scores[0]))
        class_index = check_int("class_index", class_index, low=0, high=int(scores.shape[-1]) - 1)
        score = scores[:, class_index]
    gradients = tape.gradient(score, features)
    weights = tf.reduce_mean(gradients, axis=(1, 2))                  # one weight per channel
    cam = tf.nn.relu(tf.reduce_sum(features * weights[:, None, None, :], axis=-1))[0].numpy()
    peak = float(cam.max())
    return (cam / peak if peak > 0 else np.zeros_like(cam)).astype("float32")


def grad_cam_overlay(model, image, class_index=None, *, display=None, size=224, alpha=0.5):
    """The Grad-CAM heatmap over the image, as a uint8 RGB picture ready for `st.image`.

    `image` is the model's (32, 32, 3) input; `display`, if given, is a larger picture of the same
    square (`images.to_model_input(photo, size=224)`) to draw on instead of the blocky 32 px one.
    """
    heatmap = grad_cam(model, image, class_index)
    return overlay(image if display is None else display, heatmap, size=size, alpha=alpha)


def overlay(image, heatmap, *, size=None, alpha=0.5):
    """Blend a [0, 1] heatmap, coloured cold to hot, over an RGB image; both resized to `size`.

    Hot places get the most colour, cold ones stay close to the photo, so the picture still reads.
    """
    from PIL import Image

    image = np.asarray(image, dtype=np.uint8)
    if size:
        small = image.shape[0] < size
        image = np.asarray(Image.fromarray(image).resize(
            (size, size), Image.Resampling.NEAREST if small else Image.Resampling.LANCZOS))
    height, width = image.shape[:2]
    heat = np.asarray(Image.fromarray(np.asarray(heatmap, dtype=np.float32), mode="F").resize(
        (width, height), Image.Resampling.BILINEAR))
    heat = np.clip(heat, 0, 1)
    weight = alpha * (0.3 + 0.7 * heat)[..., None]
    blended = (1 - weight) * image + weight * colorize(heat, "jet")
    return np.clip(blended, 0, 255).round().astype(np.uint8)


# Colour maps as anchor colours spread evenly over [0, 1] (matplotlib's jet and viridis, sampled).
COLORMAPS = {
    "jet": [(0, 0, 128), (0, 0, 255), (0, 128, 255), (0, 255, 255), (128, 255, 128),
            (255, 255, 0), (255, 128, 0), (255, 0, 0), (128, 0, 0)],
    "viridis": [(68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
                (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37)],
    "gray": [(0, 0, 0), (255, 255, 255)],
}


def colorize(values, colormap="viridis"):
    """Map values in [0, 1] to uint8 RGB with one of COLORMAPS."""
    anchors = np.asarray(COLORMAPS[colormap], dtype=np.float32)
    values = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float32)), 0, 1)
    positions = np.linspace(0, 1, len(anchors))
    rgb = [np.interp(values, positions, anchors[:, c]) for c in range(3)]
    return np.stack(rgb, axis=-1).round().astype(np.uint8)


# --- filters and activations -------------------------------------------------------------------

def first_layer_filters(model):
    """The first convolution's filters as small RGB images, uint8 (n, kh, kw, 3).

    Each filter is stretched to the full 0-255 range on its own, as ConvNetJS draws them. Filters
    over three input channels show in colour (channel order corrected for ResNet50's BGR input);
    others show the mean over their input channels in grey.
    """
    first = next((layer for _, layer in _walk(model) if _is_conv(layer)), None)
    if first is None:
        raise ValueError(f"model {model.name} has no convolution layer")
    import keras

    kernel = keras.ops.convert_to_numpy(
        first.depthwise_kernel if hasattr(first, "depthwise_kernel") else first.kernel).astype("float32")
    kh, kw, channels_in, channels_out = kernel.shape
    if channels_in == 3 and not hasattr(first, "depthwise_kernel"):
        if any(name in PREPROCESSING_LAYERS for name, _ in _walk(model)):
            kernel = kernel[:, :, ::-1]  # the caffe preprocessing fed it BGR
        filters = np.transpose(kernel, (3, 0, 1, 2))                  # (n, kh, kw, 3)
    else:
        flat = kernel.reshape(kh, kw, -1) if hasattr(first, "depthwise_kernel") else kernel.mean(axis=2)
        filters = np.repeat(np.transpose(flat, (2, 0, 1))[..., None], 3, axis=-1)
    low = filters.min(axis=(1, 2, 3), keepdims=True)
    span = filters.max(axis=(1, 2, 3), keepdims=True) - low
    scaled = np.where(span > 0, (filters - low) / np.where(span > 0, span, 1), 0.5)
    return (scaled * 255).round().astype(np.uint8)


def activation_maps(model, image, *, max_channels=16, layers=None):
    """What each convolution layer outputs for one image.

    Returns one dict per layer, in call order: `layer` (its path), `shape` (h, w, channels),
    `channels` (the indices shown: the `max_channels` most active, strongest first) and `maps`,
    float32 (k, h, w) scaled together to [0, 1] so strong and weak channels stay comparable.
    """
    from ..validation import check_int

    max_channels = check_int("max_channels", max_channels, low=1, high=1024)
    paths = list(layers) if layers is not None else conv_layers(model)
    for path in paths:
        _find(model, path)
    outputs = _tapped(model, paths)(_batch(image), training=False)
    results = []
    for path in paths:
        maps = np.asarray(outputs[path])[0]                           # (h, w, c)
        strength = np.abs(maps).mean(axis=(0, 1))
        channels = np.argsort(-strength, kind="stable")[:max_channels]
        chosen = np.transpose(maps[:, :, channels], (2, 0, 1))
        low, high = float(chosen.min()), float(chosen.max())
        scaled = (chosen - low) / (high - low) if high > low else np.zeros_like(chosen)
        results.append({"layer": path, "shape": tuple(int(s) for s in maps.shape),
                        "channels": [int(c) for c in channels], "maps": scaled.astype("float32")})
    return results


def image_grid(images, *, columns=8, scale=1, pad=1, background=255):
    """Tile images (n, h, w, 3) uint8, or (n, h, w) in [0, 1] coloured with viridis, into one picture.

    Each tile is enlarged `scale` times without smoothing, so single weights stay visible.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = colorize(images)
    n, h, w = images.shape[:3]
    if scale > 1:
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
        h, w = h * scale, w * scale
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), background, np.uint8)
    for i, tile in enumerate(images):
        r, c = divmod(i, columns)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = tile
    return grid
