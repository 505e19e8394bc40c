"""Downloading CIFAR-10 into the cache, safely and atomically.

The archive is streamed into a temporary file inside the cache folder while its MD5 is
computed, checked, extracted into a temporary folder next to it (refusing any member that
could write outside it) and only then renamed into place. Whatever fails, the cache is left
as it was: with the complete dataset or without it, never with half of it.
"""
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .. import __version__, settings
from ..validation import check_float
from .cifar10 import DATASET_FOLDER, CorruptDataset, load_meta, missing_files

_CHUNK_BYTES = 1 << 20
_PROGRESS_INTERVAL_S = 0.1
_MB = 1_000_000
_OFFLINE_HINT = "If you have a copy, set CIFAR10_DIR=/path or pass --data-dir /path."


class DownloadError(RuntimeError):
    """The download failed; the message says why and how to get around it."""


def download_cifar10(cache_dir=None, *, url=None, md5=None, progress=None, timeout=30):
    """Download CIFAR-10 into `cache_dir` unless it is there; return its `cifar-10-batches-py`.

    `url` and `md5` default to `$CIFAR10_URL` and `$CIFAR10_MD5`, then to the official
    archive. `progress(done_bytes, total_bytes)` is called at most about ten times a second,
    `total_bytes` being None while the server has not said; the last call has
    `done_bytes == total_bytes`.
    """
    cache_dir = Path(cache_dir).expanduser() if cache_dir else settings.cache_dir()
    target = cache_dir / DATASET_FOLDER
    if not missing_files(target):
        return target
    url = url or settings.dataset_url()
    md5 = md5.lower() if md5 else settings.dataset_md5()
    timeout = check_float("timeout", timeout, low=0, low_open=True)

    cache_dir.mkdir(parents=True, exist_ok=True)
    archive = work_dir = None
    try:
        handle, archive = tempfile.mkstemp(prefix=".cifar10-", suffix=".tar.gz.part",
                                           dir=cache_dir)
        os.close(handle)
        with open(archive, "wb") as file:
            digest = _fetch(url, file, progress, timeout)
        if digest != md5:
            raise DownloadError(f"checksum mismatch: expected {md5}, got {digest}. The download "
                                f"from {url} is damaged or is another file; try again. "
                                + _OFFLINE_HINT)
        work_dir = Path(tempfile.mkdtemp(prefix=".cifar10-", dir=cache_dir))
        _extract(archive, work_dir)
        extracted = _check_extracted(work_dir / DATASET_FOLDER, url)
        _move_into_place(extracted, target, work_dir / "replaced")
    finally:
        # Both live in the cache folder, so a failure anywhere leaves nothing half-made.
        if archive:
            Path(archive).unlink(missing_ok=True)
        if work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    return target


def _fetch(url, file, progress, timeout):
    """Stream `url` into `file`; return the MD5 hex digest of what was written."""
    host = urllib.parse.urlsplit(url).hostname or url
    digest, done, total = hashlib.md5(), 0, None
    try:
        request = urllib.request.Request(url, headers={"User-Agent": f"cifar_tf/{__version__}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
            last_report = 0.0
            while chunk := response.read(_CHUNK_BYTES):
                try:
                    file.write(chunk)
                except OSError as error:  # not the network's fault: say so
                    raise DownloadError(f"cannot write to {file.name}: {error.strerror}; free "
                                        "some space or set CIFAR_TF_CACHE to another folder"
                                        ) from None
                digest.update(chunk)
                done += len(chunk)
                now = time.monotonic()
                if progress and now - last_report >= _PROGRESS_INTERVAL_S:
                    progress(done, total)
                    last_report = now
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url} answered HTTP {error.code} {error.reason}: check the URL "
                            f"(CIFAR10_URL) or try again later. {_OFFLINE_HINT}") from None
    except urllib.error.URLError as error:
        raise DownloadError(f"cannot reach {host}: {error.reason} — no network? "
                            + _OFFLINE_HINT) from None
    except ValueError as error:  # urllib's word for a malformed or unsupported URL
        raise DownloadError(f"cannot download {url!r}: {error}") from None
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(f"the connection to {host} broke after {done / _MB:.1f} MB "
                            f"({type(error).__name__}: {error}); try again. "
                            + _OFFLINE_HINT) from None
    # urllib returns a short body without complaint when the server closes early.
    if total is not None and done < total:
        raise DownloadError(f"the connection to {host} dropped after {done / _MB:.1f} of "
                            f"{total / _MB:.1f} MB; try again. {_OFFLINE_HINT}")
    if progress:
        progress(done, done)
    return digest.hexdigest()


def _extract(archive, destination):
    """Extract a .tar.gz into `destination`, refusing links, devices and escaping paths."""
    root = destination.resolve()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                if not (member.isfile() or member.isdir()):
                    raise DownloadError(f"refusing to extract '{member.name}': the archive may "
                                        "hold only files and folders, not links or devices")
                if not (root / member.name).resolve().is_relative_to(root):
                    raise DownloadError(f"refusing to extract '{member.name}': it would be "
                                        "written outside the target folder")
            # The "data" filter (Python 3.12, backported to 3.8+) re-checks all of the above.
            options = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(destination, members=members, **options)
    except (tarfile.TarError, EOFError, OSError) as error:
        # zlib.error is not an OSError but gzip wraps it as BadGzipFile, which is.
        raise DownloadError(f"the download is not a valid .tar.gz archive ({error}); "
                            f"check the URL (CIFAR10_URL). {_OFFLINE_HINT}") from None


def _check_extracted(folder, url):
    missing = missing_files(folder)
    if missing:
        raise DownloadError(f"the archive from {url} is not CIFAR-10: {DATASET_FOLDER}/ "
                            f"lacks {', '.join(missing)}")
    try:
        load_meta(folder)
    except CorruptDataset as error:
        raise DownloadError(f"the archive from {url} is not CIFAR-10: {error}") from None
    return folder


def _move_into_place(folder, target, trash):
    """Rename `folder` to `target`, moving an incomplete `target` to `trash` first."""
    if target.exists():
        os.replace(target, trash)
    try:
        os.replace(folder, target)
    except OSError:
        # Another process may have finished the same download in the meantime.
        if missing_files(target):
            raise


class TextProgress:
    """A `progress` callback drawing `[====>   ] 12.3/170.5 MB  4.1 MB/s  ETA 0:39` on one line.

    Use it as a context manager so that the line ends even when the download fails.
    """

    def __init__(self, stream=None, width=30):
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._start = time.monotonic()  # made just before the download starts
        self._drawn = 0  # length of the line on screen, 0 when none is open

    def __call__(self, done, total):
        elapsed = time.monotonic() - self._start
        speed = done / elapsed if elapsed > 0 else 0.0
        if total:
            filled = min(self.width, self.width * done // total)
            bar = ("=" * filled + ">").ljust(self.width)[:self.width]
            eta = _clock((total - done) / speed) if speed else "?"
            line = f"[{bar}] {done / _MB:.1f}/{total / _MB:.1f} MB"
            line += f"  {speed / _MB:.1f} MB/s  ETA {eta}"
        else:
            line = f"{done / _MB:.1f} MB  {speed / _MB:.1f} MB/s"
        # Pad with spaces to wipe out the end of a longer previous line.
        self.stream.write("\r" + line.ljust(self._drawn))
        self._drawn = len(line)
        if total is not None and done >= total:
            self.close()
        self.stream.flush()

    def close(self):
        """End the progress line, if one is drawn."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _clock(seconds):
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    return f"{minutes}:{seconds:02d}"
