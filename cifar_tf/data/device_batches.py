"""Training batches made on the training device, for any Keras backend.

`DeviceBatches` puts the uint8 images and their labels on the default device once (the GPU under
JAX when there is one) and makes every batch there with one compiled function: gather the
batch's images, `transform` them (augmentation) into float32, one-hot the labels. Only a few
integers a step leave the host: the shuffled indices and a seed. This is how a backend without
tf.data (JAX) trains without a host round trip of the images; TensorFlow can use it too.

    batches = DeviceBatches(x, y, batch_size=128, epochs=10, transform=augmentation_transform("standard"))
    model.fit(iter(batches), steps_per_epoch=len(batches), epochs=10, shuffle=False)

Keras takes a generator of backend tensors as it is: under JAX its data adapter leaves
`jax.Array`s alone (keras/src/trainers/data_adapters/data_adapter_utils.py, get_jax_iterator), and
the epoch iterator's `jax.device_put` of an array already on the device is free.
`evaluation_data` is the validation and test counterpart, in order and unaugmented.
"""
import functools

import keras
import numpy as np

from ..validation import InvalidArgument, check_int
from .augment import augment_images, compiled, parse_augmentation

_SALT = 0xDEB  # keeps the shuffle's stream apart from other generators seeded with the run's seed


def as_float32(images, seed=None, epoch=None):
    """The transform that changes nothing: uint8 images to float32 0-255."""
    return keras.ops.cast(images, "float32")


def augmentation_transform(augmentation="none"):
    """A `transform(images_uint8, seed, epoch)` for DeviceBatches: `augmentation` (anything
    `parse_augmentation` takes), drawn afresh from each step's seed; the epoch is not needed."""
    return _augmentation_transform(parse_augmentation(augmentation))


@functools.lru_cache(maxsize=32)
def _augmentation_transform(aug):
    # One function per augmentation, so all batches made with it share one compiled step.
    if aug.is_identity:
        return as_float32

    def transform(images, seed, epoch):
        return augment_images(images, seed, aug)

    return transform


@functools.lru_cache(maxsize=32)
def _compiled_step(transform, num_classes):
    def step(images, labels, indices, seed, epoch):
        # The gather, the transform and the one-hot are one XLA program: the batch never exists
        # anywhere but on the device, and only in its final form.
        ops = keras.ops
        batch = transform(ops.take(images, indices, axis=0), seed, epoch)
        return batch, ops.one_hot(ops.take(labels, indices, axis=0), num_classes, dtype="float32")

    return compiled(step)


class DeviceBatches:
    """`(float32 images, one-hot float32 labels)` batches for epochs `initial_epoch` to
    `epochs - 1` (as `fit` counts them), made on the training device.

    Each epoch visits every image once, in an order drawn on the host from (seed, epoch), with
    one seed per step for `transform(images_uint8, seed, epoch)`: the same seed gives the same
    batches, whichever epoch a run starts at and whichever backend makes them. An epoch is
    `len(x) // batch_size` whole batches, or with `drop_remainder=False` one more, smaller one
    (a second compiled shape).

    Iterating gives a generator (what `fit(x=...)` takes, with `steps_per_epoch=len(batches)`);
    each iteration starts again at `initial_epoch`; `iterate()` gives other epochs.
    """

    def __init__(self, x, y, *, batch_size, epochs=1, initial_epoch=0, transform=None, seed=0,
                 shuffle=True, drop_remainder=True, num_classes=10):
        x, y = np.asarray(x), np.asarray(y).reshape(-1)
        if x.ndim != 4 or x.dtype != np.uint8:
            raise InvalidArgument("x", f"{x.dtype} array of shape {x.shape}", "uint8 images (N, H, W, C)")
        if len(y) != len(x):
            raise InvalidArgument("y", f"{len(y)} labels", f"one label per image ({len(x)})")
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.epochs = check_int("epochs", epochs, low=1)
        self.initial_epoch = check_int("initial_epoch", initial_epoch, low=0, high=self.epochs - 1)
        self.seed = check_int("seed", seed, low=0)
        self.shuffle, self.drop_remainder = bool(shuffle), bool(drop_remainder)
        self.size = len(x)
        # On the default device, once: the GPU under JAX when there is one.
        self.images = keras.ops.convert_to_tensor(x)
        self.labels = keras.ops.convert_to_tensor(y.astype(np.int32))
        self._step = _compiled_step(transform or as_float32, check_int("num_classes", num_classes, low=1))
        if not len(self):
            raise InvalidArgument("batch_size", batch_size, f"at most {self.size}, the number of images "
                                  "(or drop_remainder=False)")

    def __len__(self):
        """Steps per epoch."""
        whole, rest = divmod(self.size, self.batch_size)
        return whole + (1 if rest and not self.drop_remainder else 0)

    @property
    def steps_per_epoch(self):
        return len(self)

    def epoch_plan(self, epoch):
        """(indices per step, seeds per step) of one epoch: int32 arrays, made on the host."""
        rng = np.random.default_rng([self.seed, _SALT, epoch])
        order = rng.permutation(self.size) if self.shuffle else np.arange(self.size)
        order = order.astype(np.int32)
        steps = len(self)
        indices = [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(steps)]
        seeds = rng.integers(0, 2 ** 32, (steps, 2), dtype=np.uint32)
        return indices, seeds

    def batch(self, indices, seed, epoch):
        """One batch: the images and labels at `indices`, transformed with `seed` at `epoch`."""
        return self._step(self.images, self.labels, indices, seed, np.int32(epoch))

    def iterate(self, initial_epoch=None, epochs=None):
        """A generator of the batches of epochs `initial_epoch` to `epochs - 1` (by default the
        ones given when these batches were made): a later phase of training takes its epochs
        from the images already on the device."""
        first = self.initial_epoch if initial_epoch is None else check_int("initial_epoch", initial_epoch, low=0)
        last = self.epochs if epochs is None else check_int("epochs", epochs, low=first + 1)
        for epoch in range(first, last):
            indices, seeds = self.epoch_plan(epoch)
            for index, seed in zip(indices, seeds):
                yield self.batch(index, seed, epoch)

    def __iter__(self):
        return self.iterate()


class EvaluationBatches(keras.utils.PyDataset):
    """Float32 images and one-hot labels in order, made on the device from uint8 held there.

    A PyDataset rather than a generator: `fit` walks its validation data again every epoch."""

    def __init__(self, x, y, *, batch_size=512, num_classes=10):
        super().__init__()  # one worker, no threads: a batch is one call on the device
        self.batches = DeviceBatches(x, y, batch_size=min(batch_size, max(1, len(x))), shuffle=False,
                                     drop_remainder=False, num_classes=num_classes)
        self._indices = self.batches.epoch_plan(0)[0]
        self._seed = np.zeros(2, np.uint32)

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches.batch(self._indices[index], self._seed, 0)


def evaluation_data(x, y, batch_size=512, num_classes=10):
    """What `fit(validation_data=...)` and `evaluate` take under the running backend: a tf.data
    pipeline under TensorFlow, as ever, and `EvaluationBatches` (no TensorFlow) elsewhere."""
    if keras.backend.backend() == "tensorflow":
        from .augment import evaluation_dataset

        return evaluation_dataset(x, y, batch_size=batch_size, num_classes=num_classes)
    return EvaluationBatches(x, y, batch_size=batch_size, num_classes=num_classes)
