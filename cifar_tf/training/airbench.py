"""airbench94 in Keras 3: the fastest published CIFAR-10 recipe, ported part by part.

Keller Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU" (arXiv 2404.00498), file
legacy/airbench94.py of github.com/KellerJordan/cifar10-airbench. The network is
`architectures.fast_cnn`; this module adds what makes it train fast:

- a 2x2 whitening convolution set from the data and frozen (its bias trains for 3 epochs);
- Nesterov SGD on the *summed*, label-smoothed loss, coupled L2, a 64x rate on BatchNorm biases;
- a linear warm-up then linear decay; alternating flips and 2-pixel reflect translation;
- lookahead: every 5 steps the weights (BatchNorm statistics included) are pulled towards an
  exponential average, and the net ends on the average;
- test-time augmentation over mirrors and 1-pixel shifts (`cifar_tf.evaluation.tta`, the lab's one).

`python -m cifar_tf train --preset fast` (and the Train page's fast preset) set
`recipe="airbench"`, and `train()` uses `plan`, `fit` and `test_probabilities` here: the same run
life, live metrics, stop requests and saved run as any other. The saved model.keras stays a plain
functional model.
"""
import functools
import math

import keras
import numpy as np
from scipy.special import softmax

from ..evaluation import tta

# airbench94's hyperparameters, in its own terms. `lr` and `weight_decay` of the fast preset are
# derived from these (see `sgd_hyperparameters`); the rest are the recipe's fixed parts.
HYP = {
    "opt": {
        "epochs": 10,                   # airbench: 9.9
        "batch_size": 1024,
        "lr": 11.5,                     # per 1024 examples, decoupled from the momentum
        "momentum": 0.85,
        "weight_decay": 0.0153,         # per 1024 examples, decoupled from the learning rate
        "bias_scaler": 64.0,            # BatchNorm biases learn 64x faster (and decay no faster)
        "label_smoothing": 0.2,
        "whiten_bias_epochs": 3,        # the whitening bias trains this long, then freezes
        "warmup": 0.23,                 # share of the steps spent rising (warmup_epochs / epochs)...
        "lr_start": 0.2,                # ...from 0.2x the peak rate...
        "lr_end": 0.07,                 # ...and falling to 0.07x at the end
    },
    "aug": {"flip": True, "translate": 2},
    "net": {"widths": (64, 256, 256), "whiten_eps": 5e-4, "whiten_images": 5000},
    "lookahead": {"every": 5, "decay": 0.95 ** 5},   # decay x (step / total)^3, so late steps weigh most
    # test-time augmentation: airbench's level 2, the six views of cifar_tf.evaluation.tta
}


def sgd_hyperparameters(momentum=HYP["opt"]["momentum"]):
    """airbench's decoupled lr and weight decay as what the Keras optimizer and TrainConfig take.

    airbench divides its rates by 1024 (1 + 1 / (1 - momentum)), the size of a Nesterov step on
    constant per-example gradients: lr = 1.465e-3 on the summed loss. Its L2 then shrinks every
    weight by 0.002 per step of 1024 images; written as an L2 coefficient on the *mean* loss that
    is weight_decay = 0.0153 / 11.5 = 1.33e-3, whatever the batch size.
    """
    kilostep_scale = 1024 * (1 + 1 / (1 - momentum))
    return {"lr": HYP["opt"]["lr"] / kilostep_scale,
            "weight_decay": HYP["opt"]["weight_decay"] / HYP["opt"]["lr"]}


# --- the recipe's settings, from a TrainConfig ---------------------------------------------------

def recipe_settings(config, train_size):
    """The numbers the trainer needs, from a validated TrainConfig and the training-set size."""
    from ..data.augment import parse_augmentation

    aug = parse_augmentation(config.augment)
    batch_size = min(config.batch_size, train_size)  # a tiny subset still makes one step per epoch
    steps_per_epoch = train_size // batch_size       # whole batches only: static shapes, as airbench
    total = steps_per_epoch * config.epochs
    return dict(batch_size=batch_size, steps_per_epoch=steps_per_epoch, total_steps=total,
                warmup_steps=min(total - 1, round(config.warmup_epochs * steps_per_epoch)),
                whiten_bias_steps=HYP["opt"]["whiten_bias_epochs"] * steps_per_epoch,
                lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                weight_decay=config.weight_decay, label_smoothing=config.label_smoothing,
                flip=aug.flip, translate=aug.crop)


