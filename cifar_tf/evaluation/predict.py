"""Class probabilities from a saved model, for arrays of images or for image files.

Models take uint8-range images of shape (32, 32, 3), rescale them themselves and end with a
softmax over the ten CIFAR-10 classes. Keras is imported inside the functions that need it, so
importing this module stays cheap.
"""
import os
import threading
from pathlib import Path

import numpy as np

from .. import CLASS_NAMES, IMAGE_SHAPE, NUM_CLASSES
from ..data.images import UnusableImage, open_image, to_model_input
from ..runs.files import check_regular
from ..runs.store import MODEL_MAX_BYTES
from ..validation import check_int
from . import tta as augmentation

# Keras models are not safe to call from several threads at once (the app serves each browser
# session on its own thread), so predictions take turns.
_PREDICT_LOCK = threading.Lock()


def load_model(path):
    """Load a saved `.keras` (or `.h5`) model for inference; raise ValueError naming the file.

    Only a regular file is opened (not a link out of a run folder); Keras' safe mode refuses any
    model that would run code (Lambda layers, custom objects)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file not found: {path}")
    try:
        check_regular(path, MODEL_MAX_BYTES)
    except OSError as error:
        raise ValueError(f"could not load model {path}: {error}") from None
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises ValueError, OSError, TypeError... depending on the file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"could not load model {path}: {reason}") from exc


def predict_proba(model, images, *, tta=False, batch_size=256):
    """Return float32 class probabilities of shape (N, 10) for uint8 images of shape (N, 32, 32, 3).

    With `tta`, each row averages the views of `cifar_tf.evaluation.tta` (the lab's one test-time
    augmentation) of its image.
    """
    images = np.asarray(images)
    if images.shape[1:] != IMAGE_SHAPE or images.dtype != np.uint8:
        raise ValueError(f"images must be a uint8 array of shape (N, *{IMAGE_SHAPE}), "
                         f"got {images.dtype} of shape {images.shape}")
    batch_size = check_int("batch_size", batch_size, low=1)
    with _PREDICT_LOCK:
        if tta:
            return augmentation.predict_proba(model, images)
        probabilities = _predict_in_batches(model, images, batch_size)
    return probabilities.astype(np.float32, copy=False)


def top_k(probabilities_row, k=3, class_names=CLASS_NAMES):
    """Return the `k` most probable `(class_name, probability)` pairs, most probable first."""
    k = check_int("k", k, low=1, high=len(class_names))
    return _most_probable(probabilities_row, k, class_names)


def predict_files(model, paths, *, top_k=3, tta=False):
    """Predict each image file; return one dict per file, in order.

    A usable file gives `{"file", "top_k": [{"class", "probability"}, ...], "error": None}`;
    an unusable one gives `{"file", "error": message}` and does not stop the others.
    """
    k = check_int("top_k", top_k, low=1, high=NUM_CLASSES)
    results, inputs, usable = [], [], []
    for source in paths:
        name = _source_name(source)
        try:
            inputs.append(to_model_input(open_image(source)))
        except UnusableImage as exc:
            results.append({"file": name, "error": str(exc)})
            continue
        usable.append(len(results))
        results.append({"file": name, "top_k": None, "error": None})

    if inputs:  # one batched prediction for all files is much faster than one call per file
        probabilities = predict_proba(model, np.stack(inputs), tta=tta)
        for index, row in zip(usable, probabilities):
            ranked = _most_probable(row, k, CLASS_NAMES)
            results[index]["top_k"] = [{"class": class_name, "probability": probability}
                                       for class_name, probability in ranked]
    return results


def _source_name(source):
    """A path as given, or an uploaded file's name."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", None) or str(source)


def _predict_in_batches(model, images, batch_size):
    # predict_on_batch skips model.predict's per-call setup and progress bar: much faster for
    # the handful of images the app predicts at a time.
    batches = [np.asarray(model.predict_on_batch(images[i:i + batch_size].astype(np.float32)))
               for i in range(0, len(images), batch_size)]
    return np.concatenate(batches) if batches else np.empty((0, NUM_CLASSES), np.float32)


def _most_probable(probabilities_row, k, class_names):
    row = np.asarray(probabilities_row, dtype=np.float64).reshape(-1)
    if len(row) != len(class_names):
        raise ValueError(f"expected {len(class_names)} probabilities, got {len(row)}")
    order = np.argsort(-row, kind="stable")[:k]  # stable: ties keep the class order
    return [(class_names[i], float(row[i])) for i in order]


class ModelCache:
    """Loaded models by file, shared by every session: loaded once, reloaded when the file
    changes, released when its run is deleted. Thread-safe."""

    def __init__(self, max_models=4):
        self.max_models = max_models
        self._models = {}  # path → (mtime, model), oldest first
        self._lock = threading.Lock()

    def get(self, path):
        path = str(path)
        mtime = os.path.getmtime(path)
        with self._lock:
            cached = self._models.pop(path, None)
            if cached is None or cached[0] != mtime:
                cached = (mtime, load_model(path))
            self._models[path] = cached
            while len(self._models) > self.max_models:
                self._models.pop(next(iter(self._models)))
            return cached[1]

    def release(self, folder):
        """Forget every model stored under `folder` (a run being deleted)."""
        folder = str(folder).rstrip(os.sep) + os.sep
        with self._lock:
            for path in [p for p in self._models if p.startswith(folder)]:
                del self._models[path]

    def __len__(self):
        return len(self._models)


def predict_uploads(model, uploads, *, tta=False):
    """Probabilities (N, 10) for the usable uploads, in order; one batched prediction."""
    usable = [u.model_input for u in uploads if u.error is None]
    if not usable:
        return np.empty((0, len(CLASS_NAMES)), np.float32)
    return predict_proba(model, np.stack(usable), tta=tta)


def label_predictions(probabilities, labels, class_names=CLASS_NAMES):
    """One dict per image: true and predicted class, the predicted class' probability, correct."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels).reshape(-1)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(f"expected one row of probabilities per label ({len(labels)}), "
                         f"got shape {probabilities.shape}")
    predicted = probabilities.argmax(axis=1) if len(labels) else np.empty(0, int)
    return [{"true": class_names[int(t)], "predicted": class_names[int(p)],
             "probability": float(row[p]), "correct": bool(t == p)}
            for t, p, row in zip(labels, predicted, probabilities)]
