"""How `streamlit run app.py` serves the lab by default: on loopback only, small uploads, no
Deploy button (.streamlit/config.toml)."""
import socket
import subprocess
import sys
import time
import tomllib

import pytest

from cifar_tf.bench.app_client import free_port, health_seconds
from cifar_tf.data.images import MAX_FILE_BYTES
from helpers import ROOT

pytestmark = pytest.mark.slow


def listening_addresses(port):
    """The local addresses with a socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table, encoding="ascii") as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    raw = bytes.fromhex(address)
                    if width == 8:
                        found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                    else:
                        words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
                        found.add(socket.inet_ntop(socket.AF_INET6, b"".join(words)))
    return found


def test_the_server_listens_on_loopback_unless_told_otherwise():
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                               "--server.headless", "true"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while health_seconds(f"http://127.0.0.1:{port}", timeout=2) is None:
            assert server.poll() is None and time.time() < deadline, "the app did not start"
            time.sleep(0.3)
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        server.terminate()
        server.wait(15)


def test_uploads_are_capped_at_the_apps_own_limit_and_the_toolbar_is_minimal():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_FILE_BYTES
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["toolbarMode"] == "minimal"
