"""Files that are never half-made, and reads that trust nothing: atomic writes, append-only JSON
lines, size-capped reads of regular files only, and the clock they share.

Every write goes to a temporary file in the same folder, then `os.replace` puts it in place; the
histories are append-only lines, and a reader skips a torn last line. A runs folder is shared, so
every read refuses what is not a regular file (a symbolic link to /etc/shadow, a FIFO that would
block for ever, /dev/zero) and what is larger than its cap, with a message that says so.
"""
import errno
import fcntl
import io
import json
import os
import stat
import tempfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

MiB = 2 ** 20


class UnsafeFile(OSError):
    """A file that is not a regular file, or larger than allowed: it is not read."""


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


def read_regular(path, max_bytes, *, missing_ok=False, offset=0):
    """The bytes of `path` (from `offset` on) if it is a regular file of at most `max_bytes`;
    None for a missing file with `missing_ok`. Anything else raises UnsafeFile saying why."""
    path = Path(path)
    try:
        # O_NOFOLLOW: a link is refused, not followed; O_NONBLOCK: a FIFO does not hang the open.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if missing_ok:
            return None
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFile(f"{path.name} is a symbolic link, not a file of the run") from None
        raise
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"{path.name} is not a regular file")
        if info.st_size > max_bytes:
            raise UnsafeFile(f"{path.name} is too large ({info.st_size:,} bytes; at most {max_bytes:,})")
        file.seek(offset)
        data = file.read(max_bytes + 1 - offset)
    if offset + len(data) > max_bytes:
        raise UnsafeFile(f"{path.name} grew past {max_bytes:,} bytes")
    return data


def check_regular(path, max_bytes):
    """Raise UnsafeFile unless `path` is a regular file (not a link) of at most `max_bytes`; for
    files another library opens by name (a model)."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFile(f"{Path(path).name} is a symbolic link, not a file of the run")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFile(f"{Path(path).name} is not a regular file")
    if info.st_size > max_bytes:
        raise UnsafeFile(f"{Path(path).name} is too large ({info.st_size:,} bytes; at most {max_bytes:,})")
    return path


def read_json(path, max_bytes, *, missing_ok=False):
    """A JSON file's content, or ValueError saying why it cannot be had (never a RecursionError)."""
    data = read_regular(path, max_bytes, missing_ok=missing_ok)
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{Path(path).name} is not valid JSON ({error})") from None
    except RecursionError:
        raise ValueError(f"{Path(path).name} is nested too deeply to be a record") from None


JSONL_MAX_BYTES = 64 * MiB


def read_jsonl(path, offset=0):
    """The records of a JSON-lines file (dicts only; a damaged or torn line is skipped). An unsafe
    file reads as empty."""
    return read_jsonl_from(path, offset)[0]


def read_jsonl_from(path, offset=0):
    """`(records, next_offset)`: the whole lines written from byte `offset` on, and where the next
    read should start (after the last complete line), so that a live view reads only what is new."""
    try:
        data = read_regular(path, JSONL_MAX_BYTES, missing_ok=True, offset=offset)
    except OSError:
        return [], offset
    if not data:
        return [], offset
    complete = data[:data.rfind(b"\n") + 1]
    records = []
    for line in complete.decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue  # damaged: skip it, keep the rest
        if isinstance(record, dict):
            records.append(record)
    return records, offset + len(complete)


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
