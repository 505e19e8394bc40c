"""Calibration: reliability bins and ECE against hand-computed numbers, temperature scaling fitted on
the validation split, a trained run's report, the report section and `evaluate --calibration`."""
import json
import shutil

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from cifar_tf.data.cifar10 import load_cifar10, split_train_val
from cifar_tf.evaluation.calibration import (calibration_report, expected_calibration_error, fit_temperature,
                                             negative_log_likelihood, reliability_bins, run_calibration,
                                             scale_probabilities, validation_probabilities)
from cifar_tf.runs import store
from cifar_tf.views import calibration as view
from helpers import chart_rows


def two_class_rows(confidences, answers):
    """Rows over ten classes whose top class is `answers` with the given confidence."""
    rows = np.full((len(confidences), 10), 0.0)
    for i, (confidence, answer) in enumerate(zip(confidences, answers)):
        rows[i] = (1 - confidence) / 9
        rows[i, answer] = confidence
    return rows


def test_ece_matches_a_hand_computed_case():
    # Bin (0.9, 1]: confidences 0.95 and 0.95, one right → |0.5 − 0.95| = 0.45, weight 2/4.
    # Bin (0.6, 0.7]: confidences 0.65 and 0.65, both right → |1 − 0.65| = 0.35, weight 2/4.
    probabilities = two_class_rows([0.95, 0.95, 0.65, 0.65], [0, 1, 2, 3])
    labels = [0, 2, 2, 3]
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.5 * 0.45 + 0.5 * 0.35)
    bins = reliability_bins(probabilities, labels)
    assert [b["count"] for b in bins] == [0, 0, 0, 0, 0, 0, 2, 0, 0, 2]
    assert bins[9]["accuracy"] == 0.5 and bins[9]["confidence"] == pytest.approx(0.95)
    assert bins[6]["accuracy"] == 1.0 and bins[0]["accuracy"] is None
    assert negative_log_likelihood(probabilities, labels) == pytest.approx(
        -np.mean(np.log([0.95, 0.05 / 9, 0.65, 0.65])))


def test_a_model_calibrated_by_construction_has_an_ece_near_zero():
    rng = np.random.default_rng(0)
    n = 40_000
    confidence = rng.uniform(0.2, 1.0, n)
    answers = rng.integers(0, 10, n)
    right = rng.uniform(size=n) < confidence          # right exactly as often as it is sure
    labels = np.where(right, answers, (answers + rng.integers(1, 10, n)) % 10)
    probabilities = two_class_rows(confidence, answers)
    assert expected_calibration_error(probabilities, labels) < 0.01


def test_bins_agree_with_scikit_learn():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(500, 10)) * 2
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 10, 500)
    correct = probabilities.argmax(1) == labels
    accuracy, confidence = calibration_curve(correct, probabilities.max(1), n_bins=10, strategy="uniform")
    filled = [b for b in reliability_bins(probabilities, labels) if b["count"]]
    assert [b["accuracy"] for b in filled] == pytest.approx(list(accuracy))
    assert [b["confidence"] for b in filled] == pytest.approx(list(confidence))