def _input(model):
    """The model's input as it was built (one tensor, not a list of one: Keras warns otherwise)."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


# --- whitening -----------------------------------------------------------------------------------

def whitening_kernel(inputs, kernel_size=2, width=24, eps=HYP["net"]["whiten_eps"]):
    """A (k, k, C, width) kernel whose filters whiten the k x k patches of `inputs` (N, H, W, C).

    The filters are the eigenvectors of the (uncentred) patch covariance, largest first, each
    divided by sqrt(eigenvalue + eps), then the same filters negated: after a GELU the pair keeps
    both signs of every component.
    """
    inputs = np.asarray(inputs, np.float32)
    n, h, w, c = inputs.shape
    covariance = np.zeros((kernel_size * kernel_size * c,) * 2)
    for start in range(0, n, 500):  # in chunks: all 4.8M patches of 5,000 images at once are 230 MB
        chunk = inputs[start:start + 500]
        patches = np.stack([chunk[:, i:h - kernel_size + 1 + i, j:w - kernel_size + 1 + j]
                            for i in range(kernel_size) for j in range(kernel_size)], axis=3)
        patches = patches.reshape(-1, kernel_size * kernel_size * c).astype(np.float64)  # (i, j, c) order
        covariance += patches.T @ patches
    covariance /= n * (h - kernel_size + 1) * (w - kernel_size + 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)          # ascending
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    scaled = eigenvectors / np.sqrt(np.maximum(eigenvalues, 0) + eps)
    half = math.ceil(width / 2)
    filters = np.concatenate([scaled[:, :half], -scaled[:, :half]], axis=1)[:, :width]
    return filters.reshape(kernel_size, kernel_size, c, width).astype(np.float32)


def init_whitening(model, images, eps=HYP["net"]["whiten_eps"]):
    """Set the kernel of the model's "whiten" conv from `images` (uint8, as the model takes them)."""
    layer = model.get_layer("whiten")
    # Exactly what the whitening conv sees: the model's own rescaling and normalisation.
    feed = keras.Model(_input(model), layer.input)
    inputs = np.concatenate([np.asarray(feed.predict_on_batch(images[i:i + 500].astype(np.float32)), np.float32)
                             for i in range(0, len(images), 500)])
    kh, kw, _, width = layer.kernel.shape
    layer.kernel.assign(whitening_kernel(inputs, kh, width, eps))


# --- data ----------------------------------------------------------------------------------------

def translate_batch(images, offsets, pad):
    """Move each image (N, H, W, C) by a whole number of pixels, `offsets` (2, N) in [0, 2 pad]
    minus pad along rows and columns, filling from a reflection (torch's 'reflect', the edge
    pixel not repeated). Two gathers, no loops; keras.ops, so any backend runs it."""
    from keras import ops

    height, width = images.shape[1], images.shape[2]
    padded = ops.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="reflect")
    rows = offsets[0][:, None] + ops.arange(height, dtype="int32")[None, :]
    cols = offsets[1][:, None] + ops.arange(width, dtype="int32")[None, :]
    out = ops.take_along_axis(padded, rows[:, :, None, None], axis=1)          # (N, H, W + 2 pad, C)
    return ops.take_along_axis(out, cols[:, None, :, None], axis=2)            # (N, H, W, C)


@functools.lru_cache(maxsize=8)
def batch_transform(flip=True, translate=2):
    """airbench's augmentation as a DeviceBatches transform: the whole batch mirrored on odd
    epochs (each image's own random mirror is drawn once, before training), then a random
    translation of each image drawn from the step's seed. One function per setting, so every
    run with it shares one compiled step."""
    from ..data.augment import random_uniform

    def transform(images, seed, epoch):
        ops = keras.ops
        images = ops.cast(images, "float32")
        if flip:
            images = ops.where(epoch % 2 == 1, ops.flip(images, axis=2), images)
        if translate:
            draws = random_uniform(seed, 2, ops.shape(images)[0])
            images = translate_batch(images, ops.cast(ops.floor(draws * (2 * translate + 1)), "int32"), translate)
        return images

    return transform


