"""What several pages share: where runs and data live, the run manager, the model cache, run pickers.

Only Streamlit glue lives here; the logic is in `cifar_tf`.
"""
import os

import streamlit as st

from cifar_tf import runs as runs_lib


def _run_through_app():
    """A direct link (say /runs) as the first request after the server starts makes Streamlit
    treat pages/ as an old-style page folder and run the page without app.py: no wide layout,
    a sidebar listing every file. Every page imports this module, so switch that mode off and
    rerun: the rerun goes through app.py's st.navigation to the same page."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_run_through_app()


def runs_dir():
    return runs_lib.resolve_runs_dir(None)


def data_dir():
    """The dataset folder named by CIFAR10_DIR, or None to search the caches."""
    return os.environ.get("CIFAR10_DIR") or None


@st.cache_resource(show_spinner=False)
def run_manager(folder=None):
    """One manager for every session of this server: one queue, one cap on concurrent runs."""
    from cifar_tf.manager import RunManager

    return RunManager(folder or runs_dir(), data_dir=data_dir()).start_background()


@st.cache_resource(show_spinner=False)
def model_cache():
    from cifar_tf.predict import ModelCache

    return ModelCache()


def list_runs():
    """Every readable run, and a warning for the folders that are not."""
    found, problems = runs_lib.list_runs(runs_dir())
    for problem in problems:
        st.caption(f":warning: Skipped a folder in the runs directory: {problem}")
    return found


def run_label(run):
    accuracy = (run.record.get("metrics") or {}).get("test_accuracy")
    score = f", {accuracy:.1%}" if accuracy is not None else ""
    return f"{run.name} · {run.record.get('arch')} · {run.status}{score}"


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


def best_run(runs):
    """The finished run with a model and the best test accuracy, or None."""
    scored = [r for r in runs if r.status in runs_lib.FINISHED_STATUSES and r.model_path.exists()
              and (r.record.get("metrics") or {}).get("test_accuracy") is not None]
    return max(scored, key=lambda r: r.record["metrics"]["test_accuracy"], default=None)
