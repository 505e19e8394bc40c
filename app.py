"""CIFAR-10 Lab: `streamlit run app.py`.

This file only declares the pages; each page lays out widgets and charts, and the library
`cifar_tf` does the work. TensorFlow loads only on pages that need it, so Home opens at once.
"""
import streamlit as st

from cifar_tf import hardware, settings
from cifar_tf.views.formatting import escape_markdown

try:  # every CIFAR_TF_* variable, read as the user set it: a mistyped one is refused by name below
    settings.check_environment()
    bad_setting = None
except ValueError as bad:
    bad_setting = bad
# Before any page imports Keras: the server keeps TensorFlow for its pages and takes no GPU
# memory (it builds models to check them); the runs it starts are placed on the GPUs.
settings.keep_tensorflow_for_pages()
hardware.keep_gpus_free()

# An emoji, not a ":material/...:" icon: Streamlit draws an emoji page icon itself, but fetches a
# material one from fonts.gstatic.com, and a classroom may have no internet (the icons inside the
# pages come from a font the server serves; tests/browser/test_offline.py checks both).
st.set_page_config(page_title="CIFAR-10 Lab", page_icon="🧪", layout="wide")
if bad_setting is not None:
    st.error(escape_markdown(f"The lab cannot start: {bad_setting}.") + " Change it where the server is started, "
             "then start it again.", icon=":material/error:")
    st.stop()

from pages import classmode  # noqa: E402 - after set_page_config: it reads the browser's seat
from pages.common import run_manager, warm_up  # noqa: E402

PAGES = {
    "Lab": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/data.py", title="Data", icon=":material/photo_library:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/table_chart:"),
        st.Page("pages/groups.py", title="Repeats and noise", icon=":material/stacked_line_chart:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
        st.Page("pages/predict.py", title="Predict", icon=":material/image_search:"),
    ],
    "Classroom labs": [
        st.Page("pages/search.py", title="Hyperparameter search", icon=":material/tune:"),
        st.Page("pages/lab_gradient_descent.py", title="Gradient descent", icon=":material/moving:"),
        st.Page("pages/lab_sharpness.py", title="Sharpness and SAM", icon=":material/landscape:"),
        st.Page("pages/lab_network_view.py", title="What the network sees", icon=":material/visibility:"),
        st.Page("pages/reports.py", title="Reports", icon=":material/menu_book:"),
    ],
}

if settings.class_mode():
    PAGES["Class"] = [st.Page("pages/leaderboard.py", title="Leaderboard", icon=":material/leaderboard:")]
    if classmode.viewer().teacher:
        PAGES["Class"].append(st.Page("pages/teacher.py", title="Teacher", icon=":material/school:"))

page = st.navigation(PAGES, expanded=True)   # every page in sight: a class looks for Teacher, Reports...
st.session_state["class_page_path"] = page.url_path  # for links: the app's address without the page
classmode.sidebar()
# Every page view makes sure the server's run manager polls (runs a restarted server finds queued
# start at once, whichever page the first visitor opens) and that the heavy imports are under way.
run_manager()
warm_up()
page.run()
