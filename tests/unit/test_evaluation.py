import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss

from cifar_tf.evaluation.metrics import cell_examples, evaluate_probabilities, most_confident_mistakes


@pytest.fixture
def predictions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 300)
    logits = rng.normal(size=(300, 10))
    logits[np.arange(300), labels] += 1.5  # better than chance, far from perfect
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probabilities, labels


def test_numbers_match_scikit_learn(predictions):
    probabilities, labels = predictions
    result = evaluate_probabilities(probabilities, labels)
    predicted = probabilities.argmax(1)
    assert result["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert result["weighted_f1"] == pytest.approx(f1_score(labels, predicted, average="weighted"))
    assert result["loss"] == pytest.approx(log_loss(labels, probabilities, labels=range(10)), rel=1e-6)
    assert result["confusion_matrix"] == confusion_matrix(labels, predicted, labels=range(10)).tolist()
    top3 = np.mean([label in np.argsort(-p)[:3] for p, label in zip(probabilities, labels)])
    assert result["top3_accuracy"] == pytest.approx(top3)
    assert sorted(result["misclassified"]) == np.flatnonzero(predicted != labels).tolist()
    assert result["report"]["cat"]["support"] == (labels == 3).sum()
    assert 0 < result["accuracy"] < 1


def test_mistakes_and_cells(predictions):
    probabilities, labels = predictions
    worst = most_confident_mistakes(probabilities, labels, k=5)
    predicted = probabilities.argmax(1)
    assert all(predicted[i] != labels[i] for i in worst)
    confidences = [probabilities[i, predicted[i]] for i in worst]
    assert confidences == sorted(confidences, reverse=True)
    cell, total = cell_examples(probabilities, labels, 3, 5, limit=len(labels))
    assert all(labels[i] == 3 and predicted[i] == 5 for i in cell)
    assert len(cell) == total == evaluate_probabilities(probabilities, labels)["confusion_matrix"][3][5]


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="do not match"):
        evaluate_probabilities(np.ones((3, 10)) / 10, [1, 2])
