"""Whether a model's confidence means what it says: reliability diagrams, expected calibration error
(ECE) and temperature scaling.

A model is calibrated when, of the images it answers with 90 % confidence, 90 % are right. The
reliability diagram sorts the test images into bins of confidence (the probability of the answer,
the top class) and sets each bin's accuracy against its mean confidence; ECE is the gap averaged
over the bins, weighted by how many images each holds (Guo et al. 2017, "On Calibration of Modern
Neural Networks"). Temperature scaling divides the logits by one number T fitted to minimise the
negative log-likelihood on the validation split, never the test set: T > 1 softens an over-confident
model. It never changes an answer, so accuracy stays as it was.

Runs save their test-set probabilities but not the validation split's: those are predicted again
with the run's model on the split rebuilt from its config (`val_size`, `seed`, as training made it),
and kept in memory per model file for the next caller.
"""
import threading

import numpy as np

from .. import CLASS_NAMES
from ..data.cifar10 import split_train_val, stratified_subset
from ..runs.outputs import load_probabilities
from ..validation import Limit, check_int

DEFAULT_BINS = 10
BINS = Limit(int, 1, 100)   # the reliability diagram's bins: the check's and the command line's
# One number is fitted: 2,000 validation images pin it down as well as 5,000, in 2/5 of the time.
VALIDATION_IMAGES = 2000
TEMPERATURE_BOUNDS = (0.05, 20.0)
_EPSILON = 1e-12


# --------------------------------------------------------------------------- the measures

def _checked(probabilities, labels):
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels).astype(int).ravel()
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(f"probabilities of shape {probabilities.shape} do not match {len(labels)} labels")
    return probabilities, labels


def reliability_bins(probabilities, labels, n_bins=DEFAULT_BINS):
    """One dict per equal-width bin of top-class confidence, (lower, upper] (the first bin also
    holds 0): `lower`, `upper`, `count`, `confidence` (mean) and `accuracy`, both None when empty."""
    probabilities, labels = _checked(probabilities, labels)
    n_bins = BINS.check("bins", n_bins)
    confidence = probabilities.max(axis=1) if len(labels) else np.empty(0)
    correct = probabilities.argmax(axis=1) == labels if len(labels) else np.empty(0, bool)
    index = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        inside = index == b
        count = int(inside.sum())
        bins.append({"lower": b / n_bins, "upper": (b + 1) / n_bins, "count": count,
                     "confidence": float(confidence[inside].mean()) if count else None,
                     "accuracy": float(correct[inside].mean()) if count else None})
    return bins


def expected_calibration_error(probabilities, labels, n_bins=DEFAULT_BINS):
    """ECE: the mean over bins of |accuracy − confidence|, weighted by the share of images in each."""
    bins = reliability_bins(probabilities, labels, n_bins)
    total = sum(b["count"] for b in bins)
    if not total:
        return None
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]))


def negative_log_likelihood(probabilities, labels):
    """Mean cross-entropy of the true classes (the test loss)."""
    probabilities, labels = _checked(probabilities, labels)
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, _EPSILON, 1.0)).mean()) + 0.0   # never -0.0


def scale_probabilities(probabilities, temperature):
    """`softmax(log(p) / T)`: the log-probabilities are the logits up to a constant per image,
    which softmax ignores, so this is temperature scaling of the model's logits."""
    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), _EPSILON, 1.0)) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(probabilities, labels, bounds=TEMPERATURE_BOUNDS):
    """The temperature T in `bounds` that minimises the negative log-likelihood of `labels` (a
    bounded scalar search over log T, scipy.optimize). Pass validation predictions, never the test set's."""
    from scipy.optimize import minimize_scalar

    probabilities, labels = _checked(probabilities, labels)
    if not len(labels):
        raise ValueError("no predictions to fit a temperature on")
    log_p = np.log(np.clip(probabilities, _EPSILON, 1.0))
    rows = np.arange(len(labels))

    def nll(log_t):
        logits = log_p / np.exp(log_t)
        logits -= logits.max(axis=1, keepdims=True)
        return float(-(logits[rows, labels] - np.log(np.exp(logits).sum(axis=1))).mean())

    low, high = np.log(bounds[0]), np.log(bounds[1])
    found = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(found.x))


def _summary(probabilities, labels, n_bins):
    confidence = probabilities.max(axis=1)
    return {"ece": expected_calibration_error(probabilities, labels, n_bins),
            "nll": negative_log_likelihood(probabilities, labels),
            "accuracy": float((probabilities.argmax(axis=1) == labels).mean()),
            "mean_confidence": float(confidence.mean()),
            "bins": reliability_bins(probabilities, labels, n_bins)}


