"""Screenshots of every page with a real server and headless Chromium, to look at what we built.

    python tests/screenshots.py OUT_DIR [WIDTHxHEIGHT ...]   # default 1280x800 and 390x844

It uses $CIFAR10_DIR and $CIFAR_TF_RUNS_DIR as they are.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import PAGES, browser_page, open_page, streamlit_server  # noqa: E402


def main(out, sizes):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as (url, _, _):
        for width, height in sizes:
            with browser_page(width, height) as page:
                for name, slug in PAGES.items():
                    page.set_viewport_size({"width": width, "height": height})
                    open_page(page, url, slug)
                    page.wait_for_timeout(1500)  # charts draw after the script ends
                    path = out / f"{name}-{width}x{height}.png"
                    page.screenshot(path=str(path))        # what the screen shows first
                    # Then the whole page: Streamlit scrolls inside its main block, so the window is
                    # made as tall as that block's content.
                    tall = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
                    page.set_viewport_size({"width": width, "height": min(int(tall) + 50, 12000)})
                    page.wait_for_timeout(1500)
                    page.screenshot(path=str(out / f"{name}-{width}x{height}-all.png"))
                    print(path)


if __name__ == "__main__":
    sizes = [tuple(map(int, s.split("x"))) for s in sys.argv[2:]] or [(1280, 800), (390, 844)]
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/screens", sizes)