def training_batches(x, y, *, batch_size, epochs, flip=True, translate=2, seed=0, num_classes=10):
    """`epochs` x (len(x) // batch_size) augmented batches (float32 images, one-hot labels), made
    on the training device from the whole set, which goes there once, as airbench keeps it.

    Alternating flip: each image gets a random mirror once, before epoch 0, and the whole set is
    mirrored on every odd epoch, so an image is seen both ways in any two consecutive epochs
    (random flips repeat a view half the time). Shuffling and translation are redrawn each epoch
    from the seed, so a run is repeatable.
    """
    from ..data.device_batches import DeviceBatches

    x = np.asarray(x, np.uint8)
    if flip:
        mirrored = np.random.default_rng([seed, 0xF11B]).random(len(x)) < 0.5
        x = np.where(mirrored[:, None, None, None], x[:, :, ::-1], x)
    return DeviceBatches(x, y, batch_size=batch_size, epochs=epochs, transform=batch_transform(flip, translate),
                         seed=seed, num_classes=num_classes)


# --- the training step ---------------------------------------------------------------------------

class AirbenchTrainer(keras.Model):
    """Trains `model` (a fast_cnn, or any model with a "probabilities" softmax) the airbench way.

    Only the wrapped functional model is saved, as with optim.SharpnessAware. `fit` it on
    `training_batches`; call `finish()` afterwards so the net takes the averaged weights.

    The recipe is written once, in keras.ops, on variables (`summed_loss`, `gradient_scales`,
    `lookahead_step`); each backend has its own small train step around it, as keras.io's
    "custom train step" guides do: TensorFlow's records a tape and assigns, JAX's is a pure
    function of the state that runs the same code inside a StatelessScope.
    """

    def __init__(self, model, settings, **kwargs):
        super().__init__(**kwargs)
        self.net = model
        self.settings = dict(settings)
        # The loss wants logits: the same layers, up to the input of the final softmax.
        self.logits_net = keras.Model(_input(model), model.get_layer("probabilities").input)
        self.frozen_kernel = self._whiten_attr("kernel")
        self.whiten_bias = self._whiten_attr("bias")
        bn_biases = {id(layer.beta) for layer in model.layers
                     if isinstance(layer, keras.layers.BatchNormalization) and layer.center}
        # Per-variable rate factors, in the order of `trainable_variables`: 64x for BatchNorm
        # biases, 0 for the whitening kernel (it never trains: a zero gradient keeps it, where
        # changing `trainable` after compile() would need a recompile).
        self._lr_scale = [0.0 if v is self.frozen_kernel else HYP["opt"]["bias_scaler"] if id(v) in bn_biases
                          else 1.0 for v in model.trainable_weights]
        # Lookahead covers every float weight, BatchNorm's moving statistics included.
        self._ema_sources = [v for v in model.weights if "float" in str(v.dtype)]
        self._ema = [keras.Variable(keras.ops.convert_to_numpy(v.value), trainable=False,
                                    name=f"ema_{i}") for i, v in enumerate(self._ema_sources)]
        self.ce = keras.losses.CategoricalCrossentropy(from_logits=True, reduction="sum",
                                                       label_smoothing=self.settings["label_smoothing"])

    def _whiten_attr(self, name):
        try:
            return getattr(self.net.get_layer("whiten"), name, None)
        except ValueError:
            return None  # no whitening layer: the rest of the recipe still applies

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    # --- the recipe, on variables, any backend ---------------------------------------------------

    def summed_loss(self, x, y):
        """(label-smoothed cross-entropy summed over the batch, the same plus coupled L2, logits)."""
        ops = keras.ops
        logits = ops.cast(self.logits_net(x, training=True), "float32")
        loss = self.ce(ops.cast(y, "float32"), logits)
        total = loss + self.l2_penalty(ops.shape(x)[0]) if self.settings["weight_decay"] else loss
        return loss, total, logits

    def l2_penalty(self, batch_size):
        """Coupled L2 on the summed loss: 0.5 x batch x wd x |w|^2, BatchNorm biases at wd / 64,
        so that with their 64x rate they decay per step exactly as much as the other weights."""
        ops = keras.ops
        terms = [ops.sum(ops.square(v.value)) / scale
                 for v, scale in zip(self.net.trainable_weights, self._lr_scale) if scale]
        return 0.5 * ops.cast(batch_size, "float32") * self.settings["weight_decay"] * ops.sum(ops.stack(terms))

    def gradient_scales(self):
        """Per-group rates as gradient scales (Keras' SGD is linear in lr x gradient), and the
        whitening bias masked after its epochs rather than toggled untrainable."""
        ops = keras.ops
        bias_on = ops.cast(self.optimizer.iterations < self.settings["whiten_bias_steps"], "float32")
        return [scale * bias_on if v is self.whiten_bias else scale
                for v, scale in zip(self.net.trainable_weights, self._lr_scale)]

    def lookahead_step(self):
        """Every `every` steps (counting this one): average <- decay x average + (1 - decay) x
        weights; weights <- average, with decay rising as (step / total)^3 so late steps weigh most."""
        ops = keras.ops
        step = self.optimizer.iterations
        due = ops.equal(step % HYP["lookahead"]["every"], 0)
        fraction = ops.cast(step, "float32") / max(1, self.settings["total_steps"])
        decay = HYP["lookahead"]["decay"] * fraction ** 3
        for average, weight in zip(self._ema, self._ema_sources):
            blended = decay * average.value + (1.0 - decay) * ops.cast(weight.value, average.dtype)
            average.assign(ops.where(due, blended, average.value))
            weight.assign(ops.where(due, ops.cast(blended, weight.dtype), weight.value))

    # --- one step per backend --------------------------------------------------------------------

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._jax_train_step(*args)
        return self._tensorflow_train_step(*args)

    def _tensorflow_train_step(self, data):
        import tensorflow as tf

        x, y = data[0], data[1]
        weights = self.net.trainable_weights
        with tf.GradientTape() as tape:
            loss, total, logits = self.summed_loss(x, y)
            scaled = self.optimizer.scale_loss(total)               # float16 loss scaling, if any
        gradients = tape.gradient(scaled, weights)
        self.optimizer.apply_gradients([(g * scale, v) for g, v, scale in
                                        zip(gradients, weights, self.gradient_scales()) if g is not None])
        self.lookahead_step()
        batch = tf.shape(x)[0]
        self._loss_tracker.update_state(loss / tf.cast(batch, tf.float32), sample_weight=batch)
        return self.compute_metrics(x, y, logits)

    def _jax_train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_values, metrics_values = state
        x, y = data[0], data[1]
        variables = self.trainable_variables + self.non_trainable_variables + self.optimizer.variables

        def scaled_loss(trainable):
            mapping = list(zip(self.trainable_variables, trainable)) + \
                list(zip(self.non_trainable_variables, non_trainable)) + \
                list(zip(self.optimizer.variables, optimizer_values))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                loss, total, logits = self.summed_loss(x, y)
                scaled = self.optimizer.scale_loss(total)
            moved = [_current(scope, v, value) for v, value in zip(self.non_trainable_variables, non_trainable)]
            return scaled, (loss, logits, moved)

        (_, (loss, logits, non_trainable)), gradients = jax.value_and_grad(scaled_loss, has_aux=True)(trainable)
        with keras.StatelessScope(state_mapping=list(zip(self.optimizer.variables, optimizer_values))):
            scale_of = {id(v): scale for v, scale in zip(self.net.trainable_weights, self.gradient_scales())}
        gradients = [g * scale_of[id(v)] for g, v in zip(gradients, self.trainable_variables)]
        trainable, optimizer_values = self.optimizer.stateless_apply(optimizer_values, gradients, trainable)

        values = list(trainable) + list(non_trainable) + list(optimizer_values)
        with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
            self.lookahead_step()
        values = [_current(scope, v, value) for v, value in zip(variables, values)]
        trainable = values[:len(trainable)]
        non_trainable = values[len(trainable):len(trainable) + len(non_trainable)]

        batch = x.shape[0]
        logs, metrics_values = self._update_metrics_variables(metrics_values, loss / batch, x, y, logits, None)
        return logs, (trainable, non_trainable, optimizer_values, metrics_values)

    def finish(self):
        """End on the averaged weights, as airbench does (its final update with decay 1)."""
        for average, weight in zip(self._ema, self._ema_sources):
            weight.assign(average.value)


