"""Data augmentation inside the TensorFlow graph, and the tf.data pipelines that feed training.

Every geometric augmentation (flip, shift, rotation, zoom, shear, pad-and-crop) is folded into one
affine matrix per image and applied to the whole batch by a single ImageProjectiveTransformV3 op:
one resampling pass instead of one per augmentation, which is what keeps an augmented epoch close
to the speed of a plain one. Random numbers come from stateless ops seeded per batch, so a run is
repeatable however many threads the pipeline uses.

An augmentation is written as a preset name, `key=value` settings, or both:
`seed001`, `flip,crop=4,cutout=8`, `seed001,cutout=8`.
"""
import math
from dataclasses import asdict, dataclass, fields, replace

from .validation import InvalidArgument, check_bool, check_choice, check_float, check_int

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
    """Augment a float32 batch (N, H, W, C); `seed` is a stateless seed, shape (2,) int."""
    import tensorflow as tf

    aug = parse_augmentation(augmentation)
    images = tf.cast(images, tf.float32)
    if aug.is_geometric:
        seeds = tf.random.experimental.stateless_split(seed, 2)
        transforms = _random_affine(tf, tf.shape(images), aug, seeds[0])
        images = tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
            fill_value=0.0, interpolation="BILINEAR", fill_mode=aug.fill.upper())
        seed = seeds[1]
    if aug.cutout:
        images = _cutout(tf, images, aug.cutout, seed)
    return images


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

def training_dataset(x, y, *, batch_size, augmentation="none", seed=0, num_classes=10, shuffle=True):
    """Shuffled, augmented, one-hot batches of float32 0-255 images, prefetched."""
    import tensorflow as tf

    aug = parse_augmentation(augmentation)
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size)
    # One stateless seed per batch, so augmentation is repeatable however the map is scheduled.
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    data = tf.data.Dataset.zip((data, seeds))

    def prepare(batch, batch_seed):
        images, labels = batch
        images = augment_batch(images, aug, batch_seed) if not aug.is_identity else tf.cast(images, tf.float32)
        return images, tf.one_hot(tf.cast(labels, tf.int32), num_classes)

    return data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(x, y, *, batch_size=512, num_classes=10):
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    return data.map(lambda images, labels: (tf.cast(images, tf.float32),
                                            tf.one_hot(tf.cast(labels, tf.int32), num_classes))
                    ).prefetch(tf.data.AUTOTUNE)
