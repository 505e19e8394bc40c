"""Data augmentation inside the TensorFlow graph, and the tf.data pipelines that feed training.

Every geometric augmentation (flip, shift, rotation, zoom, shear, pad-and-crop) is folded into one
affine matrix per image and applied to the whole batch in one bilinear resampling pass instead of
one per augmentation, which is what keeps an augmented epoch close to the speed of a plain one.
The pass is written as four gathers and compiled with XLA: the same numbers as TensorFlow's
ImageProjectiveTransformV3 (to the last bit), in a fifth of its CPU time. Random numbers come from
stateless ops seeded per batch, so a run is repeatable however many threads the pipeline uses.

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


# --- the graph -----------------------------------------------------------------------------------

def augment_batch(images, augmentation, seed):
    """Augment a batch (N, H, W, C) into float32; `seed` is a stateless seed, shape (2,) int."""
    import tensorflow as tf

    return _compiled_augment(parse_augmentation(augmentation))(images, tf.cast(seed, tf.int64))


@functools.lru_cache(maxsize=32)
def _compiled_augment(aug):
    """One XLA-compiled function per augmentation: XLA fuses the coordinate arithmetic, the
    gathers and the blend into one loop over the pixels (measured on 2 cores: 9 CPU-us per image
    against 40 for ImageProjectiveTransformV3)."""
    import tensorflow as tf

    @tf.function(jit_compile=True, reduce_retracing=True)
    def augment(images, seed):
        images = tf.cast(images, tf.float32)
        if aug.is_geometric:
            seeds = tf.random.experimental.stateless_split(seed, 2)
            transforms = _random_affine(tf, tf.shape(images), aug, seeds[0])
            images = _warp_bilinear(tf, images, transforms, aug.fill.upper())
            seed = seeds[1]
        if aug.cutout:
            images = _cutout(tf, images, aug.cutout, seed)
        return images

    return augment


def _map_coordinate(tf, coord, size, mode):
    """Bring input coordinates inside [0, size - 1] as ImageProjectiveTransformV3's fill modes do
    (tensorflow/core/kernels/image/image_ops.h, MapCoordinate; C++ casts truncate towards 0)."""
    size = tf.cast(size, tf.float32)
    if mode == "CONSTANT":
        return coord  # out-of-range taps read the fill value instead
    if mode == "NEAREST":
        return tf.clip_by_value(coord, 0.0, size - 1)
    trunc = lambda v: tf.cast(tf.cast(v, tf.int32), tf.float32)  # noqa: E731
    if mode == "REFLECT":  # dcba|abcd|dcba
        below = 2 * size * trunc(-coord / (2 * size)) + coord
        below = tf.where(below < -size, below + 2 * size, -below - 1)
        above = coord - 2 * size * trunc(coord / (2 * size))
        above = tf.where(above >= size, 2 * size - above - 1, above)
    else:  # WRAP: abcd|abcd|abcd
        below = coord + size * (trunc(-coord / (size - 1)) + 1)
        above = coord - size * trunc(coord / (size - 1))
    coord = tf.where(coord < 0, below, tf.where(coord > size - 1, above, coord))
    return tf.clip_by_value(coord, 0.0, size - 1)


def _warp_bilinear(tf, images, transforms, fill_mode):
    """ImageProjectiveTransformV3 (bilinear, fill value 0) for affine `transforms` (N, 8), as four
    gathers of whole pixels: the coordinates are computed once per pixel, not once per channel."""
    shape = tf.shape(images)
    n, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    rows, cols = tf.meshgrid(tf.cast(tf.range(height), tf.float32), tf.cast(tf.range(width), tf.float32),
                             indexing="ij")
    t = transforms[:, :, None, None]
    x = _map_coordinate(tf, t[:, 0] * cols + t[:, 1] * rows + t[:, 2], width, fill_mode)
    y = _map_coordinate(tf, t[:, 3] * cols + t[:, 4] * rows + t[:, 5], height, fill_mode)
    x0, y0 = tf.floor(x), tf.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    pixels = tf.reshape(images, (-1, channels))
    first = (tf.range(n) * height * width)[:, None, None]

    def tap(row, col):
        index = first + tf.clip_by_value(row, 0, height - 1) * width + tf.clip_by_value(col, 0, width - 1)
        values = tf.gather(pixels, index)
        if fill_mode == "CONSTANT":  # elsewhere a clipped tap has weight 0 or is the mapped pixel
            inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
            values *= tf.cast(inside, values.dtype)[..., None]
        return values

    top = (1 - fx) * tap(y0, x0) + fx * tap(y0, x0 + 1)
    bottom = (1 - fx) * tap(y0 + 1, x0) + fx * tap(y0 + 1, x0 + 1)
    return (1 - fy) * top + fy * bottom


def _random_affine(tf, shape, aug, seed):
    """Per image, the map from output to input pixel coordinates, as the 8 numbers TF wants."""
    n, height, width = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    draws = tf.random.stateless_uniform((7, n), seed, minval=-1.0, maxval=1.0)
    one = tf.ones((n,))
    angle = draws[0] * aug.rotation * math.pi / 180
    shear = draws[1] * aug.shear * math.pi / 180
    zoom_x, zoom_y = one + draws[2] * aug.zoom, one + draws[3] * aug.zoom
    mirror = tf.where(draws[4] < 0, -one, one) if aug.flip else one
    shift_x = draws[5] * aug.shift * width
    shift_y = draws[6] * aug.shift * height
    if aug.crop:
        crop_draws = tf.random.stateless_uniform((2, n), seed + 1, minval=-aug.crop, maxval=aug.crop + 1,
                                                 dtype=tf.int32)
        shift_x += tf.cast(crop_draws[0], tf.float32)
        shift_y += tf.cast(crop_draws[1], tf.float32)
    # A = rotation @ shear @ zoom @ mirror, written out per image.
    cos, sin = tf.cos(angle), tf.sin(angle)
    a00 = cos * zoom_x * mirror
    # Shear as ImageDataGenerator does: [[1, -sin s], [0, cos s]] after rotation.
    a01 = (cos * -tf.sin(shear) - sin * tf.cos(shear)) * zoom_y
    a10 = sin * zoom_x * mirror
    a11 = (sin * -tf.sin(shear) + cos * tf.cos(shear)) * zoom_y
    # Rotate and scale about the image centre, then translate.
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a02 = cx - a00 * cx - a01 * cy + shift_x
    a12 = cy - a10 * cx - a11 * cy + shift_y
    zeros = tf.zeros((n,))
    return tf.stack([a00, a01, a02, a10, a11, a12, zeros, zeros], axis=1)


def _cutout(tf, images, size, seed):
    shape = tf.shape(images)
    n, height, width = shape[0], shape[1], shape[2]
    centres = tf.random.stateless_uniform((2, n), seed, minval=0, maxval=1)
    cy = tf.cast(centres[0] * tf.cast(height, tf.float32), tf.int32)[:, None]
    cx = tf.cast(centres[1] * tf.cast(width, tf.float32), tf.int32)[:, None]
    rows, cols = tf.range(height)[None, :], tf.range(width)[None, :]
    inside_rows = (rows >= cy - size // 2) & (rows < cy - size // 2 + size)
    inside_cols = (cols >= cx - size // 2) & (cols < cx - size // 2 + size)
    mask = tf.logical_and(inside_rows[:, :, None], inside_cols[:, None, :])
    return images * tf.cast(~mask, images.dtype)[..., None]


# --- pipelines -----------------------------------------------------------------------------------

MIN_AUGMENT_CHUNK = 256  # images augmented per compiled call

def training_dataset(x, y, *, batch_size, augmentation="none", seed=0, num_classes=10, shuffle=True):
    """Shuffled, augmented, one-hot batches of float32 0-255 images, prefetched."""
    import numpy as np
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
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    return data.map(lambda images, labels: (tf.cast(images, tf.float32),
                                            tf.one_hot(tf.cast(labels, tf.int32), num_classes))
                    ).prefetch(tf.data.AUTOTUNE)


def augmentation_preview(image, spec, n=16, seed=0):
    """`n` random augmentations of one uint8 image (32, 32, 3), as uint8 (n, 32, 32, 3).

    `spec` is anything `parse_augmentation` takes (preset name, `flip,crop=4`...); a bad one
    raises `InvalidArgument` before TensorFlow is imported.
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

    import tensorflow as tf

    out = augment_batch(tf.constant(batch), augmentation,
                        tf.constant([seed, 0x5EED], dtype=tf.int64)).numpy()
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
