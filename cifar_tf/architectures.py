"""CIFAR-10 architectures: a registry of small Keras builder functions.

Every model is built with the functional API from built-in layers only, so a saved
`model.keras` loads with plain `keras.models.load_model` (safe mode, no custom objects,
no Lambda layers) in any process, without this library. Each model:

- takes `keras.Input((32, 32, 3))` holding RGB values 0-255 (uint8 or float) and does its own
  rescaling/normalisation inside;
- ends with `Dense(num_classes)` named "logits" (or a `Rescaling` after it for fast_cnn) and
  `Activation("softmax", dtype="float32", name="probabilities")`, so the output stays float32
  probabilities under a mixed precision policy.

    model = build_model("resnet20", blocks_per_stage=2)
    ARCHITECTURES["vgg16"].defaults   # {'width': 64, ...}
"""
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np
from keras import layers

from . import IMAGE_SHAPE, NUM_CLASSES
from .validation import InvalidArgument, check_bool, check_choice, check_float, check_int

# Per-channel statistics of the CIFAR-10 training set (pixel values scaled to 0-1).
CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype="float32")
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], dtype="float32")

# ImageNet statistics used by the keras.applications preprocessing modes.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype="float32")      # 'torch' mode, RGB
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype="float32")
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype="float32")  # 'caffe' mode, BGR


# Keras' default BatchNorm momentum (0.99) needs several hundred steps before the moving statistics
# used at evaluation match the network: a short classroom run would score near chance on its
# validation set while training well. PyTorch's 0.9 settles in tens of steps.
BN_MOMENTUM = 0.9

class WeightsUnavailable(RuntimeError):
    """Pretrained weights were asked for but cannot be found in the cache nor downloaded."""


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[..., keras.Model]   # keyword hyperparameters with defaults
    description: str                    # one line
    source: str                         # paper / report / example it comes from
    defaults: dict                      # the builder's keyword defaults


# ---------------------------------------------------------------------------------------------
# Shared pieces


def _regularizer(l2):
    # None rather than L2(0.0): keeps the saved config free of no-op regularizers.
    return keras.regularizers.L2(l2) if l2 else None


def _inputs(normalize=True):
    """The image input and its rescaling (0-255 -> 0-1, optionally CIFAR mean/std normalised)."""
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    # float32 even under mixed precision: the raw 0-255 values need the precision.
    x = layers.Rescaling(1.0 / 255, name="rescale", dtype="float32")(inputs)
    if normalize:
        x = layers.Normalization(mean=CIFAR_MEAN, variance=CIFAR_STD ** 2, name="normalize",
                                 dtype="float32")(x)
    return inputs, x


def _head(x, num_classes, l2=0.0):
    """Dense "logits" then a float32 softmax named "probabilities"."""
    x = layers.Dense(num_classes, kernel_regularizer=_regularizer(l2), name="logits")(x)
    return layers.Activation("softmax", dtype="float32", name="probabilities")(x)