def _current(scope, variable, value):
    """The value a StatelessScope ended with for `variable` (`value` if nothing assigned it)."""
    current = scope.get_current_value(variable)
    return value if current is None else current


def make_optimizer(settings):
    from .optim import LinearWarmupDecay, adjustable

    schedule = LinearWarmupDecay(settings["lr"], total_steps=settings["total_steps"],
                                 warmup_steps=settings["warmup_steps"], start=HYP["opt"]["lr_start"],
                                 end=HYP["opt"]["lr_end"])
    return adjustable(keras.optimizers.SGD, schedule, momentum=settings["momentum"], nesterov=settings["nesterov"])


def build_trainer(model, settings, *, jit_compile=False):
    trainer = AirbenchTrainer(model, settings, name="airbench")
    # The compiled loss only scores validation (per image, smoothed as in training).
    trainer.compile(optimizer=make_optimizer(settings),
                    loss=keras.losses.CategoricalCrossentropy(label_smoothing=settings["label_smoothing"]),
                    metrics=["accuracy"], jit_compile=jit_compile)
    return trainer


# --- a run ---------------------------------------------------------------------------------------

def plan(config, train_size):
    settings = recipe_settings(config, train_size)
    return {"steps_per_epoch": settings["steps_per_epoch"], "total_steps": settings["total_steps"]}


