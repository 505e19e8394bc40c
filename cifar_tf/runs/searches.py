"""Hyperparameter searches as the run manager sees them: folders in `<runs>/.searches/` that wait in
the run queue and train under its cap, as runs do.

What a search is (its space, tuner and trials) is `cifar_tf.search`'s business; here is only what
queuing one needs: its status, owner (the `tags` of its record, as a run's), how many trials it
trains at once (`workers`, the training slots it holds), and its process.
"""
import copy
from dataclasses import dataclass
from pathlib import Path

from .files import read_json
from .liveness import mark_if_dead
from .names import check_run_id
from .records import RECORD_MAX_BYTES, STATUSES, WorkerFolder

SEARCHES_DIR = ".searches"   # hidden: run listings skip it
SEARCH_FILE = "search.json"
LOG_FILE = "search.log"      # a search process's output, the workers' own logs beside it


class SearchNotFound(LookupError):
    pass


@dataclass
class SearchFolder(WorkerFolder):
    """A search folder and its record, search.json."""
    RECORD_FILE = SEARCH_FILE

    @staticmethod
    def problem(record):
        if not isinstance(record, dict):
            return "it is not a JSON object"
        if record.get("status") not in STATUSES:
            return f"unknown status {record.get('status')!r}"
        if not isinstance(record.get("id"), str):
            return f"id is {record.get('id')!r}, expected text"
        workers = record.get("workers", 1)
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            return f"workers is {workers!r}, expected a whole number from 1"
        return None

    @property
    def workers(self):
        """Trials trained at once: the training slots the search holds while it runs."""
        return self.record.get("workers", 1)

    @property
    def runs_dir(self):
        return self.path.parent.parent

    def can_resume(self):
        """A stopped or failed search may be queued again: it continues from its finished trials."""
        return self.status in ("stopped", "failed")


def searches_dir(runs_dir):
    return Path(runs_dir) / SEARCHES_DIR


def read_search_folder(path, kind=SearchFolder):
    """One search folder as a `kind` (SearchFolder or a subclass that checks more), or SearchNotFound
    saying why it is not one. A running search whose process is gone comes back as failed, with
    the reason; nothing is written."""
    path = Path(path)
    if path.is_symlink():
        raise SearchNotFound(f"{path.name}: a link, not a search folder")
    try:
        record = read_json(path / SEARCH_FILE, RECORD_MAX_BYTES)
    except FileNotFoundError:
        raise SearchNotFound(f"{path.name}: not a search (no {SEARCH_FILE})") from None
    except (OSError, ValueError) as error:
        raise SearchNotFound(f"{path.name}: {SEARCH_FILE} is unreadable ({error})") from None
    problem = kind.problem(record)
    if problem:
        raise SearchNotFound(f"{path.name}: {SEARCH_FILE} is not a search record: {problem}")
    # The same test as for a run's worker; a save writes only what this process changes.
    search = mark_if_dead(kind(path, record, read_back=copy.deepcopy(record)))
    if search.dead_reason:
        search.record["error"] = ("the search process ended or stopped answering before the search "
                                  "finished (killed or crashed); resume it to continue")
    return search


def scan_searches(runs_dir, kind=SearchFolder):
    """Every readable search in `runs_dir`, newest first (a folder being made right now is skipped)."""
    folder = searches_dir(runs_dir)
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_dir() and not path.name.startswith("."):
                try:
                    found.append(read_search_folder(path, kind))
                except SearchNotFound:
                    pass
    return sorted(found, key=lambda s: str(s.record.get("created_at") or ""), reverse=True)


def load_search_folder(search_id, runs_dir, kind=SearchFolder):
    """The search `search_id` of `runs_dir`; SearchNotFound naming it when there is none."""
    path = searches_dir(runs_dir) / check_run_id(search_id)
    if not path.is_dir():
        raise SearchNotFound(f"no search {search_id!r} in {searches_dir(runs_dir)}")
    return read_search_folder(path, kind)


def trial_of(run):
    """The id of the search whose trial `run` is, or None."""
    search = (run.record.get("tags") or {}).get("search")
    return search if isinstance(search, str) else None
