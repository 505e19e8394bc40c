"""What a search found: one row per trial (from KerasTuner's trials and the trials' runs), the best
trial, a summary for listings, and the best configuration to train fully."""
from ..runs import store as runs_store
from ..runs.files import read_json
from ..runs.progress import latest_step
from ..training.config import TrainConfig
from .space import OBJECTIVE, TUNER_LABELS


def trial_runs(search, runs=None):
    """The run folders of this search's trials, oldest first (from `runs` when already listed)."""
    found = runs if runs is not None else runs_store.list_runs(search.runs_dir)[0]
    mine = [r for r in found if (r.record.get("tags") or {}).get("search") == search.id]
    return sorted(mine, key=lambda r: str(r.record.get("created_at") or ""))


def read_oracle_trials(search):
    """KerasTuner's record of each trial (`tuner/trial_*/trial.json`), by trial id; each file is
    parsed once per change (a page refreshing a running search re-reads only the new ones)."""
    found = {}
    for path in search.project_dir.glob("trial_*/trial.json"):
        try:
            info = path.stat()
            signature = (info.st_ino, info.st_mtime_ns, info.st_size)
            cached = _TRIALS.get(str(path))
            if cached is None or cached[0] != signature:
                cached = (signature, read_json(path, runs_store.RECORD_MAX_BYTES))
                _TRIALS[str(path)] = cached
            data = cached[1]
        except (OSError, ValueError):
            continue  # being written right now, or damaged
        if isinstance(data, dict):
            found[str(data.get("trial_id"))] = data
    return found


_TRIALS = {}


def trials(search, runs=None):
    """One dict per trial, in trial order: values, status, epochs, progress, score and its run."""
    latest = {}
    for run in trial_runs(search, runs):  # oldest first: a trial rerun after a resume replaces its stopped run
        latest[run.record["tags"].get("trial")] = run
    rows = []
    for trial_id, data in sorted(read_oracle_trials(search).items()):
        values = (data.get("hyperparameters") or {}).get("values") or {}
        run = latest.get(trial_id)
        record = run.record if run else {}
        metrics = record.get("metrics") or {}
        epochs = (record.get("config") or {}).get("epochs") or values.get("tuner/epochs") or search.budget["epochs"]
        done = record.get("epochs_completed") or 0
        status = _trial_status(data.get("status"), run, search)
        message = (data.get("message") or record.get("error") or "").strip().splitlines()
        score = data.get("score")
        if score is None and run is not None:  # still training: the best validation accuracy so far
            scores = [e.get("val_accuracy") for e in run.epochs() if e.get("val_accuracy") is not None]
            score = metrics.get("best_val_accuracy") or (max(scores) if scores else None)
        rows.append({
            "trial": trial_id, "status": status,
            "values": {k: values[k] for k in search.space["hyperparameters"] if k in values},
            "epochs": epochs, "epochs_done": done, "progress": _progress(status, run, done, epochs),
            "score": score, "test_accuracy": metrics.get("test_accuracy"),
            "seconds": metrics.get("train_seconds"), "run": run.id if run else None,
            "message": message[-1] if message else None,
        })
    return rows


def flat_rows(rows):
    """Trial rows with each hyperparameter in a column of its own, for tables."""
    return [{"trial": r["trial"], "status": r["status"], **r["values"], "epochs": r["epochs"],
             "progress": r["progress"], OBJECTIVE: r["score"], "test_accuracy": r["test_accuracy"],
             "run": r["run"]} for r in rows]


def _trial_status(oracle_status, run, search):
    if oracle_status == "COMPLETED":
        return "completed"
    if oracle_status in ("FAILED", "INVALID"):
        return "failed"
    if run is not None and run.status in ("stopped", "failed"):
        return run.status
    # Interrupted trials are "running" for the oracle until a resumed search reruns them.
    return "running" if search.status == "running" else "stopped"


def _progress(status, run, done, epochs):
    if status == "completed":
        return 1.0
    if run is None:
        return 0.0
    total = run.record.get("total_steps")
    step = latest_step(run).get("step") if status == "running" else None
    if total and step:
        return min(1.0, step / total)
    return min(1.0, done / epochs) if epochs else 0.0


def best_trial(search, rows=None):
    """The completed trial with the best validation accuracy, or None."""
    scored = [r for r in (rows if rows is not None else trials(search))
              if r["status"] == "completed" and r["score"] is not None]
    if not scored:
        return None
    best = max(scored, key=lambda r: r["score"])
    return {"trial": best["trial"], OBJECTIVE: best["score"], "test_accuracy": best["test_accuracy"],
            "values": best["values"], "run": best["run"]}


def summary(search, runs=None):
    """One line about a search for listings: settings, status, trials finished, best score."""
    rows = trials(search, runs)
    best = best_trial(search, rows)
    return {"id": search.id, "name": search.name, "tuner": TUNER_LABELS[search.record["tuner"]],
            "space": search.record["space_name"], "status": search.status,
            "trials": f"{sum(r['status'] == 'completed' for r in rows)} / {search.budget['max_trials']}",
            "best_val_accuracy": best[OBJECTIVE] if best else None,
            "created": str(search.record.get("created_at") or "")[:16].replace("T", " ")}


def best_config(search, *, epochs=None, train_limit=0):
    """The best trial's configuration for a full training: every training image, more epochs.

    The validation images stay those the search scored its trials on.
    """
    best = best_trial(search)
    if best is None or best["run"] is None:
        raise LookupError(f"search {search.id} has no completed trial yet")
    config = runs_store.load_run(best["run"], search.runs_dir).record["config"]
    return TrainConfig.from_dict({**config, "epochs": epochs or search.space["epochs"],
                                  "train_limit": train_limit}).validated()
