"""What a finished run leaves behind, read and checked: its evaluation and its test-set probabilities."""
import io

import numpy as np

from .files import MiB, read_regular
from .store import FINISHED_STATUSES, PROBABILITIES_FILE

PROBABILITIES_MAX_BYTES = 64 * MiB


def read_evaluation(run, *, missing_ok=True, corrupt_ok=False):
    """A finished run's evaluation.json as a dict; None if it has none (a failed or unfinished run
    has none, whatever its folder holds). A damaged file raises ValueError (or gives None with
    `corrupt_ok`)."""
    if run.status not in FINISHED_STATUSES:
        if missing_ok:
            return None
        raise ValueError(f"run {run.id} is {run.status}: it has no evaluation")
    try:
        evaluation = run.evaluation()
    except (OSError, ValueError) as error:
        if corrupt_ok:
            return None
        raise ValueError(f"the evaluation of run {run.id} cannot be read ({error})") from None
    if evaluation is None:
        if missing_ok:
            return None
        raise ValueError(f"run {run.id} has no evaluation")
    problem = _evaluation_problem(evaluation)
    if problem:
        if corrupt_ok:
            return None
        raise ValueError(f"the evaluation of run {run.id} is malformed ({problem})")
    return evaluation


_EVALUATION_NUMBERS = ("accuracy", "loss", "weighted_f1", "top3_accuracy")


def _evaluation_problem(evaluation):
    if not isinstance(evaluation, dict):
        return "not a JSON object"
    missing = [key for key in _EVALUATION_NUMBERS if not isinstance(evaluation.get(key), (int, float))]
    if missing:
        return "no " + ", ".join(missing)
    names, matrix = evaluation.get("class_names"), evaluation.get("confusion_matrix")
    if not isinstance(names, list) or not names:
        return "no class names"
    if not isinstance(matrix, list) or len(matrix) != len(names) \
            or not all(isinstance(row, list) and len(row) == len(names) for row in matrix):
        return "the confusion matrix does not match the classes"
    if not all(isinstance(count, int) and not isinstance(count, bool) for row in matrix for count in row):
        return "the confusion matrix holds something other than counts"
    report = evaluation.get("report")
    if not isinstance(report, dict) or not all(
            isinstance(scores, (dict, int, float)) and not isinstance(scores, bool) for scores in report.values()):
        return "no per-class report"
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for scores in report.values()
               if isinstance(scores, dict) for v in scores.values()):
        return "the per-class report holds something other than numbers"
    per_class = evaluation.get("per_class_accuracy", {})
    if not isinstance(per_class, dict) or not all(v is None or isinstance(v, (int, float)) for v in per_class.values()):
        return "the per-class accuracy holds something other than numbers"
    return None


def load_probabilities(run, count=None):
    """A run's test-set probabilities (N, 10) as float32; ValueError if missing or not matching
    `count` test images."""
    try:
        data = read_regular(run.file(PROBABILITIES_FILE), PROBABILITIES_MAX_BYTES, missing_ok=True)
        probabilities = None if data is None else np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"the test-set probabilities of run {run.id} cannot be read ({error})") from None
    if probabilities is None:
        raise ValueError(f"run {run.id} has no saved test-set probabilities")
    if probabilities.ndim != 2:
        raise ValueError(f"the test-set probabilities of run {run.id} have shape {probabilities.shape}")
    if count is not None and len(probabilities) != count:
        raise ValueError(f"run {run.id} was evaluated on {len(probabilities):,} test images but the "
                         f"dataset here has {count:,}: it was trained on another copy of the data")
    return probabilities.astype(np.float32)
