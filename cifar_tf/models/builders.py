"""The CIFAR-10 networks written here, as small Keras builder functions (the registry is in
`cifar_tf.models.registry`, the keras.applications backbones in `cifar_tf.models.applications`).

Every model is built with the functional API from built-in layers only, so a saved
`model.keras` loads with plain `keras.models.load_model` (safe mode, no custom objects,
no Lambda layers) in any process, without this library. Each model:

- takes `keras.Input((32, 32, 3))` holding RGB values 0-255 (uint8 or float) and does its own
  rescaling/normalisation inside;
- ends with `Dense(num_classes)` named "logits" (or a `Rescaling` after it for fast_cnn) and
  `Activation("softmax", dtype="float32", name="probabilities")`, so the output stays float32
  probabilities under a mixed precision policy.

    model = resnet20(blocks_per_stage=2)
"""
import keras
import numpy as np
from keras import layers

from .. import IMAGE_SHAPE, NUM_CLASSES
from ..validation import InvalidArgument, check_choice, check_int
from .limits import DENSE_UNITS, DROPOUT, FILTERS, L2, WIDTH, limit

# Per-channel statistics of the CIFAR-10 training set (pixel values scaled to 0-1).
CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype="float32")
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], dtype="float32")


# Keras' default BatchNorm momentum (0.99) needs several hundred steps before the moving statistics
# used at evaluation match the network: a short classroom run would score near chance on its
# validation set while training well. PyTorch's 0.9 settles in tens of steps.
BN_MOMENTUM = 0.9

# ---------------------------------------------------------------------------------------------
# Shared pieces


def l2_regularizer(l2):
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


def softmax_head(x, num_classes, l2=0.0):
    """Dense "logits" then a float32 softmax named "probabilities"."""
    x = layers.Dense(num_classes, kernel_regularizer=l2_regularizer(l2), name="logits")(x)
    return layers.Activation("softmax", dtype="float32", name="probabilities")(x)


def _conv_bn_relu(x, filters, *, strides=1, padding="same", l2=0.0, use_bias=False, name):
    """Conv2D 3x3, BatchNorm, ReLU: the basic unit of the VGG and ResNet families."""
    x = layers.Conv2D(filters, 3, strides=strides, padding=padding, use_bias=use_bias,
                      kernel_initializer="he_normal", kernel_regularizer=l2_regularizer(l2),
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def check_common(num_classes, name, dropout=None, l2=None):
    num_classes = check_int("num_classes", num_classes, low=2)
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument("name", name, "a non-empty string")
    out = [num_classes, name.strip()]
    if dropout is not None:
        out.append(DROPOUT.check("dropout", dropout))
    if l2 is not None:
        out.append(L2.check("l2", l2))
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
    return _report001_cnn("simple_cnn", (filters1, filters2, filters3), dense_units, dropout, l2, num_classes, name)


def hyper_cnn(*, filters1=32, filters2=64, dense_units=64, dropout=0.0, l2=0.0,
              num_classes=NUM_CLASSES, name="hyper_cnn"):
    """Report 001's Keras Tuner hypermodel: two valid 3x3 convs with BN/ReLU, each followed by a
    max-pool, Dense, softmax (473,450 parameters at 32/96/128)."""
    return _report001_cnn("hyper_cnn", (filters1, filters2), dense_units, dropout, l2, num_classes, name)


def _report001_cnn(arch, filters, dense_units, dropout, l2, num_classes, name):
    """Valid 3x3 conv, BN, ReLU per filter count, a max-pool after the first two; Dense, BN, ReLU."""
    num_classes, name, dropout, l2 = check_common(num_classes, name, dropout, l2)
    filters = [limit(arch, f"filters{i}").check(f"filters{i}", f) for i, f in enumerate(filters, 1)]
    dense_units = DENSE_UNITS.check("dense_units", dense_units)

    # Only /255 inside, as the report scaled its inputs; no mean/std normalisation.
    inputs, x = _inputs(normalize=False)
    for i, f in enumerate(filters, 1):
        # The report keeps Keras' defaults: valid padding and conv biases before BatchNorm.
        x = layers.Conv2D(f, 3, kernel_regularizer=l2_regularizer(l2), name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        if i < 3:
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, kernel_regularizer=l2_regularizer(l2), name="dense")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="dense_bn")(x)
    x = layers.Activation("relu", name="dense_relu")(x)
    if dropout:  # not in the report; only added when asked for so the default stays exact
        x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, softmax_head(x, num_classes, l2), name=name)