def fit(model, config, data, *, device, callbacks=(), stop=None, log=print, phase=lambda text: None):
    """Whiten from the training images, train `model` the airbench way, end on the averaged
    weights; the Keras history. What a run and the benchmark share."""
    x_train, y_train = data["x_train"], data["y_train"]
    settings = recipe_settings(config, len(x_train))
    rng = np.random.default_rng(config.seed)
    whiten_from = rng.choice(len(x_train), min(HYP["net"]["whiten_images"], len(x_train)), replace=False)
    if "whiten" in [layer.name for layer in model.layers]:
        phase("whitening: fitting the first layer to the images")
        init_whitening(model, x_train[np.sort(whiten_from)])
    trainer = build_trainer(model, settings, jit_compile=device["xla"])
    phase("tracing the training step")
    batches = training_batches(x_train, y_train, batch_size=settings["batch_size"], epochs=config.epochs,
                               flip=settings["flip"], translate=settings["translate"], seed=config.seed)
    validation = None
    if len(data.get("x_val", ())):
        from ..data.device_batches import evaluation_data

        validation = evaluation_data(data["x_val"], data["y_val"])
    history = trainer.fit(iter(batches), epochs=config.epochs, steps_per_epoch=settings["steps_per_epoch"],
                          validation_data=validation, callbacks=list(callbacks), shuffle=False,
                          verbose=0).history  # batches come shuffled
    trainer.finish()
    return history


def test_probabilities(model, x_test, y_test, *, run=None, log=print, phase=lambda text: None):
    """The test scores with TTA, as airbench reports them, and the accuracy without it."""
    phase(f"evaluating on the test set ({len(tta.VIEWS)} views)")
    y_test = np.asarray(y_test).reshape(-1)
    scores = tta.view_scores(model, x_test)        # one pass: the plain images are the first view
    plain, averaged = scores[0], tta.average(scores)
    extra = {"test_accuracy_no_tta": float((plain.argmax(1) == y_test).mean())}
    if run is not None:
        run.update(test_time_augmentation=tta.describe())
    log(f"test accuracy {float((averaged.argmax(1) == y_test).mean()):.4f} with TTA, "
        f"{extra['test_accuracy_no_tta']:.4f} without")
    return softmax(averaged, axis=1).astype(np.float32), extra
