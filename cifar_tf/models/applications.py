"""keras.applications backbones (DenseNet121, ResNet50, MobileNetV2, VGG19) under a new CIFAR-10 head,
with their ImageNet weights found in Keras' cache or downloaded into it."""
import os
from pathlib import Path

import keras
import numpy as np
from keras import layers

from .. import IMAGE_SHAPE, NUM_CLASSES, settings
from ..validation import InvalidArgument, check_bool, check_choice
from .builders import check_common, l2_regularizer, softmax_head
from .limits import DENSE_UNITS, IMAGE_SIZE

# ImageNet statistics used by the keras.applications preprocessing modes.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype="float32")      # 'torch' mode, RGB
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype="float32")
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype="float32")  # 'caffe' mode, BGR


class WeightsUnavailable(RuntimeError):
    """Pretrained weights were asked for but cannot be found in the cache nor downloaded."""


_KERAS_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
_MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)
_APPLICATIONS = {
    # name: (constructor name in keras.applications, weights folder, md5 of the no-top file)
    "densenet121": ("DenseNet121", "densenet/", "30ee3e1110167f948a6b9946edeeb738"),
    "resnet50": ("ResNet50", "resnet/", "4d473c1dd8becc155b73f8504c6f6626"),
    "mobilenetv2": ("MobileNetV2", "mobilenet_v2/", None),
    "keras_vgg19": ("VGG19", "vgg19/", "253f8cb515780f3b799900260a226db6"),
}


def imagenet_weights_filename(name, image_size=96):
    """The file name Keras downloads the no-top ImageNet weights of `name` to (in models/)."""
    check_choice("arch", name, tuple(_APPLICATIONS))
    if name == "mobilenetv2":
        # Keras has MobileNetV2 weights per input size and loads the 224 ones for other sizes.
        rows = image_size if image_size in _MOBILENET_V2_SIZES else 224
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"
    return f"{_APPLICATIONS[name][0].lower()}_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _keras_cache_dirs():
    """Where Keras keeps downloaded weights: $KERAS_HOME/models or ~/.keras/models."""
    try:   # the folder Keras itself resolved at import time (private accessor)
        from keras.src.backend.config import keras_home
        keras_dir = keras_home()
    except (ImportError, AttributeError):
        keras_dir = None
    homes = [settings.keras_home(), keras_dir, "~/.keras",
             os.path.join("/tmp", ".keras")]   # Keras' fallback when the home is read-only
    seen, out = set(), []
    for home in homes:
        if home:
            path = Path(home).expanduser() / "models"
            if path not in seen:
                seen.add(path)
                out.append(path)
    return out


def imagenet_weights_source(name, image_size=96):
    """`(url, folder)`: where Keras downloads the no-top ImageNet weights of `name` from, and the
    folder of its cache it looks in first ($KERAS_HOME/models, else ~/.keras/models)."""
    filename = imagenet_weights_filename(name, image_size)
    return _KERAS_WEIGHTS_URL + _APPLICATIONS[name][1] + filename, _keras_cache_dirs()[0]


def _cached_imagenet_weights(name, image_size=96):
    filename = imagenet_weights_filename(name, image_size)
    for folder in _keras_cache_dirs():
        if (folder / filename).is_file():
            return str(folder / filename)
    return None


def imagenet_weights_available(name, image_size=96):
    """True when the ImageNet weights of `name` are already in Keras' cache (no network)."""
    return _cached_imagenet_weights(name, image_size) is not None


def _download_imagenet_weights(name, image_size):
    """Fetch the weights into Keras' cache with keras.utils.get_file; return the file's path."""
    _, folder, md5 = _APPLICATIONS[name]
    filename = imagenet_weights_filename(name, image_size)
    cache_dir = str(settings.keras_home()) if settings.keras_home() else None
    return keras.utils.get_file(filename, _KERAS_WEIGHTS_URL + folder + filename,
                                cache_subdir="models", file_hash=md5, cache_dir=cache_dir)


def _imagenet_weights_path(name, image_size):
    """A local path to the ImageNet weights: from the cache, else downloaded, else an error."""
    path = _cached_imagenet_weights(name, image_size)
    if path:
        return path
    try:
        return _download_imagenet_weights(name, image_size)
    except Exception as error:   # get_file raises a bare Exception on URL errors
        raise WeightsUnavailable(
            f"ImageNet weights for {name} could not be downloaded (no network?). Keras caches "
            f"them in ~/.keras/models (or $KERAS_HOME/models) as "
            f"{imagenet_weights_filename(name, image_size)}; put the file there or pass "
            f"weights=PATH. ({error})") from error


def _check_weights(weights):
    if weights is None or (isinstance(weights, str) and weights.strip().lower() in ("", "none")):
        return None
    if weights == "imagenet":
        return weights
    path = Path(str(weights)).expanduser()
    if path.suffix.lower() not in (".h5", ".hdf5") or not path.is_file():
        raise InvalidArgument("weights", weights,
                              "None, 'imagenet' or the path of an existing .h5/.weights.h5 file")
    return str(path)