def deep_cnn(*, blocks=3, filters=32, dense_units=128, dropout=0.25, l2=0.0,
             num_classes=NUM_CLASSES, name="deep_cnn"):
    """Report 001's deeper CNN: VGG-style blocks of two same 3x3 convs, max-pool and dropout."""
    num_classes, name, dropout, l2 = check_common(num_classes, name, dropout, l2)
    blocks = limit("deep_cnn", "blocks").check("blocks", blocks)
    filters = FILTERS.check("filters", filters)
    dense_units = DENSE_UNITS.check("dense_units", dense_units)

    inputs, x = _inputs()
    for b in range(1, blocks + 1):
        width = filters * 2 ** (b - 1)   # doubling per block as the resolution halves
        x = _conv_bn_relu(x, width, l2=l2, use_bias=True, name=f"block{b}_1")
        x = _conv_bn_relu(x, width, l2=l2, use_bias=True, name=f"block{b}_2")
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
        x = layers.Dropout(dropout, name=f"block{b}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense_units, kernel_regularizer=l2_regularizer(l2), name="dense")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="dense_bn")(x)
    x = layers.Activation("relu", name="dense_relu")(x)
    x = layers.Dropout(dropout, name="dense_dropout")(x)
    return keras.Model(inputs, softmax_head(x, num_classes, l2), name=name)


def _residual_block(x, filters, *, strides=1, l2=0.0, name):
    """Two 3x3 conv/BN (ReLU between and after), with a 1x1 projection where the shape changes."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False,
                                 kernel_initializer="he_normal",
                                 kernel_regularizer=l2_regularizer(l2), name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_proj_bn")(shortcut)
    x = _conv_bn_relu(x, filters, strides=strides, l2=l2, name=f"{name}_1")
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                      kernel_regularizer=l2_regularizer(l2), name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_2_bn")(x)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(x)


def resnet_style(*, depth=3, filters=32, dense_units=512, dropout=0.3, l2=5e-4,
                 num_classes=NUM_CLASSES, name="resnet_style"):
    """Report 002's residual net: conv stem, `depth` residual stages, GAP, Dense, dropout, L2."""
    num_classes, name, dropout, l2 = check_common(num_classes, name, dropout, l2)
    depth = limit("resnet_style", "depth").check("depth", depth)
    filters = FILTERS.check("filters", filters)
    dense_units = DENSE_UNITS.check("dense_units", dense_units)  # report: 512/768/1024

    inputs, x = _inputs()
    x = _conv_bn_relu(x, filters, l2=l2, name="stem")
    for s in range(depth):
        # Stage 1 keeps the 32x32 resolution; each later stage halves it and doubles filters.
        x = _residual_block(x, filters * 2 ** s, strides=1 if s == 0 else 2, l2=l2,
                            name=f"stage{s + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(dense_units, activation="relu", kernel_regularizer=l2_regularizer(l2),
                     name="dense")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, softmax_head(x, num_classes, l2), name=name)