def _conv_bn_relu(x, filters, *, strides=1, padding="same", l2=0.0, use_bias=False, name):
    """Conv2D 3x3, BatchNorm, ReLU: the basic unit of the VGG and ResNet families."""
    x = layers.Conv2D(filters, 3, strides=strides, padding=padding, use_bias=use_bias,
                      kernel_initializer="he_normal", kernel_regularizer=_regularizer(l2),
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _check_common(num_classes, name, dropout=None, l2=None):
    num_classes = check_int("num_classes", num_classes, low=2)
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument("name", name, "a non-empty string")
    out = [num_classes, name.strip()]
    if dropout is not None:
        out.append(check_float("dropout", dropout, low=0.0, high=0.9))
    if l2 is not None:
        out.append(check_float("l2", l2, low=0.0, high=1.0))
    return out


def _int_tuple(name, value, *, length=None, low=1, high=4096):
    """Parse (64, 256, 256), [64, 256] or "64,256,256" into a tuple of checked ints."""
    items = value.replace(" ", "").split(",") if isinstance(value, str) else value
    try:
        items = list(items)
    except TypeError:
        raise InvalidArgument(name, value, "a list of integers") from None
    if not items or (length is not None and len(items) != length):
        count = f"{length} integers" if length else "one or more integers"
        raise InvalidArgument(name, value, f"{count} from {low} up to {high}, e.g. '64,256,256'")
    try:
        return tuple(check_int(name, item, low=low, high=high) for item in items)
    except InvalidArgument:
        raise InvalidArgument(name, value, f"integers from {low} up to {high}") from None


# ---------------------------------------------------------------------------------------------
# Report models


def simple_cnn(*, filters1=32, filters2=64, filters3=64, dense_units=64, dropout=0.0, l2=0.0,
               num_classes=NUM_CLASSES, name="simple_cnn"):
    """Report 001's CNN: three valid 3x3 convs with BN/ReLU and two max-pools, Dense 64, softmax."""
    num_classes, name, dropout, l2 = _check_common(num_classes, name, dropout, l2)
    filters = [check_int(f"filters{i}", f, low=1, high=1024)
               for i, f in enumerate((filters1, filters2, filters3), 1)]
    dense_units = check_int("dense_units", dense_units, low=1, high=4096)

    # Only /255 inside, as the report scaled its inputs; no mean/std normalisation.
    inputs, x = _inputs(normalize=False)
    for i, f in enumerate(filters, 1):
        # The report keeps Keras' defaults: valid padding and conv biases before BatchNorm.
        x = layers.Conv2D(f, 3, kernel_regularizer=_regularizer(l2), name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        if i < 3:
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, kernel_regularizer=_regularizer(l2), name="dense")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="dense_bn")(x)
    x = layers.Activation("relu", name="dense_relu")(x)
    if dropout:  # not in the report; only added when asked for so the default stays exact
        x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _head(x, num_classes, l2), name=name)


