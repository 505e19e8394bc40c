"""Files that are never half-made: atomic writes, append-only JSON lines, and the clock they share.

Every write goes to a temporary file in the same folder, then `os.replace` puts it in place; the
histories are append-only lines, and a reader skips a torn last line.
"""
import fcntl
import io
import json
import os
import tempfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path


def atomic_write_bytes(path, data):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path, obj):
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=_json_default) + "\n").encode())


def atomic_save_npy(path, array):
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


@contextmanager
def file_lock(path):
    """Hold an exclusive lock on `path` (made if missing): one holder at a time, across threads
    and processes."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def append_jsonl(path, record):
    # One write of one short line in append mode: readers see whole lines or a torn last one.
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=_json_default) + "\n")


def read_jsonl(path):
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line still being written, or damaged: skip it, keep the rest
        if isinstance(record, dict):
            records.append(record)
    return records


def _json_default(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def now():
    """The local time as ISO 8601 with its zone, to the second: what records store."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def timestamp(text):
    """Seconds since the epoch of an ISO 8601 time, or None if `text` is not one."""
    try:
        return datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return None
