"""The class's own files, in a hidden folder of the runs folder: `<runs>/.class/`.

Run listings skip dot folders, so nothing here is taken for a run. Each file is one JSON object,
replaced atomically; a change reads, edits and writes a file under one lock, so that two sessions
(or two servers over one folder) never lose each other's changes.
"""
from contextlib import contextmanager

from ..runs.files import MiB, atomic_write_json, file_lock, read_json
from ..runs.store import resolve_runs_dir

CLASS_DIR = ".class"
LOCK_FILE = ".lock"
CLASS_FILE_MAX_BYTES = 16 * MiB   # a class's seats, budgets and tries: a few kilobytes per student


class NotAllowed(ValueError):
    """A class rule refused something (a name, a code, an action, a submission): the message
    says why, in words for the person who tried."""


class ClassFolder:
    def __init__(self, runs_dir=None):
        self.runs_dir = resolve_runs_dir(runs_dir)
        self.path = self.runs_dir / CLASS_DIR

    def read(self, name, default=None):
        """The JSON object in `name`, or `default` when it is missing or damaged (never raises)."""
        try:
            # Regular files only: a FIFO in a file's place would hang every class-mode page.
            value = read_json(self.path / name, CLASS_FILE_MAX_BYTES)
        except (OSError, ValueError):
            return default
        return value if isinstance(value, dict) else default

    def write(self, name, value):
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path / name, value)

    def locked(self):
        """Hold the class's lock: one change at a time across sessions and processes."""
        return file_lock(self.path / LOCK_FILE)

    @contextmanager
    def editing(self, name):
        """`with folder.editing("seats.json") as seats:` edit the dict; it is written back on exit
        (unless the block raised)."""
        with self.locked():
            value = self.read(name, {})
            yield value
            self.write(name, value)