def overconfident(n, seed, sharpness=4.0):
    """Predictions right about 60 % of the time, with sharpened (over-confident) probabilities."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    logits = rng.normal(size=(n, 10))
    logits[np.arange(n), labels] += 1.5
    logits *= sharpness
    return np.exp(logits) / np.exp(logits).sum(1, keepdims=True), labels


def test_temperature_scaling_lowers_the_loss_of_an_overconfident_model_and_keeps_its_answers():
    val, val_labels = overconfident(3000, seed=0)
    test, test_labels = overconfident(3000, seed=1)
    temperature = fit_temperature(val, val_labels)
    assert temperature > 2                               # softened: it was sharpened four times
    scaled = scale_probabilities(test, temperature)
    assert negative_log_likelihood(scaled, test_labels) < negative_log_likelihood(test, test_labels) - 0.2
    assert expected_calibration_error(scaled, test_labels) < expected_calibration_error(test, test_labels) / 2
    assert (scaled.argmax(1) == test.argmax(1)).all()
    assert np.allclose(scaled.sum(1), 1)


def test_the_temperature_comes_from_the_validation_predictions_not_the_test_set():
    val, val_labels = overconfident(2000, seed=0, sharpness=2.0)
    test, test_labels = overconfident(2000, seed=1, sharpness=6.0)
    report = calibration_report(test, test_labels, val_probabilities=val, val_labels=val_labels)
    assert report["temperature"] == pytest.approx(fit_temperature(val, val_labels), rel=1e-3)
    assert report["temperature"] != pytest.approx(fit_temperature(test, test_labels), rel=0.1)
    assert report["validation_images"] == 2000
    assert report["after"]["accuracy"] == report["before"]["accuracy"]
    assert report["validation_nll"]["after"] <= report["validation_nll"]["before"]
    assert [row["class"] for row in report["per_class"]][:2] == ["airplane", "automobile"]
    assert sum(row["answers"] for row in report["per_class"]) == 2000
    json.dumps(report)                                   # JSON-ready


def test_without_validation_predictions_the_report_says_why():
    test, labels = overconfident(200, seed=3)
    report = calibration_report(test, labels, unavailable="no validation split")
    assert report["temperature"] is None and report["after"] is None
    assert report["unavailable"] == "no validation split"
    assert "not available" in view.unavailable_message(report) and "no validation split" in view.unavailable_message(report)
    assert all(row["ece_after"] is None for row in report["per_class"])


def test_a_trained_run_is_calibrated_on_its_own_validation_split(trained_runs, cifar_dir):
    run = next(r for r in store.list_runs(trained_runs)[0] if r.name == "baseline")
    dataset = load_cifar10(cifar_dir)
    probabilities, labels = validation_probabilities(run, dataset)
    _, _, _, y_val = split_train_val(dataset.x_train, dataset.y_train, val_size=100, seed=0)
    assert probabilities.shape == (100, 10) and (labels == y_val).all()  # the split training held out
    report = run_calibration(run, dataset)
    assert report["count"] == len(dataset.y_test) and report["validation_images"] == 100
    assert report["temperature"] > 0 and report["after"]["ece"] is not None
    assert 0 <= report["before"]["ece"] <= 1


def test_a_run_without_a_validation_split_gets_no_temperature(trained_runs, cifar_dir, tmp_path):
    folder = tmp_path / "runs"
    shutil.copytree(trained_runs, folder)
    run = next(r for r in store.list_runs(folder)[0] if r.name == "baseline")
    run.update(val_size=0, config={**run.record["config"], "val_size": 0})
    report = run_calibration(store.load_run(run.id, folder), load_cifar10(cifar_dir))
    assert report["temperature"] is None and "val_size 0" in report["unavailable"]
    assert report["before"]["ece"] is not None


def test_the_chart_and_tables_show_both_series_and_every_class():
    val, val_labels = overconfident(1000, seed=0)
    test, labels = overconfident(1000, seed=1)
    report = calibration_report(test, labels, val_probabilities=val, val_labels=val_labels)
    rows = chart_rows(view.reliability_chart(report))
    assert {row.get("series") for row in rows} >= {"as trained", view.temperature_label(report)}
    assert {"x": 1.0, "y": 1.0} in rows                  # the diagonal
    table = view.class_table(report)
    assert len(table) == 10 and list(table.columns) == view.CLASS_COLUMNS
    assert "over-confident" in view.verdict(report) and "temperature" in view.verdict(report).lower()


def test_the_report_section_is_escaped_and_self_contained():
    test, labels = overconfident(300, seed=2)
    report = calibration_report(test, labels, class_names=["<b>cat</b>"] + [f"c{i}" for i in range(9)],
                                unavailable="held out <none>")
    html = view.report_fragment(report)
    assert "<b>cat</b>" not in html and "&lt;b&gt;cat&lt;/b&gt;" in html and "held out &lt;none&gt;" in html
    assert html.startswith("<h2>Calibration</h2>") and html.count("<svg") == 1 and "http" not in html.replace(
        "http://www.w3.org/2000/svg", "")
    assert "could not be measured" in view.report_fragment("Calibration could not be measured: <x>").lower()


def test_evaluate_calibration_json_on_the_command_line(trained_runs, cifar_dir, capsys):
    from cifar_tf.cli import main

    run = next(r for r in store.list_runs(trained_runs)[0] if r.name == "baseline")
    assert main(["evaluate", run.id, "--calibration", "--json", "--runs-dir", str(trained_runs),
                 "--data-dir", str(cifar_dir)]) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["accuracy"] == run.evaluation()["accuracy"]
    calibration = output["calibration"]
    assert len(calibration["before"]["bins"]) == 10 and calibration["validation_images"] == 100
    assert calibration["temperature"] > 0 and len(calibration["per_class"]) == 10
    assert main(["evaluate", run.id, "--calibration", "--bins", "0", "--runs-dir", str(trained_runs),
                 "--data-dir", str(cifar_dir)]) == 2
    assert "--bins" in capsys.readouterr().err