def deep_cnn(*, blocks=3, filters=32, dense_units=128, dropout=0.25, l2=0.0,
             num_classes=NUM_CLASSES, name="deep_cnn"):
    """Report 001's deeper CNN: VGG-style blocks of two same 3x3 convs, max-pool and dropout."""
    num_classes, name, dropout, l2 = _check_common(num_classes, name, dropout, l2)
    blocks = check_int("blocks", blocks, low=1, high=5)  # 32 px halves 5 times down to 1 px
    filters = check_int("filters", filters, low=1, high=512)
    dense_units = check_int("dense_units", dense_units, low=1, high=4096)

    inputs, x = _inputs()
    for b in range(1, blocks + 1):
        width = filters * 2 ** (b - 1)   # doubling per block as the resolution halves
        x = _conv_bn_relu(x, width, l2=l2, use_bias=True, name=f"block{b}_1")
        x = _conv_bn_relu(x, width, l2=l2, use_bias=True, name=f"block{b}_2")
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
        x = layers.Dropout(dropout, name=f"block{b}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, kernel_regularizer=_regularizer(l2), name="dense")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="dense_bn")(x)
    x = layers.Activation("relu", name="dense_relu")(x)
    x = layers.Dropout(dropout, name="dense_dropout")(x)
    return keras.Model(inputs, _head(x, num_classes, l2), name=name)


def _residual_block(x, filters, *, strides=1, l2=0.0, name):
    """Two 3x3 conv/BN (ReLU between and after), with a 1x1 projection where the shape changes."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False,
                                 kernel_initializer="he_normal",
                                 kernel_regularizer=_regularizer(l2), name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_proj_bn")(shortcut)
    x = _conv_bn_relu(x, filters, strides=strides, l2=l2, name=f"{name}_1")
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                      kernel_regularizer=_regularizer(l2), name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_2_bn")(x)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(x)


def resnet_style(*, depth=3, filters=32, dense_units=512, dropout=0.3, l2=5e-4,
                 num_classes=NUM_CLASSES, name="resnet_style"):
    """Report 002's residual net: conv stem, `depth` residual stages, GAP, Dense, dropout, L2."""
    num_classes, name, dropout, l2 = _check_common(num_classes, name, dropout, l2)
    depth = check_int("depth", depth, low=1, high=5)  # the report searched 3-5
    filters = check_int("filters", filters, low=1, high=512)
    dense_units = check_int("dense_units", dense_units, low=1, high=4096)  # report: 512/768/1024

    inputs, x = _inputs()
    x = _conv_bn_relu(x, filters, l2=l2, name="stem")
    for s in range(depth):
        # Stage 1 keeps the 32x32 resolution; each later stage halves it and doubles filters.
        x = _residual_block(x, filters * 2 ** s, strides=1 if s == 0 else 2, l2=l2,
                            name=f"stage{s + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(dense_units, activation="relu", kernel_regularizer=_regularizer(l2),
                     name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _head(x, num_classes, l2), name=name)


def concat_cnn(*, filters=32, blocks=3, pairs=2, dense_units=(256, 128), dropout=0.3, l2=0.0,
               num_classes=NUM_CLASSES, name="concat_cnn"):
    """Report 004's CNN: max-pool first and last, blocks of concatenated conv pairs, avg-pool."""
    num_classes, name, dropout, l2 = _check_common(num_classes, name, dropout, l2)
    filters = check_int("filters", filters, low=1, high=512)
    blocks = check_int("blocks", blocks, low=1, high=3)  # 16 px after the stem pool: 3 halvings
    pairs = check_int("pairs", pairs, low=1, high=6)
    dense_units = _int_tuple("dense_units", dense_units, length=2)

    def conv(x, f, label):
        return layers.Conv2D(f, 3, padding="same", activation="relu",
                             kernel_initializer="he_normal",
                             kernel_regularizer=_regularizer(l2), name=label)(x)

    inputs, x = _inputs()
    # "Starts with max pooling": a conv stem lifts RGB to features, then the first max-pool.
    x = conv(x, filters, "stem_conv")
    x = layers.MaxPooling2D(2, name="stem_pool")(x)
    for b in range(1, blocks + 1):
        width = filters * 2 ** (b - 1)
        outputs = []
        for p in range(1, pairs + 1):
            # Pairs run one after another; concatenating every pair's output lets the block
            # pass on shallow and deep features side by side.
            x = conv(x, width, f"block{b}_pair{p}_conv1")
            x = conv(x, width, f"block{b}_pair{p}_conv2")
            outputs.append(x)
        x = layers.Concatenate(name=f"block{b}_concat")(outputs) if pairs > 1 else outputs[0]
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{b}_bn")(x)
        x = layers.AveragePooling2D(2, name=f"block{b}_avgpool")(x)
    x = layers.MaxPooling2D(2, name="final_pool")(x)   # "... and ends with max pooling"
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units, 1):
        x = layers.Dense(units, activation="relu", kernel_regularizer=_regularizer(l2),
                         name=f"dense{i}")(x)
        x = layers.Dropout(dropout, name=f"dropout{i}")(x)
    return keras.Model(inputs, _head(x, num_classes, l2), name=name)


# ---------------------------------------------------------------------------------------------
# airbench94-style fast net (Keller Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU")


