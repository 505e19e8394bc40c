"""The app from outside, as a browser uses it: a real `streamlit run app.py` on a free 127.0.0.1 port,
and a client that opens a page over the app's websocket the way a browser tab does.

The client speaks Streamlit's wire format (its protobuf messages) and nothing else of Streamlit:
it asks for a script run of one page and reads the server's messages until the run finishes, so
the time it measures is the server's whole cost of a page view, without a browser drawing it.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

from .. import settings
from ..settings import PROJECT_DIR

SERVER_FLAGS = ("--server.headless", "true", "--browser.gatherUsageStats", "false",
                "--server.fileWatcherType", "none")


def wait_for(predicate, timeout=180, every=0.3):
    """True as soon as `predicate()` is, False after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_seconds(url, timeout=10):
    """Seconds `/_stcore/health` took to answer "ok"; None if it did not within `timeout`."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as reply:
            return time.perf_counter() - started if reply.read().strip() == b"ok" else None
    except OSError:
        return None


@contextmanager
def streamlit_server(env=None, *, log_path=None, timeout=120):
    """Start the app on 127.0.0.1; yield `(url, seconds until healthy, process)`; stop it."""
    url = f"http://127.0.0.1:{free_port()}"
    log = open(log_path or os.devnull, "w")
    started = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", url.rsplit(":", 1)[1], *SERVER_FLAGS],
        cwd=PROJECT_DIR, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        while health_seconds(url, timeout=2) is None:
            if process.poll() is not None or time.time() - started > timeout:
                raise RuntimeError(f"streamlit did not start (exit {process.poll()})")
            time.sleep(0.1)
        yield url, time.time() - started, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def open_page(url, page="", *, query="", timeout=120):
    """Open `page` (its address, "" for Home) like a new browser tab: `(seconds, exceptions)`, the
    time until the page's script run finished and how many exceptions the page showed."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    done = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR)
    started = time.perf_counter()
    deadline = started + timeout
    with connect(f"ws://{url.split('//', 1)[1]}/_stcore/stream", subprotocols=["streamlit"], origin=url,
                 open_timeout=timeout, max_size=None) as websocket:
        request = BackMsg()
        request.rerun_script.query_string = query
        request.rerun_script.page_name = page
        websocket.send(request.SerializeToString())
        exceptions = 0
        while True:
            message = ForwardMsg()
            message.ParseFromString(websocket.recv(timeout=max(0.1, deadline - time.perf_counter())))
            kind = message.WhichOneof("type")
            if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                exceptions += message.delta.new_element.WhichOneof("type") == "exception"
            elif kind == "script_finished" and message.script_finished in done:
                return time.perf_counter() - started, exceptions


def cpu_seconds(pid):
    """CPU seconds (user and system) that process `pid` has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browser_cpu_seconds(root=None):
    """CPU seconds used so far by each Chromium process below process `root` (this one by
    default), by process id: a browser is several processes, and tabs come and go."""
    used = {}
    for pid in descendants(root or os.getpid()):
        try:
            if "chrom" in os.readlink(f"/proc/{pid}/exe").rsplit("/", 1)[-1]:
                used[pid] = cpu_seconds(pid)
        except OSError:   # it ended meanwhile
            continue
    return used


def descendants(root):
    """The process ids below process `root` (its children, theirs, ...)."""
    children = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", encoding="ascii") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    below, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            below.append(child)
            stack.append(child)
    return below


def wait_until_quiet(root, *, share=0.1, over=2.0, timeout=180.0):
    """Wait until process `root` and those below it use less than `share` of a core over `over`
    seconds (a server whose standby worker is ready, say), or `timeout` seconds; True if quiet."""
    def used():
        total = 0.0
        for pid in [root, *descendants(root)]:
            try:
                total += cpu_seconds(pid)
            except OSError:
                continue
        return total
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = used()
        time.sleep(over)
        if used() - before < share * over:
            return True
    return False


def browser_cpu_since(before, root=None):
    """Chromium's CPU seconds since `before` (a `browser_cpu_seconds` reading): processes born
    since count whole; those that ended since are lost, so read before closing tabs."""
    return sum(now - before.get(pid, 0.0) for pid, now in browser_cpu_seconds(root).items())


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


@contextmanager
def chromium():
    """A headless Chromium (Debian's) driven by Playwright: the browser, to open pages in."""
    from playwright.sync_api import sync_playwright

    cores, mine = settings.bench_browser_cores(), os.sched_getaffinity(0)
    if cores:
        os.sched_setaffinity(0, cores)
    try:
        playwright = sync_playwright().start()   # its driver, and the browsers it launches, inherit `cores`
    finally:
        os.sched_setaffinity(0, mine)
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()
