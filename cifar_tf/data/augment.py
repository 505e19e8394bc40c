"""Data augmentation written once in keras.ops, and the tf.data pipelines that feed training.

Every geometric augmentation (flip, shift, rotation, zoom, shear, pad-and-crop) is folded into one
affine matrix per image and applied to the whole batch in one bilinear resampling pass instead of
one per augmentation, which is what keeps an augmented epoch close to the speed of a plain one.
The pass is written as four gathers and compiled with XLA by whichever backend Keras runs
(tf.function(jit_compile=True) under TensorFlow, jax.jit under JAX): TensorFlow's
ImageProjectiveTransformV3's arithmetic (to the last bit uncompiled; XLA's fusion moves the last
bits, a few thousandths of a grey level), in a fifth of its CPU time. Random
numbers come from a stateless hash of a per-batch seed, the same on every backend, so a run is
repeatable however many threads the pipeline uses, and TensorFlow and JAX augment alike.

Under TensorFlow, `training_dataset` feeds it through tf.data on the CPU; under JAX (or on any
backend, on the training device) `cifar_tf.data.device_batches` does. TensorFlow is imported only
by the functions that need it, so JAX runs without it.

An augmentation is written as a preset name, `key=value` settings, or both:
`seed001`, `flip,crop=4,cutout=8`, `seed001,cutout=8`.
"""
import functools
import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from .. import IMAGE_SHAPE
from ..validation import InvalidArgument, check_bool, check_choice, check_float, check_int

FILL_MODES = ("nearest", "reflect", "constant", "wrap")


@dataclass(frozen=True)
class Augmentation:
    flip: bool = False       # random horizontal mirror
    crop: int = 0            # pad-and-random-crop, in whole pixels (reflect padding)
    shift: float = 0.0       # random translation, fraction of width/height (ImageDataGenerator's)
    rotation: float = 0.0    # degrees, uniform in [-r, r]
    zoom: float = 0.0        # scale uniform in [1 - z, 1 + z], x and y drawn apart
    shear: float = 0.0       # degrees, as ImageDataGenerator's shear_range
    cutout: int = 0          # side of a zeroed square at a random place
    fill: str = "reflect"    # how pixels from outside the image are filled

    @property
    def is_identity(self):
        return self == Augmentation(fill=self.fill)

    @property
    def is_geometric(self):
        return bool(self.flip or self.crop or self.shift or self.rotation or self.zoom or self.shear)

    def describe(self):
        parts = [f.name if f.type in (bool, "bool") else f"{f.name}={getattr(self, f.name)}"
                 for f in fields(self) if f.name != "fill" and getattr(self, f.name)]
        return ", ".join(parts) or "none"


AUGMENT_PRESETS = {
    "none": Augmentation(),
    "flip": Augmentation(flip=True),
    # The standard CIFAR recipe since ResNet: 4-pixel pad-and-crop plus mirror.
    "standard": Augmentation(flip=True, crop=4),
    "strong": Augmentation(flip=True, crop=4, cutout=12),
    # Report 001's ImageDataGenerator settings (shear_range is in degrees there, so 0.2 is tiny).
    "seed001": Augmentation(flip=True, shift=0.1, rotation=15, zoom=0.2, shear=0.2, fill="nearest"),
    # Report 002 names rotation, shifting, flipping and zoom, not their ranges: these are guesses
    # (report 001's ranges, Keras' "nearest" fill), cifar_tf.training.presets says so.
    "seed002": Augmentation(flip=True, shift=0.1, rotation=15, zoom=0.1, fill="nearest"),
}


PREVIEW_DEFAULT = "standard"   # what the Data page's augmentation preview shows first


def parse_augmentation(spec):
    """An Augmentation from a preset name and/or `key=value` settings, validated."""
    if isinstance(spec, Augmentation):
        return spec
    if isinstance(spec, dict):
        return _checked(Augmentation(), spec)
    text = str(spec if spec is not None else "none").strip() or "none"
    result, settings = Augmentation(), {}
    for index, part in enumerate(p.strip() for p in text.split(",")):
        if not part:
            continue
        if "=" in part:
            key, value = (s.strip() for s in part.split("=", 1))
            settings[key] = value
        elif index == 0 and part in AUGMENT_PRESETS:
            result = AUGMENT_PRESETS[part]
        elif part == "flip":
            settings["flip"] = True
        else:
            raise InvalidArgument("augment", spec, "a preset (" + ", ".join(AUGMENT_PRESETS)
                                  + ") and/or settings like flip,crop=4,rotation=15,cutout=8")
    return _checked(result, settings)


