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

`measure_run` and `run_landscape` work on a saved run, on a private copy of its model, and keep
their results in the run folder (`sharpness.json`, keyed by settings) so nothing is computed twice.
Every function that moves the weights puts them back, also when interrupted.
"""
import secrets
import time
from datetime import datetime

import numpy as np

from . import runs as runs_lib
from .validation import check_choice, check_float, check_int

SHARPNESS_FILE = "sharpness.json"
FORMAT_VERSION = 1
# The fixed training images every measure of a run uses: 4 batches of 128 (seeded).
DATA_DEFAULTS = dict(batches=4, batch_size=128, seed=0)
SHARPNESS_DEFAULTS = dict(rho=0.05, steps=5, iterations=20)
LANDSCAPE_DEFAULTS = dict(points=21, span=1.0)


# --- the objective -----------------------------------------------------------------------------

class _Objective:
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
        batch_size = check_int("batch_size", batch_size, low=1, high=8192)
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
    return _sharpness(_Objective(model, x, y, batch_size=batch_size, loss=loss), rho, steps)


def _sharpness(objective, rho, steps):
    rho = check_float("rho", rho, low=0, high=10, low_open=True)
    steps = check_int("steps", steps, low=1, high=100)
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
    return _top_eigenvalue(_Objective(model, x, y, batch_size=batch_size, loss=loss), iterations, seed, tolerance)


def _top_eigenvalue(objective, iterations, seed, tolerance):
    iterations = check_int("iterations", iterations, low=1, high=1000)
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
    points = check_int("points", points, low=2, high=101)
    span = check_float("span", span, low=0, high=100, low_open=True)
    objective = _Objective(model, x, y, batch_size=batch_size, loss=loss)
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


# --- saved runs --------------------------------------------------------------------------------

def fixed_batches(run, *, batches=4, batch_size=128, seed=0, data_dir=None):
    """The training images and labels every measure of `run` uses: `batches x batch_size` images
    drawn with `seed` from the run's own training split (same data settings, same images)."""
    from .config import TrainConfig
    from .train import prepare_data

    batches = check_int("batches", batches, low=1, high=1000)
    batch_size = check_int("batch_size", batch_size, low=1, high=8192)
    config = TrainConfig.from_dict(run.record.get("config") or {})
    data = prepare_data(config, _data_dir(run, data_dir))
    x, y = data["x_train"], data["y_train"]
    count = min(batches * batch_size, len(x))
    picked = np.sort(np.random.default_rng(seed).choice(len(x), count, replace=False))
    return x[picked], y[picked]


def _data_dir(run, data_dir):
    """Where to read the run's data: the folder given, else where it trained, else the usual search."""
    from pathlib import Path

    if data_dir:
        return data_dir
    for candidate in ((run.record.get("tags") or {}).get("data_dir"), run.record.get("data_path")):
        if candidate and Path(candidate).is_dir():
            return candidate
    return None


def _settings_key(kind, settings):
    return kind + " " + " ".join(f"{k}={settings[k]}" for k in sorted(settings))


def cached(run, kind, **settings):
    """A stored result of `measure_run` (kind "sharpness") or `run_landscape` ("landscape1d",
    "landscape2d") with these settings (defaults filled in), or None."""
    settings = _full_settings(kind, settings)
    entry = _read_cache(run).get(_settings_key(kind, settings))
    if entry and entry.get("model_mtime") == _model_mtime(run):
        return entry
    return None


def _full_settings(kind, settings):
    kind = check_choice("kind", kind, ("sharpness", "landscape1d", "landscape2d"))
    defaults = dict(DATA_DEFAULTS)
    if kind == "sharpness":
        defaults.update(SHARPNESS_DEFAULTS)
    else:
        defaults.update(LANDSCAPE_DEFAULTS, points=21 if kind == "landscape1d" else 11)
    unknown = set(settings) - set(defaults)
    if unknown:
        raise TypeError(f"unknown setting {sorted(unknown)[0]!r} for {kind}")
    settings = {**defaults, **{k: v for k, v in settings.items() if v is not None}}
    # Checked and coerced here, so "0.05" from a command line and 0.05 share one cache entry.
    return {key: _SETTING_CHECKS[key](key, value) for key, value in settings.items()}


