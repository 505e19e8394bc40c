"""What a finished run leaves behind, read and checked: its evaluation and its test-set probabilities."""
import numpy as np

from .store import PROBABILITIES_FILE


def read_evaluation(run, *, missing_ok=True, corrupt_ok=False):
    """A run's evaluation.json as a dict; None if it has none. A damaged file raises ValueError
    (or gives None with `corrupt_ok`)."""
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
    if not isinstance(evaluation.get("report"), dict):
        return "no per-class report"
    return None


def load_probabilities(run, count=None):
    """A run's test-set probabilities (N, 10) as float32; ValueError if missing or not matching
    `count` test images."""
    path = run.file(PROBABILITIES_FILE)
    if not path.exists():
        raise ValueError(f"run {run.id} has no saved test-set probabilities")
    try:
        probabilities = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"the test-set probabilities of run {run.id} cannot be read ({error})") from None
    if probabilities.ndim != 2:
        raise ValueError(f"the test-set probabilities of run {run.id} have shape {probabilities.shape}")
    if count is not None and len(probabilities) != count:
        raise ValueError(f"run {run.id} was evaluated on {len(probabilities):,} test images but the "
                         f"dataset here has {count:,}: it was trained on another copy of the data")
    return probabilities.astype(np.float32)
