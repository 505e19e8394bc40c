"""The leaderboard: each student's best finished run under the current challenge, best first.

Only runs the challenge admitted count (they carry its id); without a challenge, every run a
student owns does. The teacher's runs never rank. Ties go to the shorter training, then to the
earlier finish.
"""
from ..runs.store import FINISHED_STATUSES
from .challenge import in_challenge
from .roles import owner_name, owner_of

COLUMNS = ["rank", "student", "test accuracy", "training time (s)", "params", "arch", "run", "runs", "id"]


def leaderboard(runs, challenge, names, teacher_seats=()):
    """One row per student (dicts keyed by COLUMNS), best first. `names`: seat key → name today."""
    best, counts = {}, {}
    for run in runs:
        owner = owner_of(run)
        accuracy = _number((run.record.get("metrics") or {}).get("test_accuracy"))
        if owner is None or owner["seat"] in teacher_seats or run.status not in FINISHED_STATUSES \
                or accuracy is None or (challenge is not None and not in_challenge(run, challenge)):
            continue
        seat = owner["seat"]
        counts[seat] = counts.get(seat, 0) + 1
        if seat not in best or _order(run) < _order(best[seat]):
            best[seat] = run
    ranked = sorted(best.values(), key=_order)
    return [{"rank": rank, "student": owner_name(run, names), "test accuracy": _score(run),
             "training time (s)": _number((run.record.get("metrics") or {}).get("train_seconds")),
             "params": _number(run.record.get("params")), "arch": run.record.get("arch"), "run": run.name,
             "runs": counts[owner_of(run)["seat"]], "id": run.id}
            for rank, run in enumerate(ranked, start=1)]


def _score(run):
    return _number((run.record.get("metrics") or {}).get("test_accuracy"))


def _order(run):
    seconds = _number((run.record.get("metrics") or {}).get("train_seconds"))
    return (-_score(run), seconds if seconds is not None else float("inf"), str(run.record.get("finished_at") or ""))


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)