_SETTING_CHECKS = {
    "rho": lambda name, value: check_float(name, value, low=0, high=10, low_open=True),
    "span": lambda name, value: check_float(name, value, low=0, high=100, low_open=True),
    "steps": lambda name, value: check_int(name, value, low=1, high=100),
    "iterations": lambda name, value: check_int(name, value, low=1, high=1000),
    "batches": lambda name, value: check_int(name, value, low=1, high=1000),
    "batch_size": lambda name, value: check_int(name, value, low=1, high=8192),
    "seed": lambda name, value: check_int(name, value, low=0, high=2**31 - 1),
    "points": lambda name, value: check_int(name, value, low=2, high=101),
}


def _read_cache(run):
    import json

    try:
        content = json.loads(run.file(SHARPNESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(content, dict) or content.get("version") != FORMAT_VERSION:
        return {}
    results = content.get("results")
    return results if isinstance(results, dict) else {}


def _store(run, kind, settings, result):
    results = _read_cache(run)
    results[_settings_key(kind, settings)] = result
    runs_lib.atomic_write_json(run.file(SHARPNESS_FILE), {"version": FORMAT_VERSION, "results": results})


def _model_mtime(run):
    try:
        return run.model_path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _load_private_model(run):
    """A fresh copy of the run's model: the measures move its weights, and the app's model cache
    shares its copies between sessions."""
    from .predict import load_model

    if not run.model_path.exists():
        raise LookupError(f"run {run.id} has no saved model (status {run.status})")
    return load_model(run.model_path)


def measure_run(run, *, rho=None, steps=None, iterations=None, batches=None, batch_size=None, seed=None,
                data_dir=None, refresh=False):
    """Sharpness and top Hessian eigenvalue of a saved run, cached in its folder. Returns a dict
    with `loss`, `perturbed_loss`, `sharpness`, `hessian_eigenvalue`, the settings and `seconds`."""
    settings = _full_settings("sharpness", dict(rho=rho, steps=steps, iterations=iterations, batches=batches,
                                                 batch_size=batch_size, seed=seed))
    if not refresh:
        found = cached(run, "sharpness", **settings)
        if found:
            return found
    started = time.time()
    model = _load_private_model(run)
    x, y = fixed_batches(run, batches=settings["batches"], batch_size=settings["batch_size"],
                         seed=settings["seed"], data_dir=data_dir)
    objective = _Objective(model, x, y, batch_size=settings["batch_size"])  # traced once for both
    result = _sharpness(objective, settings["rho"], settings["steps"])
    top = _top_eigenvalue(objective, settings["iterations"], settings["seed"], 1e-3)
    result.update(hessian_eigenvalue=top["eigenvalue"], power_iterations=top["iterations"])
    return _finish(run, "sharpness", settings, result, started, len(x))


def run_landscape(run, *, dims=1, points=None, span=None, batches=None, batch_size=None, seed=None,
                  data_dir=None, refresh=False):
    """The 1-D or 2-D filter-normalised loss landscape of a saved run, cached in its folder."""
    dims = check_choice("dims", int(dims) if str(dims).isdigit() else dims, (1, 2))
    kind = f"landscape{dims}d"
    settings = _full_settings(kind, dict(points=points, span=span, batches=batches, batch_size=batch_size,
                                         seed=seed))
    if not refresh:
        found = cached(run, kind, **settings)
        if found:
            return found
    started = time.time()
    model = _load_private_model(run)
    x, y = fixed_batches(run, batches=settings["batches"], batch_size=settings["batch_size"],
                         seed=settings["seed"], data_dir=data_dir)
    draw = landscape_1d if dims == 1 else landscape_2d
    result = draw(model, x, y, points=settings["points"], span=settings["span"], seed=settings["seed"],
                  batch_size=settings["batch_size"])
    return _finish(run, kind, settings, result, started, len(x))


def _finish(run, kind, settings, result, started, images):
    result = {**result, "settings": settings, "images": images, "run": run.id,
              "seconds": round(time.time() - started, 2), "model_mtime": _model_mtime(run),
              "computed_at": datetime.now().astimezone().isoformat(timespec="seconds")}
    try:
        _store(run, kind, settings, result)
    except OSError:
        pass  # a read-only runs folder still gets its numbers, only not remembered
    return result


# --- SAM pairs ---------------------------------------------------------------------------------

PAIR_TAG = "sam_pair"


def pair_configs(config, rho):
    """The same validated TrainConfig twice: without SAM and with SAM of radius `rho`."""
    from dataclasses import replace

    rho = check_float("sam_rho", rho, low=0, high=5, low_open=True)
    return replace(config, sam_rho=0.0).validated(), replace(config, sam_rho=rho).validated()


def submit_pair(manager, config, rho, *, name=None):
    """Queue a plain run and a SAM run of one configuration (same seed, same data) on a RunManager.

    Both carry the tag `sam_pair` with a shared id; returns `(pair_id, plain_run, sam_run)`.
    """
    plain, sam = pair_configs(config, rho)
    pair_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    label = runs_lib.clean_name(name) or f"{config.arch} pair {pair_id[-4:]}"
    plain_run = manager.submit(plain, name=f"{label} · plain", tags={PAIR_TAG: pair_id, "sam": "plain"})
    sam_run = manager.submit(sam, name=f"{label} · SAM rho={rho:g}", tags={PAIR_TAG: pair_id, "sam": "sam"})
    return pair_id, plain_run, sam_run


def sam_pairs(runs):
    """Runs grouped by their `sam_pair` tag, newest pair first: dicts with `id`, `plain`, `sam`."""
    pairs = {}
    for run in runs:
        pair_id = (run.record.get("tags") or {}).get(PAIR_TAG)
        if not pair_id:
            continue
        role = "sam" if (run.record.get("config") or {}).get("sam_rho") else "plain"
        pairs.setdefault(pair_id, {"id": pair_id, "plain": None, "sam": None})[role] = run
    return sorted(pairs.values(), key=lambda pair: pair["id"], reverse=True)


def comparison_rows(runs, **settings):
    """A row per run for a side-by-side table: SAM radius, accuracy, and the cached measures (or None)."""
    rows = []
    for run in runs:
        measured = cached(run, "sharpness", **settings) or {}
        metrics = run.record.get("metrics") or {}
        rows.append({"run": run.name, "SAM ρ": (run.record.get("config") or {}).get("sam_rho") or 0.0,
                     "status": run.status, "test accuracy": metrics.get("test_accuracy"),
                     "training loss": measured.get("loss"), "sharpness": measured.get("sharpness"),
                     "λ max": measured.get("hessian_eigenvalue")})
    return rows


# --- charts ------------------------------------------------------------------------------------

def landscape_1d_chart(results, *, height=320):
    """Loss along the random direction, one line per run: `results` maps a label to `run_landscape(dims=1)`."""
    import altair as alt
    import pandas as pd

    frame = pd.DataFrame([{"run": label, "step along the direction": a, "training loss": v}
                          for label, result in results.items() for a, v in zip(result["alphas"], result["losses"])])
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("step along the direction:Q", title="distance along the direction (in filter norms)"),
        y=alt.Y("training loss:Q", scale=alt.Scale(type="log"), title="training loss (log scale)"),
        color=alt.Color("run:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=400),
                        scale=alt.Scale(domain=list(results), scheme="set1")),
        tooltip=["run:N", alt.Tooltip("step along the direction:Q", format="+.2f"),
                 alt.Tooltip("training loss:Q", format=".4f")],
    ).properties(height=height)


def landscape_2d_charts(results, *, size=300, levels=12):
    """Filled loss contours on the plane of the two directions, one chart per run side by side, with
    the trained weights marked at the centre. The colours step at the same losses (spaced evenly on a
    log scale over all runs) so that a wider dark basin really is a flatter minimum."""
    import altair as alt
    import pandas as pd

    from .gd import filled_contours

    everything = np.concatenate([np.ravel(r["losses"]) for r in results.values()])
    low, high = float(np.nanmin(everything)), float(np.nanmax(everything))
    edges = np.geomspace(max(low, 1e-6), max(high, low * 1.0001, 2e-6), levels + 1)
    centre = alt.Chart(pd.DataFrame({"x": [0.0], "y": [0.0]})).mark_point(
        shape="cross", size=120, color="white", filled=True).encode(x="x:Q", y="y:Q")
    charts = [alt.layer(filled_contours(r["alphas"], r["betas"], np.asarray(r["losses"]), edges=edges,
                                        value_title="training loss", x_title="direction 1", y_title="direction 2"),
                        centre).properties(width=size, height=size, title=label)
              for label, r in results.items()]
    return alt.hconcat(*charts, spacing=40)
