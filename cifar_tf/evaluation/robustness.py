"""How a run's model holds up on corrupted test images: accuracy against severity, per corruption
and per class (the corruptions are `corruptions.CORRUPTIONS`).

A stratified subset of the test set (1,000 images by default: 100 a class) is corrupted by each
corruption at each severity and predicted; the clean subset is predicted too, as severity 0. The
subset, the corruptions and the predictions are all seeded: the same call gives the same numbers.
"""
import time

import numpy as np

from .. import CLASS_NAMES
from ..data.cifar10 import stratified_subset
from ..validation import check_int
from .corruptions import CORRUPTIONS, SEVERITIES, check_corruption, corrupt

DEFAULT_IMAGES = 1000


def _accuracies(predicted, labels, class_names):
    per_class = {}
    for index, name in enumerate(class_names):
        mine = labels == index
        per_class[name] = float((predicted[mine] == index).mean()) if mine.any() else None
    return float((predicted == labels).mean()), per_class


def evaluate_robustness(predict, images, labels, *, corruptions=None, severities=SEVERITIES, seed=0,
                        class_names=CLASS_NAMES, time_limit=None, progress=None):
    """Accuracy of `predict` (uint8 images (N, 32, 32, 3) → probabilities (N, 10)) on `images`
    clean and corrupted by each of `corruptions` (names; default all) at each of `severities`.

    Severities are the outer loop, so that a `time_limit` (seconds) that runs out leaves every
    corruption measured up to the same severity; `complete` then says False and `skipped` lists what
    was left. `progress(done, total, text)` is called after each step. JSON-ready dict."""
    labels = np.asarray(labels).astype(int).ravel()
    images = np.asarray(images)
    if len(images) != len(labels) or not len(labels):
        raise ValueError(f"{len(images)} images for {len(labels)} labels: need one label per image, and some images")
    corruptions = [check_corruption(name) for name in (corruptions or list(CORRUPTIONS))]
    severities = sorted({check_int("severity", s, low=1, high=len(SEVERITIES)) for s in severities})
    if not severities:
        raise ValueError("no severity to measure")
    class_names = list(class_names)
    steps = [(severity, name) for severity in severities for name in corruptions]
    started = time.monotonic()
    accuracy, per_class = _accuracies(np.asarray(predict(images)).argmax(axis=1), labels, class_names)
    results, skipped = [], []
    for done, (severity, name) in enumerate(steps):
        if time_limit is not None and time.monotonic() - started > time_limit:
            skipped = [{"corruption": n, "severity": s} for s, n in steps[done:]]
            break
        corrupted = corrupt(images, name, severity, seed=seed)
        score, scores = _accuracies(np.asarray(predict(corrupted)).argmax(axis=1), labels, class_names)
        results.append({"corruption": name, "label": CORRUPTIONS[name].label, "severity": severity,
                        "accuracy": score, "per_class": scores})
        if progress:
            progress(done + 1, len(steps), f"{CORRUPTIONS[name].label}, severity {severity}")
    summary = {}
    for name in corruptions:
        scores = [r["accuracy"] for r in results if r["corruption"] == name]
        summary[name] = {"label": CORRUPTIONS[name].label,
                         "mean_accuracy": float(np.mean(scores)) if scores else None,
                         "severities": [r["severity"] for r in results if r["corruption"] == name]}
    return {"images": int(len(labels)), "seed": seed, "class_names": class_names,
            "corruptions": corruptions, "severities": severities,
            "clean": {"accuracy": accuracy, "per_class": per_class},
            "results": results, "summary": summary, "complete": not skipped, "skipped": skipped,
            "seconds": round(time.monotonic() - started, 2)}


def robustness_images(dataset, images=DEFAULT_IMAGES, seed=0):
    """`(x, y)`: `images` test images, classes in proportion, drawn with `seed` (all if more)."""
    images = check_int("images", images, low=1)
    return stratified_subset(dataset.x_test, dataset.y_test, images, seed=seed)


def run_robustness(run, dataset, *, model=None, images=DEFAULT_IMAGES, corruptions=None, severities=SEVERITIES,
                   seed=0, time_limit=None, progress=None):
    """`evaluate_robustness` of a run's saved model (or `model`, already loaded) on `images` test
    images of `dataset`, with the run's id and name added. ValueError when it has no usable model."""
    from .predict import load_model, predict_proba

    if model is None:
        if not run.model_path.is_file():
            raise ValueError(f"run {run.id} has no saved model (status {run.status})")
        model = load_model(run.model_path)
    x, y = robustness_images(dataset, images, seed)
    result = evaluate_robustness(lambda batch: predict_proba(model, batch), x, y, corruptions=corruptions,
                                 severities=severities, seed=seed, class_names=dataset.class_names,
                                 time_limit=time_limit, progress=progress)
    return {"run": run.id, "name": run.name, **result}