def calibration_report(probabilities, labels, *, val_probabilities=None, val_labels=None,
                       class_names=CLASS_NAMES, n_bins=DEFAULT_BINS, unavailable=None):
    """Everything the Evaluate page, the report and `evaluate --calibration` show, JSON-ready.

    `before` (and `after`, once a temperature is fitted on the validation predictions) hold ECE, NLL,
    accuracy, mean confidence and the reliability bins of the test set. `per_class` groups the test
    images by the class the model answered: how often, how sure, how often right, and ECE before and
    after. Without validation predictions, `temperature` is None and `unavailable` says why."""
    probabilities, labels = _checked(probabilities, labels)
    if not len(labels):
        raise ValueError("no test predictions to measure calibration on")
    report = {"bins": n_bins, "count": int(len(labels)), "before": _summary(probabilities, labels, n_bins),
              "temperature": None, "after": None, "validation_images": 0, "unavailable": unavailable}
    scaled = None
    if val_probabilities is not None and val_labels is not None and len(val_labels):
        val_probabilities, val_labels = _checked(val_probabilities, val_labels)
        temperature = fit_temperature(val_probabilities, val_labels)
        scaled = scale_probabilities(probabilities, temperature)
        report.update(temperature=temperature, after=_summary(scaled, labels, n_bins), unavailable=None,
                      validation_images=int(len(val_labels)),
                      validation_nll={"before": negative_log_likelihood(val_probabilities, val_labels),
                                      "after": negative_log_likelihood(scale_probabilities(val_probabilities,
                                                                                           temperature), val_labels)})
    elif unavailable is None:
        report["unavailable"] = "no validation predictions were given"
    answered = probabilities.argmax(axis=1)
    rows = []
    for index, name in enumerate(class_names):
        mine = answered == index
        count = int(mine.sum())
        rows.append({"class": name, "answers": count,
                     "confidence": float(probabilities[mine].max(axis=1).mean()) if count else None,
                     "accuracy": float((labels[mine] == index).mean()) if count else None,
                     "ece": expected_calibration_error(probabilities[mine], labels[mine], n_bins) if count else None,
                     "ece_after": (expected_calibration_error(scaled[mine], labels[mine], n_bins)
                                   if count and scaled is not None else None)})
    report["per_class"] = rows
    return report


# --------------------------------------------------------------------------- a run's predictions

def validation_split(run, dataset):
    """The validation images and labels `run` was trained against, rebuilt from its config's
    `val_size` and `seed` exactly as training split them. ValueError (saying why) when the run
    held none out, or when the split here does not match the one it recorded."""
    _check_held_out(run)
    config = _config(run)
    val_size, seed = config.get("val_size"), config.get("seed", 0)
    _, _, x_val, y_val = split_train_val(dataset.x_train, dataset.y_train, val_size=val_size, seed=seed)
    recorded = run.record.get("val_size")
    if isinstance(recorded, int) and recorded != len(y_val):
        raise ValueError(f"this run held out {recorded:,} validation images, but its split rebuilt from the "
                         f"dataset here has {len(y_val):,}: it was trained on another copy of the data")
    return x_val, y_val


def _config(run):
    return run.record.get("config") if isinstance(run.record.get("config"), dict) else {}


def _check_held_out(run):
    if _config(run).get("val_size") == 0 or run.record.get("val_size") == 0:
        raise ValueError("this run held out no validation images (val_size 0), and a temperature fitted on "
                         "the test set would be graded on its own answers")


class _Cache:
    """A few arrays by key, shared by the threads of one process (the app's sessions)."""

    def __init__(self, size=16):
        self.size, self._items, self._lock = size, {}, threading.Lock()

    def get(self, key, make):
        with self._lock:
            if key in self._items:
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.pop(next(iter(self._items)))
        return value


_VALIDATION = _Cache()


def validation_probabilities(run, dataset, model=None, max_images=VALIDATION_IMAGES):
    """`(probabilities, labels)` of the run's model on its validation split (see `validation_split`),
    at most `max_images` of them (classes in proportion; None: all), remembered per model file and
    dataset. `model` saves loading it again."""
    from .predict import load_model, predict_proba

    _check_held_out(run)
    if not run.model_path.is_file():
        raise ValueError("this run has no saved model to predict its validation images with")
    x_val, y_val = validation_split(run, dataset)
    seed = _config(run).get("seed", 0)
    if max_images is not None:
        x_val, y_val = stratified_subset(x_val, y_val, check_int("max_images", max_images, low=1), seed=seed)
    key = (str(run.model_path), run.model_path.stat().st_mtime_ns, str(dataset.path), len(y_val), seed)
    probabilities = _VALIDATION.get(key, lambda: predict_proba(model or load_model(run.model_path), x_val))
    return probabilities, y_val


def run_calibration(run, dataset, *, model=None, n_bins=DEFAULT_BINS, temperature=True,
                    max_validation=VALIDATION_IMAGES):
    """`calibration_report` of an evaluated run on `dataset` (the copy of CIFAR-10 it was trained
    on): its saved test probabilities, and with `temperature` a temperature fitted on its validation
    split. When that cannot be fitted, `unavailable` says why. ValueError without test probabilities."""
    probabilities = load_probabilities(run, count=len(dataset.y_test))
    val, unavailable = (None, None), None
    if not temperature:
        unavailable = "not computed (pass temperature=True)"
    else:
        try:
            val = validation_probabilities(run, dataset, model, max_validation)
        except (ValueError, OSError) as error:
            unavailable = str(error)
    class_names = list(getattr(dataset, "class_names", CLASS_NAMES))
    report = calibration_report(probabilities, dataset.y_test, val_probabilities=val[0], val_labels=val[1],
                                class_names=class_names, n_bins=n_bins, unavailable=unavailable)
    if report["temperature"] is not None and run.record.get("test_time_augmentation"):
        report["note"] = ("its test probabilities average several views of each image (test-time augmentation); "
                          "the temperature was fitted on single-view validation predictions")
    return report
