"""How sharp is the minimum a network found? Sharpness, the top Hessian eigenvalue, loss landscapes.

Three measures, all of the training loss (cross-entropy, inference mode) on the same fixed
training images, so that two runs of one configuration, with and without SAM, compare directly:

- `sharpness`: how much the loss can rise within an L2 ball of radius rho around the weights,
  found by a few steps of projected gradient ascent (the inner maximisation of SAM, Foret et al.
  2020, https://arxiv.org/abs/2010.01412);
- `top_hessian_eigenvalue`: the curvature along the steepest direction, by power iteration on
  Hessian-vector products (two nested gradient tapes, never the Hessian itself);
- `landscape_1d` / `landscape_2d`: the loss along one or two random directions, each filter scaled
  to the norm of the filter it perturbs (Li et al. 2018, "Visualizing the Loss Landscape of Neural
  Nets", https://arxiv.org/abs/1712.09913), so that landscapes of different networks compare.

Every function that moves the weights puts them back, also when interrupted. `measures` applies
them to saved runs.
"""
import numpy as np

from ..training.config import LIMITS as RUN_LIMITS
from ..validation import Limit

# What each setting of a measure may hold: read by the measures here, their cache (labs.measures),
# the command line and the Sharpness lab's boxes.
LIMITS = {
    "rho": Limit(float, 0, 10, low_open=True),      # the ball's radius, relative to the weights
    "steps": Limit(int, 1, 100),                     # gradient ascent steps inside it
    "iterations": Limit(int, 1, 1000),               # power iterations for the top eigenvalue
    "points": Limit(int, 2, 101),                    # per axis of a landscape
    "span": Limit(float, 0, 100, low_open=True),     # how far a landscape reaches, in filter norms
    "batches": Limit(int, 1, 1000),
    "batch_size": RUN_LIMITS["batch_size"],
    "seed": RUN_LIMITS["seed"],
}

# --- the objective -----------------------------------------------------------------------------

class Objective:
    """Mean loss, gradient and Hessian-vector product of a model's trainable weights over fixed batches."""

    def __init__(self, model, x, y, *, batch_size=128, loss=None):
        import keras
        import tensorflow as tf

        self.weights = list(model.trainable_weights)
        if not self.weights:
            raise ValueError(f"model {model.name} has no trainable weights")
        x, y = np.asarray(x), np.asarray(y)
        if len(x) == 0 or len(x) != len(y):
            raise ValueError(f"need as many labels as images, and at least one: got {len(x)} and {len(y)}")
        batch_size = LIMITS["batch_size"].check("batch_size", batch_size)
        self.batches = [(tf.constant(x[i:i + batch_size], tf.float32), tf.constant(y[i:i + batch_size]))
                        for i in range(0, len(x), batch_size)]
        self.total = len(x)
        loss = loss or keras.losses.sparse_categorical_crossentropy
        ZERO = tf.UnconnectedGradients.ZERO  # a weight the loss ignores has a zero gradient, not None

        def mean_loss(xb, yb):
            return tf.reduce_mean(tf.cast(loss(yb, model(xb, training=False)), tf.float32))

        @tf.function(reduce_retracing=True)
        def loss_only(xb, yb):
            return mean_loss(xb, yb)

        @tf.function(reduce_retracing=True)
        def loss_and_gradient(xb, yb):
            with tf.GradientTape() as tape:
                value = mean_loss(xb, yb)
            return value, tape.gradient(value, self.weights, unconnected_gradients=ZERO)

        @tf.function(reduce_retracing=True)
        def hessian_vector(xb, yb, vector):
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    value = mean_loss(xb, yb)
                gradient = inner.gradient(value, self.weights, unconnected_gradients=ZERO)
                # g·v, differentiated once more, is H v: the Hessian never exists in memory.
                dot = tf.add_n([tf.reduce_sum(g * v) for g, v in zip(gradient, vector)])
            return outer.gradient(dot, self.weights, unconnected_gradients=ZERO)

        self._loss, self._loss_and_gradient, self._hessian_vector = loss_only, loss_and_gradient, hessian_vector

    # Batches may differ in size (the last one): each counts by its share of the images.
    def loss(self):
        return float(sum(float(self._loss(xb, yb)) * len(yb) for xb, yb in self.batches) / self.total)

    def loss_and_gradient(self):
        value, gradient = 0.0, [np.zeros(w.shape, np.float32) for w in self.weights]
        for xb, yb in self.batches:
            share = len(yb) / self.total
            batch_value, batch_gradient = self._loss_and_gradient(xb, yb)
            value += float(batch_value) * share
            for total, g in zip(gradient, batch_gradient):
                total += np.asarray(g) * share
        return value, gradient

    def hessian_vector(self, vector):
        import tensorflow as tf

        vector = [tf.constant(v, tf.float32) for v in vector]
        product = [np.zeros(w.shape, np.float32) for w in self.weights]
        for xb, yb in self.batches:
            share = len(yb) / self.total
            for total, hv in zip(product, self._hessian_vector(xb, yb, vector)):
                total += np.asarray(hv) * share
        return product

    def get(self):
        return [np.array(w.numpy(), copy=True) for w in self.weights]

    def set(self, values):
        for weight, value in zip(self.weights, values):
            weight.assign(value)


def _norm(arrays):
    return float(np.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)))


def _dot(a, b):
    return float(sum(float(np.sum(x.astype(np.float64) * y)) for x, y in zip(a, b)))


# --- the measures ------------------------------------------------------------------------------

