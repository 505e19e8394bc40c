"""The Search page's last section: train the best configuration a search found, fully, once or as repeats."""
import streamlit as st

from cifar_tf.runs.repeats import REPEATS, submit_repeats
from cifar_tf.search import results
from cifar_tf.search.space import OBJECTIVE
from cifar_tf.validation import InvalidArgument
from cifar_tf.training.config import LIMITS
from cifar_tf.views import search as report
from cifar_tf.views.bounds import widget_bounds
from cifar_tf.views.formatting import escape_markdown
from pages.classmode import challenge_refusal
from pages.common import run_manager


def train_best(search, best):
    st.subheader("Train the best configuration fully")
    values = escape_markdown(", ".join(f"{k} = {report.format_value(v)}" for k, v in best["values"].items()))
    st.markdown(f"Trial **{best['trial']}** scored {best[OBJECTIVE]:.1%} on validation with {values}. "
                "A full training uses every training image (the same validation images still held out) and as "
                "many epochs as you choose.")
    c1, c2, c3 = st.columns([1, 1, 3], vertical_alignment="bottom")
    epochs = c1.number_input("Epochs", value=search.space["epochs"], **widget_bounds(LIMITS["epochs"]),
                             key=f"search_best_epochs_{search.id}")
    repeats = c2.number_input("Repeat ×", min_value=REPEATS.low, max_value=REPEATS.high, value=1, key=f"search_best_repeats_{search.id}",
                              help="Train it N times with different seeds: is its lead more than seed noise?")
    try:
        config, unusable = results.best_config(search, epochs=epochs), None
    except (InvalidArgument, LookupError, ValueError, OSError) as problem:
        config, unusable = None, problem
    # Under a class challenge this run (every training image) is often refused: then say so on the button.
    refused = challenge_refusal([config]) if config is not None else None
    if c3.button("Train the best configuration fully", type="primary", icon=":material/model_training:",
                 key=f"search_train_best_{search.id}", disabled=refused is not None,
                 help=escape_markdown(refused) if refused else
                 "A normal run on every training image with these values, started on the Train page."):
        try:
            if unusable is not None:
                raise unusable
            run = submit_repeats(run_manager(), config, int(repeats), name=f"{search.name} · best (trial {best['trial']})")[0]
        except (InvalidArgument, LookupError, ValueError, OSError) as problem:
            st.error(f"Could not start the run: {escape_markdown(problem)}")
        else:
            st.session_state[f"search_best_run_{search.id}"] = run.id
    if run_id := st.session_state.get(f"search_best_run_{search.id}"):
        st.page_link("pages/train.py", label="Watch it on the Train page", icon=":material/arrow_forward:",
                     query_params={"run": run_id})
