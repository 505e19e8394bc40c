"""Sharpness, the top Hessian eigenvalue and loss landscapes of a saved run, kept in its folder.

`measure_run` and `run_landscape` work on a private copy of the run's model, on fixed training
images drawn from the run's own training split, and keep their results in the run folder
(`sharpness.json`, keyed by settings) so that nothing is computed twice.
"""
import json
import time
from pathlib import Path

import numpy as np

from ..runs.files import atomic_write_json, now
from ..validation import check_choice
from .sharpness import LIMITS, Objective, landscape_1d, landscape_2d, objective_sharpness, objective_top_eigenvalue

SHARPNESS_FILE = "sharpness.json"
FORMAT_VERSION = 1
# The fixed training images every measure of a run uses: 4 batches of 128 (seeded).
DATA_DEFAULTS = dict(batches=4, batch_size=128, seed=0)
SHARPNESS_DEFAULTS = dict(rho=0.05, steps=5, iterations=20)
LANDSCAPE_DEFAULTS = dict(points=21, span=1.0)


def fixed_batches(run, *, batches=4, batch_size=128, seed=0, data_dir=None):
    """The training images and labels every measure of `run` uses: `batches x batch_size` images
    drawn with `seed` from the run's own training split (same data settings, same images)."""
    from ..training.config import TrainConfig
    from ..training.run import prepare_data

    batches = LIMITS["batches"].check("batches", batches)
    batch_size = LIMITS["batch_size"].check("batch_size", batch_size)
    config = TrainConfig.from_dict(run.record.get("config") or {})
    data = prepare_data(config, _data_dir(run, data_dir))
    x, y = data["x_train"], data["y_train"]
    count = min(batches * batch_size, len(x))
    picked = np.sort(np.random.default_rng(seed).choice(len(x), count, replace=False))
    return x[picked], y[picked]


def _data_dir(run, data_dir):
    """Where to read the run's data: the folder given, else where it trained, else the usual search."""
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
    return {key: LIMITS[key].check(key, value) for key, value in settings.items()}


def _read_cache(run):
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
    atomic_write_json(run.file(SHARPNESS_FILE), {"version": FORMAT_VERSION, "results": results})


def _model_mtime(run):
    try:
        return run.model_path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _load_private_model(run):
    """A fresh copy of the run's model: the measures move its weights, and the app's model cache
    shares its copies between sessions."""
    from ..evaluation.predict import load_model

    if not run.model_path.exists():
        raise LookupError(f"run {run.id} has no saved model (status {run.status})")
    return load_model(run.model_path)


def measure_run(run, *, rho=None, steps=None, iterations=None, batches=None, batch_size=None, seed=None,
                data_dir=None, refresh=False):
    """Sharpness and top Hessian eigenvalue of a saved run, cached in its folder. Returns a dict
    with `loss`, `perturbed_loss`, `sharpness`, `hessian_eigenvalue`, the settings and `seconds`."""
    def measure(model, x, y, settings):
        objective = Objective(model, x, y, batch_size=settings["batch_size"])  # traced once for both
        result = objective_sharpness(objective, settings["rho"], settings["steps"])
        top = objective_top_eigenvalue(objective, settings["iterations"], settings["seed"], 1e-3)
        return {**result, "hessian_eigenvalue": top["eigenvalue"], "power_iterations": top["iterations"]}

    return _measured(run, "sharpness", measure, data_dir, refresh, rho=rho, steps=steps, iterations=iterations,
                     batches=batches, batch_size=batch_size, seed=seed)


def run_landscape(run, *, dims=1, points=None, span=None, batches=None, batch_size=None, seed=None,
                  data_dir=None, refresh=False):
    """The 1-D or 2-D filter-normalised loss landscape of a saved run, cached in its folder."""
    dims = check_choice("dims", int(dims) if str(dims).isdigit() else dims, (1, 2))

    def draw(model, x, y, settings):
        along = landscape_1d if dims == 1 else landscape_2d
        return along(model, x, y, points=settings["points"], span=settings["span"], seed=settings["seed"],
                     batch_size=settings["batch_size"])

    return _measured(run, f"landscape{dims}d", draw, data_dir, refresh, points=points, span=span, batches=batches,
                     batch_size=batch_size, seed=seed)


def _measured(run, kind, measure, data_dir, refresh, **settings):
    """`measure(model, x, y, settings)` on a private copy of the run's model and its fixed training
    images, unless the result is cached; the result is stored in the run folder."""
    settings = _full_settings(kind, settings)
    if not refresh:
        found = cached(run, kind, **settings)
        if found:
            return found
    started = time.time()
    model = _load_private_model(run)
    x, y = fixed_batches(run, batches=settings["batches"], batch_size=settings["batch_size"],
                         seed=settings["seed"], data_dir=data_dir)
    return _finish(run, kind, settings, measure(model, x, y, settings), started, len(x))


def _finish(run, kind, settings, result, started, images):
    result = {**result, "settings": settings, "images": images, "run": run.id,
              "seconds": round(time.time() - started, 2), "model_mtime": _model_mtime(run),
              "computed_at": now()}
    try:
        _store(run, kind, settings, result)
    except OSError:
        pass  # a read-only runs folder still gets its numbers, only not remembered
    return result


