"""What several pages share: who the viewer is, the run manager, the model cache, the list of
runs, a run picker.

Only Streamlit glue lives here; the logic is in `cifar_tf`.
"""
import threading
import warnings

import streamlit as st

from cifar_tf import settings
from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.classroom.room import Classroom
from cifar_tf.runs import store
from cifar_tf.views.formatting import escape_markdown, run_label


# The Streamlit series the two hooks below patch the internals of, and were tested on; requirements.txt
# pins streamlit to it. On another series each hook warns, and does nothing where its target is gone.
STREAMLIT_SERIES = "1.67"


def streamlit_hook_fits(hook, target, attribute):
    """Whether `target.attribute`, the internal that `hook` patches, is there; with a RuntimeWarning
    when this Streamlit is not `STREAMLIT_SERIES` (and when the internal is gone)."""
    series = ".".join(st.__version__.split(".")[:2])
    there = hasattr(target, attribute)
    if series != STREAMLIT_SERIES or not there:
        warnings.warn(f"pages/common.{hook} patches Streamlit {STREAMLIT_SERIES}'s {attribute}, but this is "
                      f"Streamlit {st.__version__}" + ("" if there else f" without it: {hook} does nothing")
                      + ". Check the hook (its docstring says how), then update STREAMLIT_SERIES and requirements.txt.",
                      RuntimeWarning, stacklevel=2)
    return there


def run_through_app():
    """Works around Streamlit's multipage v1 mode (1.67: `PagesManager.uses_pages_directory`, set
    from the mere existence of a `pages/` folder until `st.navigation` first runs, and then
    `script_runner._mpa_v1`): a direct link such as /runs as the very first request after the
    server starts runs that page file on its own, without app.py (no wide layout, a sidebar of
    every file). Every page imports this module; the rerun goes through app.py's st.navigation to
    the same page. tests/browser/test_pages.py opens a direct link first to keep this honest."""
    from streamlit.runtime.pages_manager import PagesManager

    if streamlit_hook_fits("run_through_app", PagesManager, "uses_pages_directory") and \
            PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


run_through_app()


