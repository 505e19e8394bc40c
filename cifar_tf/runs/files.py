"""Files that are never half-made, and reads that trust nothing: atomic writes, append-only JSON
lines, size-capped reads of regular files only, and the clock they share.

Every write goes to a temporary file in the same folder, then `os.replace` puts it in place; the
histories are append-only lines, and a reader skips a torn last line. A runs folder is shared, so
every read refuses what is not a regular file of its own (a symbolic or hard link to /etc/shadow,
a FIFO that would block for ever, /dev/zero) and what is larger than its cap, with a message that
says so; JSON read back holds no lone surrogate ("\\ud800"), which no page could show.
"""
import errno
import fcntl
import io
import json
import os
import re
import stat
import tempfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

MiB = 2 ** 20


class UnsafeFile(OSError):
    """A file that is not a regular file, or larger than allowed: it is not read."""


def atomic_write_bytes(path, data):
    """Write `data` to `path` at once; the file is made anew (mode 0600, ours), so a link or a
    file of another user in its place is replaced, never written through."""
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
    and processes. A lock file that is not a regular file raises UnsafeFile (a FIFO in its place
    would block the open for ever, every page waiting behind it)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0),
                     0o600)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFile(f"{path}: the lock file is a symbolic link; remove it") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFile(f"{path}: the lock file is not a regular file; remove it")
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def append_jsonl(path, record):
    # One write of one short line in append mode: readers see whole lines or a torn last one.
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=_json_default) + "\n")


@contextmanager
def _open_regular(path, max_bytes):
    """`(file, its stat)` of `path` opened for reading, if it is a regular file of at most
    `max_bytes`; UnsafeFile saying why not. FileNotFoundError for a missing file."""
    path = Path(path)
    try:
        # O_NOFOLLOW: a link is refused, not followed; O_NONBLOCK: a FIFO does not hang the open.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFile(f"{path.name} is a symbolic link: links are not followed") from None
        raise
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        _check_file(path, info, max_bytes)
        yield file, info


def read_regular(path, max_bytes, *, missing_ok=False, offset=0):
    """The bytes of `path` (from `offset` on) if it is a regular file of at most `max_bytes`;
    None for a missing file with `missing_ok`. Anything else raises UnsafeFile saying why."""
    try:
        with _open_regular(path, max_bytes) as (file, _):
            file.seek(offset)
            data = file.read(max_bytes + 1 - offset)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise
    if offset + len(data) > max_bytes:
        raise UnsafeFile(f"{Path(path).name} grew past {max_bytes:,} bytes")
    return data


def read_tail(path, tail_bytes):
    """`(bytes, offset)`: the last `tail_bytes` of the regular file `path` and where they start,
    whatever its size; `(b"", 0)` for a missing file."""
    try:
        with _open_regular(path, None) as (file, info):
            offset = max(0, info.st_size - tail_bytes)
            file.seek(offset)
            return file.read(tail_bytes), offset
    except FileNotFoundError:
        return b"", 0


def read_private(path, max_bytes):
    """The bytes of a secret's file (a code): only if it is a regular file of ours that nobody
    else may read or write, as atomic_write_bytes makes it (mode 0600). A file made beforehand by
    someone else, readable by others or a link to a file someone knows raises UnsafeFile saying why."""
    with _open_regular(path, max_bytes) as (file, info):
        if info.st_uid != os.getuid():
            raise UnsafeFile(f"{Path(path).name} belongs to another user (uid {info.st_uid})")
        if stat.S_IMODE(info.st_mode) != 0o600:
            raise UnsafeFile(f"{Path(path).name} has mode {stat.S_IMODE(info.st_mode):04o}, not 0600: "
                             "others may have read or written it")
        return file.read(max_bytes)


def check_regular(path, max_bytes):
    """Raise UnsafeFile unless `path` is a regular file (not a link) of at most `max_bytes`; for
    files another library opens by name (a model)."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeFile(f"{Path(path).name} is a symbolic link: links are not followed")
    _check_file(Path(path), info, max_bytes)
    return path


def _check_file(path, info, max_bytes):
    """Raise UnsafeFile unless `info` (of `path`) is a regular file of one name and at most
    `max_bytes` (None: any size)."""
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFile(f"{path.name} is not a regular file")
    if info.st_nlink > 1:
        # A hard link is the same file as one elsewhere (anything on this file system its maker
        # could read): read or served as the run's own, it would leak that file as a symbolic link would.
        raise UnsafeFile(f"{path.name} is a hard link ({info.st_nlink} names): hard links are not read")
    if max_bytes is not None and info.st_size > max_bytes:
        raise UnsafeFile(f"{path.name} is too large ({info.st_size:,} bytes; at most {max_bytes:,})")


def read_json(path, max_bytes, *, missing_ok=False):
    """A JSON file's content, or ValueError saying why it cannot be had (never a RecursionError)."""
    data = read_regular(path, max_bytes, missing_ok=missing_ok)
    if data is None:
        return None
    try:
        return _parse_json(data)
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{Path(path).name} is not valid JSON ({error})") from None
    except RecursionError:
        raise ValueError(f"{Path(path).name} is nested too deeply to be a record") from None


JSONL_MAX_BYTES = 64 * MiB


def read_jsonl(path, offset=0):
    """The records of a JSON-lines file (dicts only; a damaged or torn line is skipped). An unsafe
    file reads as empty."""
    return read_jsonl_from(path, offset)[0]


def read_jsonl_from(path, offset=0, most=None):
    """`(records, next_offset)`: the whole lines written from byte `offset` on, and where the next
    read should start (after the last complete line), so that a live view reads only what is new.

    With `most`, at most that many lines are parsed: evenly spaced ones, the first and the last
    among them. Parsing is what costs (60 MB of steps: 2 s parsed whole, 0.15 s sampled)."""
    try:
        data = read_regular(path, JSONL_MAX_BYTES, missing_ok=True, offset=offset)
    except OSError:
        return [], offset
    if not data:
        return [], offset
    complete = data[:data.rfind(b"\n") + 1]
    lines = complete.split(b"\n")[:-1]
    if most and len(lines) > most > 1:
        lines = [lines[i * (len(lines) - 1) // (most - 1)] for i in range(most)]
    return _parse_lines(lines), offset + len(complete)


def read_jsonl_tail(path, tail_bytes=64 * 1024):
    """The records of the whole lines in the last `tail_bytes` of a JSON-lines file, whatever its
    size (the latest step of a long run, without reading its history); an unsafe file reads as empty."""
    try:
        data, offset = read_tail(path, tail_bytes)
    except OSError:
        return []
    lines = data[:data.rfind(b"\n") + 1].split(b"\n")[:-1]
    return _parse_lines(lines if offset == 0 else lines[1:])   # the first may be the end of a cut line


def _parse_lines(lines):
    records = []
    for line in lines:
        try:
            record = _parse_json(line.decode("utf-8", errors="replace"))
        except (ValueError, RecursionError):
            continue  # damaged: skip it, keep the rest
        if isinstance(record, dict):
            records.append(record)
    return records


# JSON may spell a lone UTF-16 surrogate ("\ud800"), which Python keeps in the string it makes:
# printing, encoding or sending that string to a browser then fails. Only text that escapes one
# can hold one (json.loads joins a valid pair into one character), so only such text is walked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _parse_json(text):
    """`json.loads(text)` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    value = json.loads(text)
    return without_lone_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value


def without_lone_surrogates(value):
    """`value` (JSON data) with each lone surrogate in its strings replaced by U+FFFD, the
    replacement character; anything else is returned as it is."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(key): without_lone_surrogates(item) for key, item in value.items()}
    return value


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
