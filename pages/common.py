"""What several pages share: the run manager, the model cache, the list of runs, a run picker.

Only Streamlit glue lives here; the logic is in `cifar_tf`.
"""
import streamlit as st

from cifar_tf import settings
from cifar_tf.runs import store
from cifar_tf.views.formatting import escape_markdown, run_label


def run_through_app():
    """Works around Streamlit's multipage v1 mode (1.67: `PagesManager.uses_pages_directory`, set
    from the mere existence of a `pages/` folder until `st.navigation` first runs, and then
    `script_runner._mpa_v1`): a direct link such as /runs as the very first request after the
    server starts runs that page file on its own, without app.py (no wide layout, a sidebar of
    every file). Every page imports this module; the rerun goes through app.py's st.navigation to
    the same page. tests/browser/test_pages.py opens a direct link first to keep this honest."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


run_through_app()


def runs_dir():
    return settings.runs_dir()


def data_dir():
    """The dataset folder named by CIFAR10_DIR, or None to search the caches."""
    return settings.data_dir()


def run_manager():
    """The one run manager of this server, whichever page or session asks: one queue, one cap on
    runs training at once, and one place that enforces stops."""
    return _manager(str(runs_dir()), str(data_dir() or ""))


@st.cache_resource(show_spinner=False)
def _manager(folder, data_folder):
    from cifar_tf.runs.manager import RunManager

    return RunManager(folder, data_dir=data_folder or None).start_background()


@st.cache_resource(show_spinner=False)
def model_cache():
    from cifar_tf.evaluation.predict import ModelCache

    return ModelCache()


def list_runs(warn=True):
    """Every readable run, and (with `warn`) a warning for the folders that are not."""
    found, problems = store.list_runs(runs_dir())
    for problem in problems if warn else ():
        st.caption(f":warning: Skipped a folder in the runs directory: {escape_markdown(problem)}")
    return found


def pick_run(label, runs, *, key, default_id=None, help=None):
    """A select box of runs that remembers its choice in the URL (?run=ID)."""
    if not runs:
        return None
    ids = [run.id for run in runs]
    wanted = st.query_params.get("run")
    index = ids.index(wanted) if wanted in ids else ids.index(default_id) if default_id in ids else 0
    chosen = st.selectbox(label, runs, index=index, format_func=run_label, key=key, help=help)
    if chosen is not None:
        st.query_params["run"] = chosen.id
    return chosen