def _application(arch, *, weights, image_size, freeze_base, dense_units, dropout, l2,
                 num_classes, name, preprocess):
    """A keras.applications base (include_top=False, GAP) named "base" under a new Dense head."""
    num_classes, name, dropout, l2 = check_common(num_classes, name, dropout, l2)
    weights = _check_weights(weights)
    if image_size is None:
        image_size = 32 if weights is None else 96   # pretrained filters want bigger objects
    image_size = IMAGE_SIZE.check("image_size", image_size)
    freeze_base = check_bool("freeze_base", freeze_base)
    dense_units = DENSE_UNITS.check("dense_units", dense_units)
    if weights == "imagenet":
        weights = _imagenet_weights_path(arch, image_size)

    constructor = getattr(keras.applications, _APPLICATIONS[arch][0])
    kwargs = {"alpha": 1.0} if arch == "mobilenetv2" else {}
    # A file path goes through the same `weights=` argument Keras uses for its own download.
    base = constructor(include_top=False, weights=weights, pooling="avg",
                       input_shape=(image_size, image_size, 3), name="base", **kwargs)
    base.trainable = not freeze_base

    inputs = keras.Input(IMAGE_SHAPE, name="image")
    x = inputs
    if image_size != IMAGE_SHAPE[0]:
        x = layers.Resizing(image_size, image_size, interpolation="bilinear", name="resize",
                            dtype="float32")(x)
    x = preprocess(x)
    # Pretrained bases run in inference mode (keras.io transfer-learning recipe): their
    # BatchNorm statistics stay the ImageNet ones even after unfreezing for fine-tuning.
    x = base(x, training=False) if weights is not None else base(x)
    x = layers.Dense(dense_units, activation="relu", kernel_regularizer=l2_regularizer(l2),
                     name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, softmax_head(x, num_classes, l2), name=name)


def _torch_preprocess(x):
    """keras.applications 'torch' mode: /255, then ImageNet mean/std per RGB channel."""
    x = layers.Rescaling(1.0 / 255, name="rescale", dtype="float32")(x)
    return layers.Normalization(mean=IMAGENET_MEAN, variance=IMAGENET_STD ** 2,
                                name="normalize", dtype="float32")(x)


def _caffe_preprocess(x):
    """keras.applications 'caffe' mode: RGB -> BGR and minus the ImageNet BGR means, no scaling.

    A frozen 1x1 Conv2D whose kernel is the channel permutation and whose bias is -mean does
    both at once without a Lambda layer.
    """
    conv = layers.Conv2D(3, 1, trainable=False, name="caffe_preprocess", dtype="float32")
    y = conv(x)
    conv.set_weights([np.eye(3, dtype="float32")[::-1].reshape(1, 1, 3, 3), -CAFFE_MEAN_BGR])
    return y


def _tf_preprocess(x):
    """keras.applications 'tf' mode: scale 0-255 to -1..1."""
    return layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale", dtype="float32")(x)


def densenet121(*, weights=None, image_size=None, freeze_base=False, dense_units=256,
                dropout=0.3, l2=0.0, num_classes=NUM_CLASSES, name="densenet121"):
    """keras.applications DenseNet121 base with a new Dense head (image_size None: 32, or 96
    with pretrained weights)."""
    return _application("densenet121", weights=weights, image_size=image_size,
                        freeze_base=freeze_base, dense_units=dense_units, dropout=dropout, l2=l2,
                        num_classes=num_classes, name=name, preprocess=_torch_preprocess)


def resnet50(*, weights=None, image_size=None, freeze_base=False, dense_units=256,
             dropout=0.3, l2=0.0, num_classes=NUM_CLASSES, name="resnet50"):
    """keras.applications ResNet50 base with a new Dense head (image_size None: 32, or 96
    with pretrained weights)."""
    return _application("resnet50", weights=weights, image_size=image_size,
                        freeze_base=freeze_base, dense_units=dense_units, dropout=dropout, l2=l2,
                        num_classes=num_classes, name=name, preprocess=_caffe_preprocess)


def mobilenetv2(*, weights=None, image_size=None, freeze_base=False, dense_units=256,
                dropout=0.3, l2=0.0, num_classes=NUM_CLASSES, name="mobilenetv2"):
    """keras.applications MobileNetV2 (alpha 1.0) base with a new Dense head (image_size None:
    32, or 96 with pretrained weights)."""
    return _application("mobilenetv2", weights=weights, image_size=image_size,
                        freeze_base=freeze_base, dense_units=dense_units, dropout=dropout, l2=l2,
                        num_classes=num_classes, name=name, preprocess=_tf_preprocess)


def keras_vgg19(*, weights=None, image_size=None, freeze_base=False, dense_units=256,
                dropout=0.3, l2=0.0, num_classes=NUM_CLASSES, name="keras_vgg19"):
    """keras.applications VGG19 (no BatchNorm, as Keras' vgg19.py builds it) with a new Dense head
    (image_size None: 32, or 96 with pretrained weights)."""
    return _application("keras_vgg19", weights=weights, image_size=image_size,
                        freeze_base=freeze_base, dense_units=dense_units, dropout=dropout, l2=l2,
                        num_classes=num_classes, name=name, preprocess=_caffe_preprocess)
