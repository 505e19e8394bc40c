"""Scores of a model's test-set probabilities: the numbers, the per-class report, the confusions."""
import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, f1_score, log_loss, top_k_accuracy_score

from .. import CLASS_NAMES


def evaluate_probabilities(probabilities, labels, class_names=CLASS_NAMES):
    """Everything the Evaluate page and `cifar_tf evaluate` show, as plain JSON-ready values."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels).astype(int).ravel()
    if probabilities.ndim != 2 or len(probabilities) != len(labels) or len(labels) == 0:
        raise ValueError(f"probabilities of shape {probabilities.shape} do not match {len(labels)} labels")
    classes = list(range(len(class_names)))
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, labels=classes)
    report = classification_report(labels, predicted, labels=classes, target_names=list(class_names),
                                   output_dict=True, zero_division=0)
    support = matrix.sum(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    return {
        "accuracy": float((predicted == labels).mean()),
        "loss": _log_loss(probabilities, labels, classes),
        "weighted_f1": float(f1_score(labels, predicted, labels=classes, average="weighted", zero_division=0)),
        "top3_accuracy": float(top_k_accuracy_score(labels, probabilities, k=3, labels=classes)),
        "per_class_accuracy": {name: float(matrix[i, i] / support[i]) if support[i] else None
                               for i, name in enumerate(class_names)},
        "report": report,
        "confusion_matrix": matrix.tolist(),
        "class_names": list(class_names),
        "misclassified": wrong.tolist(),
        "count": int(len(labels)),
    }


def _log_loss(probabilities, labels, classes):
    """scikit-learn's log loss, the rows rescaled to sum to one first: a float32 softmax misses 1 by
    ~1e-7, which scikit-learn warns about in float64."""
    sums = probabilities.sum(axis=1, keepdims=True)
    return float(log_loss(labels, probabilities / np.where(sums > 0, sums, 1.0), labels=classes))


def most_confident_mistakes(probabilities, labels, k=16):
    """Indices of the k wrong predictions made with the highest confidence."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels).astype(int).ravel()
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence)][:k].tolist()


def most_confused_cell(matrix):
    """`(true_index, predicted_index)` of the most frequent mistake, or None if there is none."""
    matrix = np.array(matrix, dtype=np.int64)
    if matrix.ndim != 2 or matrix.size == 0:
        return None
    np.fill_diagonal(matrix, -1)
    true, predicted = np.unravel_index(int(np.argmax(matrix)), matrix.shape)
    return (int(true), int(predicted)) if matrix[true, predicted] > 0 else None


def cell_examples(probabilities, labels, true_class, predicted_class, limit=24):
    """`(indices, total)`: the test images of one confusion-matrix cell, the most confidently
    predicted first, at most `limit` of them, and how many the cell holds in all."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels).astype(int).ravel()
    predicted = probabilities.argmax(axis=1)
    indices = np.flatnonzero((labels == true_class) & (predicted == predicted_class))
    confidence = probabilities[indices, predicted_class]
    ordered = indices[np.argsort(-confidence, kind="stable")]
    return ordered[:limit].tolist(), int(len(indices))