def keep_keras_state():
    """Works around Streamlit's `script_runner._clean_problem_modules` (1.67), which calls
    `keras.backend.clear_session()` after every script run of every session once Keras is
    imported anywhere in the server: a full garbage collection, most of a page view's CPU time.
    The lab builds models only in cached functions (parameter counts, the model cache), so Keras'
    session has nothing to clear between reruns. tests/app/test_train.py checks the patch."""
    from streamlit.runtime.scriptrunner import script_runner

    if streamlit_hook_fits("keep_keras_state", script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = lambda: None


keep_keras_state()


def runs_dir():
    return settings.runs_dir()


def data_dir():
    """The dataset folder named by CIFAR10_DIR, or None to search the caches."""
    return settings.data_dir()


SEAT_COOKIE = "cifar_tf_seat"   # the browser's seat token (class mode)
SEAT_STATE = "class_seat"       # ... and this session's, from the cookie or just given out


def classroom():
    return Classroom(runs_dir())


def seat_token():
    return st.session_state.get(SEAT_STATE) or st.context.cookies.get(SEAT_COOKIE)


def viewer():
    """Who this browser is: without class mode, the app's one user; with it, the seat its token
    names (or a newcomer without a name)."""
    return classroom().viewer(seat_token())


def run_manager():
    """The one run manager of this server, whichever page or session asks: one queue, one cap on
    what trains at once (runs and searches), and one place that enforces stops. Each session uses it
    as its viewer: in class mode, what they start is theirs, and they stop only their own."""
    return classroom().manager_for(shared_manager(), viewer())


def request_stop(run_id):
    """Stop a run as this viewer: a toast saying it stops, or why it may not."""
    try:
        run_manager().stop(run_id)
    except (NotAllowed, store.RunNotFound) as refused:
        st.error(escape_markdown(refused))
    else:
        st.toast("Stopping: the run finishes its batch, evaluates and saves.")


def shared_manager():
    return _manager(str(runs_dir()), str(data_dir() or ""))


@st.cache_resource(show_spinner=False)
def _manager(folder, data_folder):
    from cifar_tf.runs.manager import RunManager

    return RunManager(folder, data_dir=data_folder or None, standby=settings.standby_worker()).start_background()


@st.cache_resource(show_spinner=False)
def warm_up():
    """Once per server, in the background: import TensorFlow and load CIFAR-10, so that the first
    student to open Data, Evaluate or Predict does not wait seconds for them."""
    def load():
        try:
            from cifar_tf.data.augment import PREVIEW_DEFAULT, augmentation_preview
            from cifar_tf.data.cifar10 import load_cifar10
            from cifar_tf.models.registry import count_params

            count_params("simple_cnn")                      # imports Keras and TensorFlow, builds once
            augmentation_preview(load_cifar10(data_dir()).x_test[0], PREVIEW_DEFAULT, n=16)  # compiles the warp
        except Exception:  # noqa: BLE001 - no dataset yet, or a broken one: the pages say so themselves
            pass

    thread = threading.Thread(target=load, daemon=True, name="warm-up")
    thread.start()
    return thread


@st.cache_resource(show_spinner=False)
def model_cache():
    from cifar_tf.evaluation.predict import ModelCache

    return ModelCache()


def model_key(run):
    """What identifies a run's model for the caches below: its file and when it was written."""
    try:
        return str(run.model_path), run.model_path.stat().st_mtime_ns
    except OSError:
        return str(run.model_path), None


# Grad-CAM, filters and activation maps cost TensorFlow work: computed once per model, image and
# class, not on every rerun of every session (the model is not hashed: `model_key` stands for it).
@st.cache_data(show_spinner=False, max_entries=512)
def grad_cam_picture(key, _model, image, class_index, display=None, size=224):
    from cifar_tf.evaluation.explain import grad_cam_overlay

    return grad_cam_overlay(_model, image, class_index, display=display, size=size)


@st.cache_data(show_spinner=False, max_entries=64)
def activation_maps(key, _model, image, max_channels=16):
    from cifar_tf.evaluation.explain import activation_maps as maps

    return maps(_model, image, max_channels=max_channels)


@st.cache_data(show_spinner=False, max_entries=32)
def first_layer_filters(key, _model):
    from cifar_tf.evaluation.explain import first_layer_filters as filters

    return filters(_model)


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


def report_download(run, owner=None):
    """A button that downloads the run's report: one HTML file that opens offline. It is made
    when pressed, with the test images of its mistakes when the dataset is here."""
    def report():
        from cifar_tf.data.cifar10 import CorruptDataset, DatasetNotFound, load_cifar10
        from cifar_tf.views.report import run_report

        try:
            dataset = load_cifar10(data_dir())
        except (DatasetNotFound, CorruptDataset, OSError):
            dataset = None
        return run_report(run, owner=owner, dataset=dataset)

    st.download_button("Download report", data=report, file_name=f"{run.id}-report.html", mime="text/html",
                       icon=":material/description:", key=f"report_{run.id}",
                       help="Settings, curves, per-class scores, confusion matrix and mistakes in one HTML file.")


def confusion_side_by_side(runs, title, per_row=2):
    """Under `title`, the saved confusion matrices of `runs`, `per_row` side by side, each captioned
    with its run; nothing when none of them saved one. Returns how many it drew."""
    from cifar_tf.views.reports import confusion_charts

    charts = confusion_charts(runs)
    if charts:
        st.markdown(title)
    for row in range(0, len(charts), per_row):
        for column, (label, chart) in zip(st.columns(per_row), charts[row:row + per_row]):
            column.caption(escape_markdown(label))
            column.altair_chart(chart, width="stretch")
    return len(charts)
