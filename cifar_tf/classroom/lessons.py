"""Lessons: the teacher archives the class's runs to start afresh, and may bring them back.

Archiving moves run folders into `.class/archive/LESSON/` (one rename each, nothing is copied or
destroyed): runs listings, the leaderboard and the pickers no longer see them. Active runs stay
where they are (stop them first), and so does the shipped demo run.
"""
import os
import re
import time

from ..runs import store
from ..runs.files import now
from .folder import NotAllowed
from .roles import is_read_only

ARCHIVE_DIR = "archive"
LESSON_FILE = "lesson.json"
_LESSON_ID = re.compile(r"^\d{8}-\d{6}(-\d+)?$")


def archive_runs(folder, *, title=None):
    """Move every finished run aside: `(lesson id, runs moved, runs left because they are active)`."""
    runs, _ = store.list_runs(folder.runs_dir)
    movable = [run for run in runs if not run.is_active() and not is_read_only(run)]
    active = [run for run in runs if run.is_active()]
    if not movable:
        return None, [], active
    with folder.locked():
        lesson, destination = _new_lesson_folder(folder)
        moved = []
        for run in movable:
            try:
                os.replace(run.path, destination / run.path.name)
            except OSError:
                continue  # deleted or archived by someone else meanwhile
            moved.append(run)
        folder.write(f"{ARCHIVE_DIR}/{lesson}/{LESSON_FILE}",
                     {"id": lesson, "title": title, "archived_at": now(), "runs": len(moved)})
    return lesson, moved, active


def lessons(folder):
    """The archived lessons, newest first: dicts with id, title, archived_at and runs."""
    root = folder.path / ARCHIVE_DIR
    found = []
    if root.is_dir():
        for path in sorted(root.iterdir(), reverse=True):
            if path.is_dir() and _LESSON_ID.match(path.name):
                info = folder.read(f"{ARCHIVE_DIR}/{path.name}/{LESSON_FILE}", {})
                runs = sum(1 for child in path.iterdir() if child.is_dir())
                found.append({"id": path.name, "title": info.get("title"), "archived_at": info.get("archived_at"),
                              "runs": runs})
    return found


def restore(folder, lesson):
    """Bring an archived lesson's runs back into the runs folder: the number restored."""
    if not isinstance(lesson, str) or not _LESSON_ID.match(lesson):
        raise NotAllowed(f"{lesson!r} is not an archived lesson.")
    source = folder.path / ARCHIVE_DIR / lesson
    if not source.is_dir():
        raise NotAllowed(f"No archived lesson {lesson}.")
    restored = 0
    with folder.locked():
        for path in sorted(source.iterdir()):
            target = folder.runs_dir / path.name
            if path.is_dir() and not target.exists():
                os.replace(path, target)
                restored += 1
        if not any(child.is_dir() for child in source.iterdir()):
            (source / LESSON_FILE).unlink(missing_ok=True)
            source.rmdir()
    return restored


def _new_lesson_folder(folder):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ["", *(f"-{n}" for n in range(2, 100))]:
        path = folder.path / ARCHIVE_DIR / f"{stamp}{suffix}"
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            continue
        return path.name, path
    raise OSError(f"cannot make a lesson folder for {stamp}")