def dirac_init_(conv_layer):
    """Make the first C_in filters of a built 3x3 Conv2D the identity, as airbench does.

    airbench calls `torch.nn.init.dirac_(w[:C_in])`: those filters are *replaced* by the
    identity (centre tap of input channel i is 1 in filter i, all else 0), the remaining filters
    keep their random initialisation. Done on the weights, not with a custom initializer, so the
    saved model needs no custom objects.
    """
    kernel = keras.ops.convert_to_numpy(conv_layer.kernel).copy()  # (kh, kw, C_in, C_out)
    kh, kw, c_in, c_out = kernel.shape
    n = min(c_in, c_out)
    kernel[..., :n] = 0.0
    kernel[kh // 2, kw // 2, np.arange(n), np.arange(n)] = 1.0
    conv_layer.kernel.assign(kernel)
    return conv_layer


def fast_cnn(*, widths=(64, 256, 256), whiten_width=24, activation="gelu", l2=0.0,
             num_classes=NUM_CLASSES, name="fast_cnn"):
    """airbench94: 2x2 'whiten' conv, GELU, three conv/pool/BN/GELU blocks, scaled linear head.

    `activation="relu"` trades airbench's GELU for speed on a CPU: there GELU (exact erf, in
    bfloat16) costs 8x a ReLU and most of a narrow net's training step.
    """
    num_classes, name, l2 = _check_common(num_classes, name, l2=l2)
    widths = _int_tuple("widths", widths, length=3)
    whiten_width = check_int("whiten_width", whiten_width, low=1, high=1024)
    activation = check_choice("activation", activation, ("gelu", "relu"))

    # PyTorch's default conv/linear init (kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in))),
    # which airbench relies on; a built-in initializer, so nothing custom is saved.
    torch_init = keras.initializers.VarianceScaling(1.0 / 3, "fan_in", "uniform")

    def conv(x, f, label):
        return layers.Conv2D(f, 3, padding="same", use_bias=False, kernel_initializer=torch_init,
                             kernel_regularizer=_regularizer(l2), name=label)(x)

    def norm(x, label):
        # airbench: momentum 0.6 (Keras convention: weight of the old running value),
        # eps 1e-12, fixed scale, trainable bias.
        return layers.BatchNormalization(momentum=0.6, epsilon=1e-12, scale=False, name=label)(x)

    inputs, x = _inputs()
    # 2x2 valid conv (32 -> 31 px); the trainer sets its kernel from patch statistics of the
    # training data (whitening) and may freeze it.
    # float32 under mixed precision: the whitening filters scale the faintest patch components
    # up to 45x, and bfloat16's 8-bit mantissa would scale up its rounding noise with them.
    x = layers.Conv2D(whiten_width, 2, padding="valid", kernel_initializer="he_uniform",
                      kernel_regularizer=_regularizer(l2), dtype="float32", name="whiten")(x)
    # "gelu" is the exact erf GELU, as torch's. The whitening filters come in +/- pairs, so either
    # activation keeps both signs of every component.
    x = layers.Activation(activation, name=f"whiten_{activation}")(x)
    for b, width in enumerate(widths, 1):
        x = conv(x, width, f"block{b}_conv1")
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
        x = norm(x, f"block{b}_bn1")
        x = layers.Activation(activation, name=f"block{b}_{activation}1")(x)
        x = conv(x, width, f"block{b}_conv2")
        x = norm(x, f"block{b}_bn2")
        x = layers.Activation(activation, name=f"block{b}_{activation}2")(x)
    x = layers.MaxPooling2D(3, name="final_pool")(x)   # 31 -> 15 -> 7 -> 3 px: global max
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(num_classes, use_bias=False, kernel_initializer=torch_init,
                     kernel_regularizer=_regularizer(l2), name="logits")(x)
    x = layers.Rescaling(1.0 / 9, name="logit_scale")(x)   # airbench's scaling_factor
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name=name)
    for b in range(1, len(widths) + 1):
        for i in (1, 2):
            dirac_init_(model.get_layer(f"block{b}_conv{i}"))
    return model


# ---------------------------------------------------------------------------------------------
# Paper models