def concat_cnn(*, filters=32, blocks=3, pairs=2, dense_units=(256, 128), dropout=0.3, l2=0.0,
               num_classes=NUM_CLASSES, name="concat_cnn"):
    """Report 004's CNN: max-pool first and last, blocks of concatenated conv pairs, avg-pool."""
    num_classes, name, dropout, l2 = check_common(num_classes, name, dropout, l2)
    filters = FILTERS.check("filters", filters)
    blocks = limit("concat_cnn", "blocks").check("blocks", blocks)
    pairs = limit("concat_cnn", "pairs").check("pairs", pairs)
    dense_units = _int_tuple("dense_units", dense_units, length=2)

    def conv(x, f, label):
        return layers.Conv2D(f, 3, padding="same", activation="relu",
                             kernel_initializer="he_normal",
                             kernel_regularizer=l2_regularizer(l2), name=label)(x)

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
        x = layers.Dense(units, activation="relu", kernel_regularizer=l2_regularizer(l2),
                         name=f"dense{i}")(x)
        x = layers.Dropout(dropout, name=f"dropout{i}")(x)
    return keras.Model(inputs, softmax_head(x, num_classes, l2), name=name)


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
    num_classes, name, l2 = check_common(num_classes, name, l2=l2)
    widths = _int_tuple("widths", widths, length=3)
    whiten_width = limit("fast_cnn", "whiten_width").check("whiten_width", whiten_width)
    activation = check_choice("activation", activation, ("gelu", "relu"))

    # PyTorch's default conv/linear init (kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in))),
    # which airbench relies on; a built-in initializer, so nothing custom is saved.
    torch_init = keras.initializers.VarianceScaling(1.0 / 3, "fan_in", "uniform")

    def conv(x, f, label):
        return layers.Conv2D(f, 3, padding="same", use_bias=False, kernel_initializer=torch_init,
                             kernel_regularizer=l2_regularizer(l2), name=label)(x)

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
                      kernel_regularizer=l2_regularizer(l2), dtype="float32", name="whiten")(x)
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
                     kernel_regularizer=l2_regularizer(l2), name="logits")(x)
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
    num_classes, name, dropout, l2 = check_common(num_classes, name, dropout, l2)
    n = limit("resnet20", "blocks_per_stage").check("blocks_per_stage", blocks_per_stage)
    width = WIDTH.check("width", width)
    shortcut = check_choice("shortcut", shortcut, ("identity", "projection"))

    def block(x, filters, strides, label):
        if strides == 1 and x.shape[-1] == filters:
            skip = x
        elif shortcut == "projection":   # option B: 1x1 conv + BN
            skip = layers.Conv2D(filters, 1, strides=strides, use_bias=False,
                                 kernel_initializer="he_normal",
                                 kernel_regularizer=l2_regularizer(l2), name=f"{label}_proj")(x)
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
                          kernel_initializer="he_normal", kernel_regularizer=l2_regularizer(l2),
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
    return keras.Model(inputs, softmax_head(x, num_classes, l2), name=name)


def resnet18(*, width=64, dropout=0.0, l2=0.0, num_classes=NUM_CLASSES, name="resnet18"):
    """CIFAR ResNet-18: 3x3 stem without max-pool, 4 stages of 2 basic blocks (w, 2w, 4w, 8w)."""
    num_classes, name, dropout, l2 = check_common(num_classes, name, dropout, l2)
    width = WIDTH.check("width", width)

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
    return keras.Model(inputs, softmax_head(x, num_classes, l2), name=name)


# Simonyan & Zisserman's configurations D (VGG-16) and E (VGG-19): conv widths relative to 64,
# "M" a 2x2 max-pool. Five pools take 32 px down to 1 px.
_VGG_CONFIGS = {
    16: [1, 1, "M", 2, 2, "M", 4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8, "M"],
    19: [1, 1, "M", 2, 2, "M", 4, 4, 4, 4, "M", 8, 8, 8, 8, "M", 8, 8, 8, 8, "M"],
}


def _vgg(depth, *, width, dense_units, dropout, l2, num_classes, name):
    """CIFAR VGG shared by vgg16 and vgg19: conv BN ReLU stacks, 5 pools, Dense + dropout head."""
    num_classes, name, dropout, l2 = check_common(num_classes, name, dropout, l2)
    width = WIDTH.check("width", width)
    dense_units = limit(f"vgg{depth}", "dense_units").check("dense_units", dense_units)

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
    if dense_units:   # 0: the classifier of the CIFAR variants (kuangliu/pytorch-cifar), no hidden layer
        x = layers.Dense(dense_units, activation="relu", kernel_regularizer=l2_regularizer(l2),
                         name="dense")(x)
        x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, softmax_head(x, num_classes, l2), name=name)


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