def _checked(base, settings):
    known = {f.name for f in fields(Augmentation)}
    for key in settings:
        if key not in known:
            raise InvalidArgument("augment", key, "settings among " + ", ".join(sorted(known)))
    values = asdict(base)
    values.update(settings)
    return replace(
        base,
        flip=check_bool("augment flip", values["flip"]),
        crop=check_int("augment crop", values["crop"], low=0, high=16),
        shift=check_float("augment shift", values["shift"], low=0, high=0.5),
        rotation=check_float("augment rotation", values["rotation"], low=0, high=180),
        zoom=check_float("augment zoom", values["zoom"], low=0, high=0.9),
        shear=check_float("augment shear", values["shear"], low=0, high=45),
        cutout=check_int("augment cutout", values["cutout"], low=0, high=32),
        fill=check_choice("augment fill", values["fill"], FILL_MODES),
    )


# --- the maths, in keras.ops: one definition for every backend ------------------------------------

def augment_batch(images, augmentation, seed):
    """Augment a batch (N, H, W, C) into float32; `seed` is a stateless seed, shape (2,) int.

    Compiled once per augmentation by the running backend (`compiled`); the same seed gives the
    same augmentation under TensorFlow and JAX, up to float rounding."""
    return _compiled_augment(parse_augmentation(augmentation))(images, seed)


def compiled(function, *, xla=True):
    """`function` compiled with XLA by the running Keras backend: jax.jit under JAX,
    tf.function(jit_compile=xla) under TensorFlow (reduce_retracing: the last, smaller batch
    shares the trace of the others), and left as it is under any other backend. `xla=False`
    for convolutions under TensorFlow on a CPU, where XLA's are slower than oneDNN's."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(function)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=xla, reduce_retracing=True)
    return function


@functools.lru_cache(maxsize=32)
def _compiled_augment(aug):
    """One XLA-compiled function per augmentation: XLA fuses the coordinate arithmetic, the
    gathers and the blend into one loop over the pixels (measured on 2 cores under TensorFlow:
    9 CPU-us per image against 40 for ImageProjectiveTransformV3)."""
    return compiled(functools.partial(augment_images, augmentation=aug))


def augment_images(images, seed, augmentation):
    """The augmentation itself, uncompiled: (N, H, W, C) images, any dtype, to float32."""
    from keras import ops

    aug = parse_augmentation(augmentation)
    images = ops.cast(images, "float32")
    draws = random_uniform(seed, len(DRAWS), ops.shape(images)[0])
    if aug.is_geometric:
        images = _warp_bilinear(images, _random_affine(ops.shape(images), aug, draws), aug.fill)
    if aug.cutout:
        images = _cutout(images, aug.cutout, draws)
    return images


# The random numbers an image draws, one row each, from a counter-based hash written in keras.ops
# rather than keras.random: the backends' own generators (Philox, threefry) draw different
# numbers from one seed, and TensorFlow's keras.random takes no seed tensor at all.
DRAWS = ("rotation", "shear", "zoom_x", "zoom_y", "mirror", "shift_x", "shift_y",
         "crop_x", "crop_y", "cutout_y", "cutout_x")
_ROW_BITS = 20  # counter = row * 2**20 + image: an image's numbers do not depend on the batch size


def random_uniform(seed, rows, n):
    """Uniform float32 in [0, 1), shape (rows, n), from a (2,) integer seed (its low 32 bits);
    the same numbers on every backend, compiled or not (tests/unit/test_augment.py checks them
    against NumPy). For up to 4,096 rows of up to 2**20 images."""
    from keras import ops

    if not 1 <= rows <= 2 ** (31 - _ROW_BITS):
        raise InvalidArgument("rows", rows, f"1 to {2 ** (31 - _ROW_BITS)}")
    seed = ops.cast(seed, "uint32")
    key0 = _mix32(seed[0])
    key1 = _mix32(ops.bitwise_xor(key0, seed[1]))
    counter = ops.arange(rows, dtype="int32")[:, None] * 2 ** _ROW_BITS + ops.arange(n, dtype="int32")[None, :]
    bits = _mix32(ops.bitwise_xor(_mix32(ops.bitwise_xor(ops.cast(counter, "uint32"), key0)), key1))
    # The top 24 bits: exactly representable in float32, so the same floats on every backend.
    return ops.cast(ops.right_shift(bits, ops.convert_to_tensor(np.uint32(8))), "float32") * (2.0 ** -24)


def _mix32(x):
    """lowbias32 (C. Wellons, "Hash function prospector"): a bijective 32-bit integer hash."""
    from keras import ops

    def u32(value):
        return ops.convert_to_tensor(np.uint32(value))

    x = ops.bitwise_xor(x, ops.right_shift(x, u32(16)))
    x = ops.multiply(x, u32(0x7FEB352D))   # uint32 products wrap around, on every backend
    x = ops.bitwise_xor(x, ops.right_shift(x, u32(15)))
    x = ops.multiply(x, u32(0x846CA68B))
    return ops.bitwise_xor(x, ops.right_shift(x, u32(16)))


def _draw(draws, name):
    return draws[DRAWS.index(name)]


def _map_coordinate(coord, size, mode):
    """Bring input coordinates inside [0, size - 1] as ImageProjectiveTransformV3's fill modes do
    (tensorflow/core/kernels/image/image_ops.h, MapCoordinate; C++ casts truncate towards 0)."""
    from keras import ops

    size = float(size)
    if mode == "constant":
        return coord  # out-of-range taps read the fill value instead
    if mode == "nearest":
        return ops.clip(coord, 0.0, size - 1)

    def trunc(v):
        return ops.cast(ops.cast(v, "int32"), "float32")

    if mode == "reflect":  # dcba|abcd|dcba
        below = 2 * size * trunc(-coord / (2 * size)) + coord
        below = ops.where(below < -size, below + 2 * size, -below - 1)
        above = coord - 2 * size * trunc(coord / (2 * size))
        above = ops.where(above >= size, 2 * size - above - 1, above)
    else:  # wrap: abcd|abcd|abcd
        below = coord + size * (trunc(-coord / (size - 1)) + 1)
        above = coord - size * trunc(coord / (size - 1))
    coord = ops.where(coord < 0, below, ops.where(coord > size - 1, above, coord))
    return ops.clip(coord, 0.0, size - 1)


def _warp_bilinear(images, transforms, fill_mode):
    """ImageProjectiveTransformV3 (bilinear, fill value 0) for affine `transforms` (N, 8), as four
    gathers of whole pixels: the coordinates are computed once per pixel, not once per channel.
    The arithmetic is TensorFlow's, in its order: uncompiled, the result matches it to the last bit."""
    from keras import ops

    n, height, width, channels = ops.shape(images)
    rows, cols = ops.meshgrid(ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"),
                              indexing="ij")
    t = transforms[:, :, None, None]
    x = _map_coordinate(t[:, 0] * cols + t[:, 1] * rows + t[:, 2], width, fill_mode)
    y = _map_coordinate(t[:, 3] * cols + t[:, 4] * rows + t[:, 5], height, fill_mode)
    x0, y0 = ops.floor(x), ops.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    pixels = ops.reshape(images, (-1, channels))
    first = (ops.arange(n, dtype="int32") * (height * width))[:, None, None]

    def tap(row, col):
        index = first + ops.clip(row, 0, height - 1) * width + ops.clip(col, 0, width - 1)
        values = ops.take(pixels, index, axis=0)
        if fill_mode == "constant":  # elsewhere a clipped tap has weight 0 or is the mapped pixel
            inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
            values = values * ops.cast(inside, values.dtype)[..., None]
        return values

    top = (1 - fx) * tap(y0, x0) + fx * tap(y0, x0 + 1)
    bottom = (1 - fx) * tap(y0 + 1, x0) + fx * tap(y0 + 1, x0 + 1)
    return (1 - fy) * top + fy * bottom