def sharpness(model, x, y, rho=0.05, steps=5, *, batch_size=128, loss=None):
    """Loss increase at the worst point found within an L2 ball of radius `rho` around the weights.

    Projected normalised gradient ascent: `steps` steps of size 2.5 rho / steps (Madry et al.'s
    choice), each projected back into the ball; one step is exactly SAM's perturbation. The
    highest loss seen counts, the starting point included, so the result is never negative.
    Returns `loss`, `perturbed_loss`, `sharpness` (their difference) with `rho` and `steps`.
    """
    return objective_sharpness(Objective(model, x, y, batch_size=batch_size, loss=loss), rho, steps)


def objective_sharpness(objective, rho, steps):
    rho = LIMITS["rho"].check("rho", rho)
    steps = LIMITS["steps"].check("steps", steps)
    origin = objective.get()
    step_size = 2.5 * rho / steps
    try:
        epsilon = [np.zeros_like(w) for w in origin]
        start = worst = None
        for _ in range(steps):
            value, gradient = objective.loss_and_gradient()
            start = value if start is None else start
            worst = max(worst if worst is not None else value, value)
            scale = step_size / (_norm(gradient) + 1e-12)
            epsilon = [e + scale * g for e, g in zip(epsilon, gradient)]
            length = _norm(epsilon)
            if length > rho:
                epsilon = [e * (rho / length) for e in epsilon]
            objective.set([w + e for w, e in zip(origin, epsilon)])
        worst = max(worst, objective.loss())
    finally:
        objective.set(origin)
    return {"loss": start, "perturbed_loss": worst, "sharpness": worst - start, "rho": rho, "steps": steps}


def top_hessian_eigenvalue(model, x, y, iterations=20, *, batch_size=128, seed=0, tolerance=1e-3, loss=None):
    """The Hessian's eigenvalue of largest magnitude (for a trained network, its largest), by power
    iteration on Hessian-vector products. Stops early once it changes by less than `tolerance`
    (relative). Returns `eigenvalue` and `iterations` used."""
    return objective_top_eigenvalue(Objective(model, x, y, batch_size=batch_size, loss=loss), iterations, seed, tolerance)


def objective_top_eigenvalue(objective, iterations, seed, tolerance):
    iterations = LIMITS["iterations"].check("iterations", iterations)
    rng = np.random.default_rng(seed)
    vector = [rng.standard_normal(w.shape).astype(np.float32) for w in objective.weights]
    length = _norm(vector)
    vector = [v / length for v in vector]
    eigenvalue, used = 0.0, 0
    for used in range(1, iterations + 1):
        product = objective.hessian_vector(vector)
        previous, eigenvalue = eigenvalue, _dot(vector, product)  # Rayleigh quotient, |v| = 1
        length = _norm(product)
        if length == 0:
            break
        vector = [p / length for p in product]
        if used > 1 and abs(eigenvalue - previous) <= tolerance * abs(eigenvalue):
            break
    return {"eigenvalue": eigenvalue, "iterations": used}


def filter_normalized_direction(weights, rng):
    """A random direction shaped like `weights`, each filter scaled to its weights' filter norm.

    Filters run along the last axis of every kernel (Dense and Conv alike in Keras). As in Li et
    al., vectors (biases, BatchNorm scales and offsets) get no direction: they stay put.
    """
    direction = []
    for w in weights:
        if w.ndim <= 1:
            direction.append(np.zeros_like(w))
            continue
        d = rng.standard_normal(w.shape).astype(np.float32)
        axes = tuple(range(w.ndim - 1))
        d *= np.sqrt(np.sum(w * w, axis=axes, keepdims=True)) / (np.sqrt(np.sum(d * d, axis=axes, keepdims=True)) + 1e-10)
        direction.append(d)
    return direction


def landscape_1d(model, x, y, *, points=21, span=1.0, seed=0, batch_size=128, loss=None):
    """Loss at w + a·d for `points` values of a in [-span, span], d filter-normalised: `alphas`, `losses`."""
    return _landscape(model, x, y, 1, points, span, seed, batch_size, loss)


def landscape_2d(model, x, y, *, points=11, span=1.0, seed=0, batch_size=128, loss=None):
    """Loss at w + a·d1 + b·d2 on a points x points grid: `alphas`, `betas`, `losses[j][i]` at (alphas[i], betas[j])."""
    return _landscape(model, x, y, 2, points, span, seed, batch_size, loss)


def _landscape(model, x, y, dims, points, span, seed, batch_size, loss):
    points = LIMITS["points"].check("points", points)
    span = LIMITS["span"].check("span", span)
    objective = Objective(model, x, y, batch_size=batch_size, loss=loss)
    origin = objective.get()
    rng = np.random.default_rng(seed)
    directions = [filter_normalized_direction(origin, rng) for _ in range(dims)]
    alphas = np.linspace(-span, span, points)
    try:
        if dims == 1:
            losses = []
            for a in alphas:
                objective.set([w + a * d for w, d in zip(origin, directions[0])])
                losses.append(objective.loss())
        else:
            losses = []
            for b in alphas:
                row = []
                for a in alphas:
                    objective.set([w + a * d1 + b * d2 for w, d1, d2 in zip(origin, *directions)])
                    row.append(objective.loss())
                losses.append(row)
    finally:
        objective.set(origin)
    result = {"alphas": alphas.tolist(), "losses": losses}
    if dims == 2:
        result["betas"] = alphas.tolist()
    return result