def resnet20(*, blocks_per_stage=3, width=16, shortcut="identity", dropout=0.0, l2=0.0,
             num_classes=NUM_CLASSES, name="resnet20"):
    """He et al. (2016) CIFAR ResNet: 3 stages of n basic blocks (6n+2 layers), width 16/32/64."""
    num_classes, name, dropout, l2 = _check_common(num_classes, name, dropout, l2)
    n = check_int("blocks_per_stage", blocks_per_stage, low=1, high=30)
    width = check_int("width", width, low=1, high=256)
    shortcut = check_choice("shortcut", shortcut, ("identity", "projection"))

    def block(x, filters, strides, label):
        if strides == 1 and x.shape[-1] == filters:
            skip = x
        elif shortcut == "projection":   # option B: 1x1 conv + BN
            skip = layers.Conv2D(filters, 1, strides=strides, use_bias=False,
                                 kernel_initializer="he_normal",
                                 kernel_regularizer=_regularizer(l2), name=f"{label}_proj")(x)
            skip = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{label}_proj_bn")(skip)
        else:
            # Option A of the paper (parameter-free): subsample by 2 and zero-pad the channels.
            # Built-in layers only: a 1x1 max-pool with stride 2 picks every other pixel, and
            # ZeroPadding3D on a (H, W, C, 1) view pads the channel axis.
            skip = layers.MaxPooling2D(1, strides=strides, name=f"{label}_subsample")(x)
            h, w, c = skip.shape[1:]
            pad = filters - c
            skip = layers.Reshape((h, w, c, 1), name=f"{label}_pad_view")(skip)
            skip = layers.ZeroPadding3D(((0, 0), (0, 0), (pad // 2, pad - pad // 2)),
                                        name=f"{label}_pad")(skip)
            skip = layers.Reshape((h, w, filters), name=f"{label}_pad_back")(skip)
        y = _conv_bn_relu(x, filters, strides=strides, l2=l2, name=f"{label}_1")
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                          kernel_initializer="he_normal", kernel_regularizer=_regularizer(l2),
                          name=f"{label}_2_conv")(y)
        y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{label}_2_bn")(y)
        y = layers.Add(name=f"{label}_add")([y, skip])
        return layers.Activation("relu", name=f"{label}_out")(y)

    inputs, x = _inputs()
    x = _conv_bn_relu(x, width, l2=l2, name="stem")
    for s in range(3):
        for i in range(n):
            strides = 2 if s > 0 and i == 0 else 1
            x = block(x, width * 2 ** s, strides, f"stage{s + 1}_block{i + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _head(x, num_classes, l2), name=name)


def resnet18(*, width=64, dropout=0.0, l2=0.0, num_classes=NUM_CLASSES, name="resnet18"):
    """CIFAR ResNet-18: 3x3 stem without max-pool, 4 stages of 2 basic blocks (w, 2w, 4w, 8w)."""
    num_classes, name, dropout, l2 = _check_common(num_classes, name, dropout, l2)
    width = check_int("width", width, low=1, high=256)

    inputs, x = _inputs()
    x = _conv_bn_relu(x, width, l2=l2, name="stem")   # no 7x7/stride-2/max-pool at 32 px
    for s in range(4):
        for i in range(2):
            strides = 2 if s > 0 and i == 0 else 1
            x = _residual_block(x, width * 2 ** s, strides=strides, l2=l2,
                                name=f"stage{s + 1}_block{i + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _head(x, num_classes, l2), name=name)


# Simonyan & Zisserman's configurations D (VGG-16) and E (VGG-19): conv widths relative to 64,
# "M" a 2x2 max-pool. Five pools take 32 px down to 1 px.
_VGG_CONFIGS = {
    16: [1, 1, "M", 2, 2, "M", 4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8, "M"],
    19: [1, 1, "M", 2, 2, "M", 4, 4, 4, 4, "M", 8, 8, 8, 8, "M", 8, 8, 8, 8, "M"],
}


def _vgg(depth, *, width, dense_units, dropout, l2, num_classes, name):
    """CIFAR VGG shared by vgg16 and vgg19: conv BN ReLU stacks, 5 pools, Dense + dropout head."""
    num_classes, name, dropout, l2 = _check_common(num_classes, name, dropout, l2)
    width = check_int("width", width, low=1, high=256)
    dense_units = check_int("dense_units", dense_units, low=1, high=4096)

    inputs, x = _inputs()
    stage, conv = 1, 1
    for item in _VGG_CONFIGS[depth]:
        if item == "M":
            x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
            stage, conv = stage + 1, 1
        else:
            x = _conv_bn_relu(x, width * item, l2=l2, name=f"block{stage}_{conv}")
            conv += 1
    x = layers.Flatten(name="flatten")(x)   # 1x1x(8 * width)
    x = layers.Dense(dense_units, activation="relu", kernel_regularizer=_regularizer(l2),
                     name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _head(x, num_classes, l2), name=name)


def vgg16(*, width=64, dense_units=512, dropout=0.5, l2=0.0,
          num_classes=NUM_CLASSES, name="vgg16"):
    """VGG-16 (configuration D) for 32x32 inputs with BatchNorm."""
    return _vgg(16, width=width, dense_units=dense_units, dropout=dropout, l2=l2,
                num_classes=num_classes, name=name)


def vgg19(*, width=64, dense_units=512, dropout=0.5, l2=0.0,
          num_classes=NUM_CLASSES, name="vgg19"):
    """VGG-19 (configuration E) for 32x32 inputs with BatchNorm."""
    return _vgg(19, width=width, dense_units=dense_units, dropout=dropout, l2=l2,
                num_classes=num_classes, name=name)


# ---------------------------------------------------------------------------------------------
# keras.applications backbones

_KERAS_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
_MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)
_APPLICATIONS = {
    # name: (constructor name in keras.applications, weights folder, md5 of the no-top file)
    "densenet121": ("DenseNet121", "densenet/", "30ee3e1110167f948a6b9946edeeb738"),
    "resnet50": ("ResNet50", "resnet/", "4d473c1dd8becc155b73f8504c6f6626"),
    "mobilenetv2": ("MobileNetV2", "mobilenet_v2/", None),
}


def imagenet_weights_filename(name, image_size=96):
    """The file name Keras downloads the no-top ImageNet weights of `name` to (in models/)."""
    check_choice("arch", name, tuple(_APPLICATIONS))
    if name == "mobilenetv2":
        # Keras has MobileNetV2 weights per input size and loads the 224 ones for other sizes.
        rows = image_size if image_size in _MOBILENET_V2_SIZES else 224
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"
    return f"{name}_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _keras_cache_dirs():
    """Where Keras keeps downloaded weights: $KERAS_HOME/models or ~/.keras/models."""
    try:   # the folder Keras itself resolved at import time (private accessor)
        from keras.src.backend.config import keras_home
        keras_dir = keras_home()
    except (ImportError, AttributeError):
        keras_dir = None
    homes = [os.environ.get("KERAS_HOME"), keras_dir, "~/.keras",
             os.path.join("/tmp", ".keras")]   # Keras' fallback when the home is read-only
    seen, out = set(), []
    for home in homes:
        if home:
            path = Path(home).expanduser() / "models"
            if path not in seen:
                seen.add(path)
                out.append(path)
    return out


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
    cache_dir = os.environ.get("KERAS_HOME") or None
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
    num_classes, name, dropout, l2 = _check_common(num_classes, name, dropout, l2)
    weights = _check_weights(weights)
    if image_size is None:
        image_size = 32 if weights is None else 96   # pretrained filters want bigger objects
    image_size = check_int("image_size", image_size, low=32, high=512)
    freeze_base = check_bool("freeze_base", freeze_base)
    dense_units = check_int("dense_units", dense_units, low=1, high=4096)
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
    x = layers.Dense(dense_units, activation="relu", kernel_regularizer=_regularizer(l2),
                     name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _head(x, num_classes, l2), name=name)


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


# ---------------------------------------------------------------------------------------------
# Registry


def _defaults(build):
    return {key: p.default for key, p in inspect.signature(build).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _entry(name, build, description, source):
    return name, Architecture(name, build, description, source, _defaults(build))


ARCHITECTURES = dict([
    _entry("simple_cnn", simple_cnn,
           "Three-conv BN/ReLU CNN with a Dense 64 layer (about 0.12M parameters).",
           "Report 001 (baseline CNN, Keras Tuner search over filters and dense units)"),
    _entry("deep_cnn", deep_cnn,
           "VGG-style blocks of two 3x3 convs with max-pool and dropout.",
           "Report 001 (deeper CNN with dropout)"),
    _entry("resnet_style", resnet_style,
           "Residual stages with projection shortcuts, GAP, Dense head, dropout and L2.",
           "Report 002 (residual network)"),
    _entry("concat_cnn", concat_cnn,
           "Blocks of concatenated conv pairs between max-pools, two Dense layers with dropout.",
           "Report 004 (concatenation CNN)"),
    _entry("fast_cnn", fast_cnn,
           "airbench94: whitening conv, three GELU conv blocks, identity-initialised convs.",
           "Keller Jordan, airbench94 (github.com/KellerJordan/cifar10-airbench)"),
    _entry("resnet20", resnet20,
           "CIFAR ResNet-20 (6n+2 layers, 16/32/64 filters, parameter-free shortcuts).",
           "He et al. 2016, Deep Residual Learning for Image Recognition, section 4.2"),
    _entry("resnet18", resnet18,
           "ResNet-18 adapted to 32x32 inputs (3x3 stem, no max-pool).",
           "He et al. 2016; CIFAR variant as in kuangliu/pytorch-cifar"),
    _entry("vgg16", vgg16,
           "VGG-16 (configuration D) with BatchNorm for 32x32 inputs.",
           "Simonyan & Zisserman 2015; CIFAR variant as in kuangliu/pytorch-cifar"),
    _entry("vgg19", vgg19,
           "VGG-19 (configuration E) with BatchNorm for 32x32 inputs.",
           "Simonyan & Zisserman 2015; CIFAR variant as in kuangliu/pytorch-cifar"),
    _entry("mobilenetv2", mobilenetv2,
           "keras.applications MobileNetV2 base (optionally ImageNet weights) + Dense head.",
           "Sandler et al. 2018; keras.applications.MobileNetV2"),
    _entry("resnet50", resnet50,
           "keras.applications ResNet50 base (optionally ImageNet weights) + Dense head.",
           "He et al. 2016; keras.applications.ResNet50"),
    _entry("densenet121", densenet121,
           "keras.applications DenseNet121 base (optionally ImageNet weights) + Dense head.",
           "Huang et al. 2017; keras.applications.DenseNet121"),
])


def get_architecture(name):
    """The registered Architecture called `name`."""
    check_choice("arch", name, tuple(ARCHITECTURES))
    return ARCHITECTURES[name]


def build_model(name, **hyperparameters):
    """Build architecture `name`; unknown hyperparameters raise InvalidArgument."""
    arch = get_architecture(name)
    for key in hyperparameters:
        if key not in arch.defaults:
            raise InvalidArgument("arch_params", key,
                                  f"a hyperparameter of {name}: " + ", ".join(arch.defaults))
    return arch.build(**hyperparameters)


def count_params(name, **hyperparameters):
    """Number of parameters (trainable and not) of architecture `name` so configured."""
    return int(build_model(name, **hyperparameters).count_params())


def editable_hyperparameters(name):
    """The hyperparameters a user may set for `name`, with their defaults (not num_classes or name)."""
    return {key: value for key, value in get_architecture(name).defaults.items()
            if key not in ("num_classes", "name")}
