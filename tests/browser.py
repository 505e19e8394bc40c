"""A real `streamlit run app.py` and a headless Chromium driven by Playwright, for tests and screenshots.

    python tests/browser.py OUT_DIR      # screenshots of every page at 1400x1000 (uses $CIFAR10_DIR,
                                         # $CIFAR_TF_RUNS_DIR as they are)
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
PAGES = {"home": "", "data": "data", "train": "train", "runs": "runs", "evaluate": "evaluate",
         "predict": "predict", "search": "search", "gradient-descent": "lab_gradient_descent",
         "sharpness": "lab_sharpness", "network-view": "lab_network_view"}


def chromium_unavailable_reason():
    """None when Chromium and Playwright are here (installing Chromium with apt-get if we may)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-test.txt)"
    if not os.path.exists(CHROMIUM) and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True, timeout=900)
    if not os.path.exists(CHROMIUM):
        return f"Debian's chromium is not installed at {CHROMIUM} and apt-get could not install it"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(env=None, timeout=90):
    """Start the app on a free 127.0.0.1 port; yield its base URL; stop it."""
    port = free_port()
    log = open(os.environ.get("STREAMLIT_LOG", os.devnull), "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError("streamlit did not start")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def browser_page(width=1400, height=1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def wait_until_idle(page, timeout=90_000):
    """Wait for the script run to finish (Streamlit marks the app 'notRunning')."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    page.wait_for_timeout(300)


def open_page(page, url, slug):
    page.goto(f"{url}/{slug}")
    wait_until_idle(page)


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as url, browser_page() as page:
        for name, slug in PAGES.items():
            open_page(page, url, slug)
            page.wait_for_timeout(1500)  # charts draw after the script ends
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            print(out / f"{name}.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/screens")