def _random_affine(shape, aug, draws):
    """Per image, the map from output to input pixel coordinates, as the 8 numbers
    ImageProjectiveTransformV3 takes, from `draws` (rows named by DRAWS, uniform in [0, 1))."""
    from keras import ops

    height, width = float(shape[1]), float(shape[2])

    def signed(name):  # uniform in [-1, 1)
        return 2.0 * _draw(draws, name) - 1.0

    one = ops.ones_like(_draw(draws, "rotation"))
    angle = signed("rotation") * (aug.rotation * math.pi / 180)
    shear = signed("shear") * (aug.shear * math.pi / 180)
    zoom_x, zoom_y = one + signed("zoom_x") * aug.zoom, one + signed("zoom_y") * aug.zoom
    mirror = ops.where(_draw(draws, "mirror") < 0.5, -one, one) if aug.flip else one
    shift_x = signed("shift_x") * (aug.shift * width)
    shift_y = signed("shift_y") * (aug.shift * height)
    if aug.crop:  # whole pixels, uniform in [-crop, crop]
        shift_x += ops.floor(_draw(draws, "crop_x") * (2 * aug.crop + 1)) - aug.crop
        shift_y += ops.floor(_draw(draws, "crop_y") * (2 * aug.crop + 1)) - aug.crop
    # A = rotation @ shear @ zoom @ mirror, written out per image.
    cos, sin = ops.cos(angle), ops.sin(angle)
    a00 = cos * zoom_x * mirror
    # Shear as ImageDataGenerator does: [[1, -sin s], [0, cos s]] after rotation.
    a01 = (cos * -ops.sin(shear) - sin * ops.cos(shear)) * zoom_y
    a10 = sin * zoom_x * mirror
    a11 = (sin * -ops.sin(shear) + cos * ops.cos(shear)) * zoom_y
    # Rotate and scale about the image centre, then translate.
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a02 = cx - a00 * cx - a01 * cy + shift_x
    a12 = cy - a10 * cx - a11 * cy + shift_y
    zeros = ops.zeros_like(one)
    return ops.stack([a00, a01, a02, a10, a11, a12, zeros, zeros], axis=1)


