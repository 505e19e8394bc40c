"""AppTest as the real server runs the app.

A server runs a page file on its own (Streamlit's old multipage mode, chosen because `pages/`
exists) only for its very first request, and pages/common.py then reruns it through app.py; every
later run goes through app.py's st.navigation. AppTest resets that choice before each run, so
without this fixture every run after the first would skip app.py and with it the sidebar that
app.py draws (class mode's name and teacher code)."""
import pytest


@pytest.fixture(autouse=True)
def _every_run_goes_through_app_py(monkeypatch):
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
