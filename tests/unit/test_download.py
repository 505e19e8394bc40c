import hashlib
import http.server
import io
import socket
import tarfile
import threading

import pytest

from cifar_tf.data.cifar10 import DATASET_FOLDER, load_cifar10
from cifar_tf.data.download import DownloadError, TextProgress, download_cifar10
from helpers import write_cifar10


def md5_of(data):
    return hashlib.md5(data).hexdigest()


def make_archive(folder, extra=()):
    """A .tar.gz of `folder` as `cifar-10-batches-py/`, plus `extra` TarInfo members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=DATASET_FOLDER)
        for member in extra:
            tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = write_cifar10(tmp_path_factory.mktemp("source"), per_batch=10, test_size=10)
    return make_archive(root / DATASET_FOLDER)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path not in self.server.files:
            self.send_error(404)
            return
        body = self.server.files[self.path]
        dropped = self.path.startswith("/dropped")
        self.send_response(200)
        # A dropped connection promises more than it sends, then closes.
        self.send_header("Content-Length", str(len(body) * 2 if dropped else len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP server: put bytes in `server.files[path]`, read `server.requests`."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests = {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"  # $CIFAR_TF_CACHE, set by conftest


def serve(server, path, body):
    server.files[path] = body
    return server.url + path


def assert_nothing_left(cache):
    assert not cache.exists() or list(cache.iterdir()) == []


def test_downloads_checks_and_installs(server, archive, cache):
    url = serve(server, "/cifar.tar.gz", archive)
    calls = []
    folder = download_cifar10(url=url, md5=md5_of(archive),
                              progress=lambda done, total: calls.append((done, total)))
    assert folder == cache / DATASET_FOLDER
    assert load_cifar10(cache_dir=cache).x_train.shape == (50, 32, 32, 3)
    assert calls[-1] == (len(archive), len(archive)) and len(calls) <= 3
    assert [p.name for p in cache.iterdir()] == [DATASET_FOLDER]  # no temporary files left


def test_url_and_checksum_from_the_environment(server, archive, tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR10_URL", serve(server, "/env.tar.gz", archive))
    monkeypatch.setenv("CIFAR10_MD5", md5_of(archive).upper())
    assert download_cifar10(tmp_path / "elsewhere") == tmp_path / "elsewhere" / DATASET_FOLDER


def test_already_cached_makes_no_request(server, cache):
    write_cifar10(cache, per_batch=10, test_size=10)
    assert download_cifar10(url=server.url + "/never") == cache / DATASET_FOLDER
    assert server.requests == []


def test_replaces_an_incomplete_copy(server, archive, cache):
    (cache / DATASET_FOLDER).mkdir(parents=True)
    (cache / DATASET_FOLDER / "data_batch_1").write_bytes(b"half")
    download_cifar10(url=serve(server, "/a.tar.gz", archive), md5=md5_of(archive))
    assert load_cifar10(cache_dir=cache).y_test.shape == (10,)
    assert [p.name for p in cache.iterdir()] == [DATASET_FOLDER]


def test_wrong_checksum(server, archive, cache):
    url = serve(server, "/cifar.tar.gz", archive)
    with pytest.raises(DownloadError, match=f"checksum mismatch: expected {'0' * 32}, "
                                            f"got {md5_of(archive)}"):
        download_cifar10(url=url, md5="0" * 32)
    assert_nothing_left(cache)


def test_connection_dropped_midway(server, archive, cache):
    with pytest.raises(DownloadError, match="dropped after"):
        download_cifar10(url=serve(server, "/dropped.tar.gz", archive), md5=md5_of(archive))
    assert_nothing_left(cache)


def test_unreachable_server(cache):
    with socket.socket() as probe:  # a port that was free a moment ago refuses connections
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot reach 127.0.0.1.*CIFAR10_DIR"):
        download_cifar10(url=f"http://127.0.0.1:{port}/cifar.tar.gz", timeout=5)
    assert_nothing_left(cache)


def test_http_error_status(server, cache):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_cifar10(url=server.url + "/missing.tar.gz")
    assert_nothing_left(cache)


def test_not_a_tar_gz(server, cache):
    body = b"<html>a login page</html>"
    with pytest.raises(DownloadError, match="not a valid .tar.gz"):
        download_cifar10(url=serve(server, "/page", body), md5=md5_of(body))
    assert_nothing_left(cache)


def test_an_archive_without_cifar10(server, tmp_path, cache):
    (tmp_path / "other").mkdir()
    body = make_archive(tmp_path / "other")
    with pytest.raises(DownloadError, match="is not CIFAR-10.*lacks data_batch_1"):
        download_cifar10(url=serve(server, "/other.tar.gz", body), md5=md5_of(body))
    assert_nothing_left(cache)


def _member(name, kind=tarfile.REGTYPE, linkname=""):
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, linkname
    member.size = 4 if kind == tarfile.REGTYPE else 0
    return member


@pytest.mark.parametrize("kind", ["traversal", "absolute", "symlink", "hardlink"])
def test_unsafe_members_are_refused(server, tmp_path, cache, kind):
    outside = tmp_path / "evil"
    member = {"traversal": _member("../evil"),
              "absolute": _member(str(outside)),
              "symlink": _member(f"{DATASET_FOLDER}/link", tarfile.SYMTYPE, str(outside)),
              "hardlink": _member(f"{DATASET_FOLDER}/link", tarfile.LNKTYPE, "../../evil"),
              }[kind]
    source = write_cifar10(tmp_path / "source", per_batch=10, test_size=10)
    body = make_archive(source / DATASET_FOLDER, extra=[member])
    with pytest.raises(DownloadError, match="refusing to extract"):
        download_cifar10(url=serve(server, "/evil.tar.gz", body), md5=md5_of(body))
    assert not outside.exists()
    assert_nothing_left(cache)


def test_text_progress_draws_one_line():
    stream = io.StringIO()
    with TextProgress(stream, width=10) as progress:
        progress(0, 4_000_000)
        progress(2_000_000, 4_000_000)
        progress(4_000_000, 4_000_000)
    lines = stream.getvalue()
    assert lines.count("\r") == 3 and lines.endswith("\n") and lines.count("\n") == 1
    assert "[=====>    ] 2.0/4.0 MB" in lines and "MB/s" in lines and "ETA" in lines
    assert "[==========] 4.0/4.0 MB" in lines


def test_text_progress_ends_the_line_when_interrupted():
    stream = io.StringIO()
    with pytest.raises(DownloadError):
        with TextProgress(stream) as progress:
            progress(1_500_000, None)
            raise DownloadError("dropped")
    assert stream.getvalue() == stream.getvalue().rstrip("\n") + "\n"
    assert "1.5 MB" in stream.getvalue()