def _cutout(images, size, draws):
    from keras import ops

    _, height, width, _ = ops.shape(images)
    cy = ops.cast(_draw(draws, "cutout_y") * height, "int32")[:, None]
    cx = ops.cast(_draw(draws, "cutout_x") * width, "int32")[:, None]
    rows, cols = ops.arange(height, dtype="int32")[None, :], ops.arange(width, dtype="int32")[None, :]
    inside_rows = (rows >= cy - size // 2) & (rows < cy - size // 2 + size)
    inside_cols = (cols >= cx - size // 2) & (cols < cx - size // 2 + size)
    mask = inside_rows[:, :, None] & inside_cols[:, None, :]
    return images * ops.cast(ops.logical_not(mask), images.dtype)[..., None]


# --- pipelines -----------------------------------------------------------------------------------

MIN_AUGMENT_CHUNK = 256  # images augmented per compiled call

def training_dataset(x, y, *, batch_size, augmentation="none", seed=0, num_classes=10, shuffle=True):
    """Shuffled, augmented, one-hot batches of float32 0-255 images, prefetched (TensorFlow only)."""
    import tensorflow as tf

    aug = parse_augmentation(augmentation)
    # Shuffle and batch indices, then gather whole batches from the arrays kept as they are
    # (uint8): per-image work in tf.data is the costly part, per-batch work is nearly free.
    images, labels = tf.constant(np.asarray(x)), tf.constant(np.asarray(y).reshape(-1))
    indices = tf.data.Dataset.range(len(x))
    if shuffle:
        indices = indices.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    # Augment a few batches at a time, then cut them apart: each compiled call has a fixed cost
    # (~0.3 ms), which a chunk of at least 256 images makes small per image.
    chunk = batch_size * max(1, math.ceil(MIN_AUGMENT_CHUNK / batch_size))
    indices = indices.batch(chunk)
    # One stateless seed per chunk, so augmentation is repeatable however the map is scheduled.
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    data = tf.data.Dataset.zip((indices, seeds))

    def prepare(index, chunk_seed):
        batch = tf.gather(images, index)
        batch = augment_batch(batch, aug, chunk_seed) if not aug.is_identity else tf.cast(batch, tf.float32)
        return batch, tf.one_hot(tf.cast(tf.gather(labels, index), tf.int32), num_classes)

    data = data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if chunk != batch_size:
        data = data.rebatch(batch_size)  # chunks are whole batches: the same batches as batch(batch_size)
        # rebatch forgets the length; Keras wants it to count steps (and warns of running out).
        data = data.apply(tf.data.experimental.assert_cardinality(math.ceil(len(x) / batch_size)))
    return data.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(x, y, *, batch_size=512, num_classes=10):
    """Batches of float32 images and one-hot labels, in order (TensorFlow only)."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    return data.map(lambda images, labels: (tf.cast(images, tf.float32),
                                            tf.one_hot(tf.cast(labels, tf.int32), num_classes))
                    ).prefetch(tf.data.AUTOTUNE)


def augmentation_preview(image, spec, n=16, seed=0):
    """`n` random augmentations of one uint8 image (32, 32, 3), as uint8 (n, 32, 32, 3).

    `spec` is anything `parse_augmentation` takes (preset name, `flip,crop=4`...); a bad one
    raises `InvalidArgument` before Keras is imported.
    """
    augmentation = parse_augmentation(spec)
    n = check_int("n", n, low=1, high=1024)
    seed = check_int("seed", seed, low=0)
    image = np.asarray(image)
    if image.shape != IMAGE_SHAPE:
        raise InvalidArgument("image", f"array of shape {image.shape}", f"shape {IMAGE_SHAPE}")
    batch = np.repeat(image[None].astype(np.float32), n, axis=0)
    if augmentation.is_identity:
        return batch.astype(np.uint8)

    from keras import ops

    out = ops.convert_to_numpy(augment_batch(batch, augmentation, np.array([seed % 2**32, 0x5EED], np.uint32)))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
