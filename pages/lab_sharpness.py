from datetime import timedelta

import pandas as pd
import streamlit as st

from cifar_tf.data.cifar10 import CorruptDataset, DatasetNotFound
from cifar_tf.labs import measures, sam_pairs
from cifar_tf.labs.sharpness import LIMITS
from cifar_tf.models.registry import ARCHITECTURES
from cifar_tf.runs.store import ACTIVE_STATUSES, FINISHED_STATUSES
from cifar_tf.training.config import OPTIMIZERS
from cifar_tf.validation import InvalidArgument
from cifar_tf.views import labs as charts
from cifar_tf.views.bounds import widget_bounds
from cifar_tf.views.formatting import escape_markdown
from pages.classmode import challenge_refusal
from pages.common import list_runs, run_label, run_manager

st.title("Sharpness and SAM")
st.markdown(
    "Two networks can reach the same training loss in very different places: at the bottom of a "
    "narrow ravine (a *sharp* minimum) or of a wide valley (a *flat* one), and flat minima tend to "
    "generalise better. **Sharpness-aware minimisation** (SAM, Foret et al. 2020) looks for flat "
    "ones: at each step it first moves the weights a distance ρ uphill, then takes the gradient "
    "there. Train the same network with and without SAM and compare how sharp their minima are.")



runs = list_runs()
pairs = sam_pairs.sam_pairs(runs)

# ---------------------------------------------------------------- train a pair
with st.expander("Train a pair: one network, with and without SAM", expanded=not pairs,
                 icon=":material/model_training:"):
    with st.form("sam_pair_form", border=False):
        arch_col, epochs_col, images_col, val_col = st.columns(4)
        start, offer, limits = sam_pairs.PAIR_DEFAULTS, sam_pairs.PAIR_CHOICES, sam_pairs.PAIR_LIMITS
        names = list(ARCHITECTURES)
        arch = arch_col.selectbox("Architecture", names, index=names.index(start["arch"]))
        epochs = epochs_col.number_input("Epochs", value=start["epochs"], **widget_bounds(limits["epochs"]))
        train_limit = images_col.select_slider("Training images", offer["train_limit"], start["train_limit"])
        val_size = val_col.select_slider("Validation images", offer["val_size"], start["val_size"])
        opt_col, lr_col, seed_col, rho_col = st.columns(4)
        optimizer = opt_col.selectbox("Optimizer", OPTIMIZERS, index=OPTIMIZERS.index(start["optimizer"]))
        lr = lr_col.select_slider("Learning rate", offer["lr"], start["lr"])
        seed = seed_col.number_input("Seed", value=start["seed"], **widget_bounds(limits["seed"]),
                                     help="Both runs use it: same start, same batches.")
        rho = rho_col.slider("SAM radius ρ", value=start["rho"], step=0.01, **widget_bounds(limits["rho"], smallest=0.01),
                             help="How far uphill SAM looks before each step. 0.05 is the paper's default.")
        st.caption("Both runs are queued and train one after the other. SAM computes two gradients per "
                   "step, so its run takes about twice as long.")
        try:  # under a class challenge, a pair no choice on this form could make is refused: say so at once
            refused = challenge_refusal(sam_pairs.pair_configs(sam_pairs.pair_config(
                arch=arch, epochs=epochs, train_limit=train_limit, val_size=val_size, optimizer=optimizer, lr=lr,
                seed=seed), rho), free=sam_pairs.PAIR_FORM_FIELDS)
        except (InvalidArgument, ValueError):
            refused = None  # the submission says what is wrong
        submitted = st.form_submit_button("Train both", type="primary", icon=":material/play_arrow:",
                                          disabled=refused is not None,
                                          help=escape_markdown(refused) if refused else None)
    if submitted:
        try:
            config = sam_pairs.pair_config(arch=arch, epochs=epochs, train_limit=train_limit, val_size=val_size,
                                           optimizer=optimizer, lr=lr, seed=seed)
            pair_id, _, _ = sam_pairs.submit_pair(run_manager(), config, rho)
        except (InvalidArgument, ValueError) as error:
            st.error(f"Cannot start the pair: {escape_markdown(error)}")
        else:
            st.session_state["sam_pair_pick"] = pair_id  # the picker below shows the new pair
            st.rerun()

# ---------------------------------------------------------------- the pairs


def pair_status(pair_id):
    """The two runs of a pair side by side; refreshes itself while one of them trains, and once
    both are done redraws the page once, so that the comparison below takes them up."""
    pair = next((p for p in sam_pairs.sam_pairs(list_runs(warn=False)) if p["id"] == pair_id), None)
    if pair is None:
        return
    for column, role, title in zip(st.columns(2), ("plain", "sam"), ("Without SAM", "With SAM")):
        run = pair[role]
        with column.container(border=True):
            if run is None:
                st.markdown(f"**{title}**: missing (deleted?)")
                continue
            rho_text = f" (ρ = {run.record['config'].get('sam_rho', 0):g})" if role == "sam" else ""
            st.markdown(f"**{title}{rho_text}** · {escape_markdown(run.name)}")
            if run.status in ACTIVE_STATUSES:
                total = (run.record.get("config") or {}).get("epochs") or 1
                done = run.record.get("epochs_completed") or 0
                st.progress(done / total, text=f"{run.status}: epoch {done} of {total}")
            elif run.status == "failed":
                st.error(f"failed: {escape_markdown(run.record.get('error'))}")
            accuracy = (run.record.get("metrics") or {}).get("test_accuracy")
            measured = measures.cached(run, "sharpness") or {}
            a, s = st.columns(2)
            a.metric("Test accuracy", "—" if accuracy is None else f"{accuracy:.1%}")
            s.metric(f"Sharpness (ρ {measures.SHARPNESS_DEFAULTS['rho']:g})",
                     "—" if "sharpness" not in measured else f"{measured['sharpness']:.3f}")
    if sam_pairs.pair_active(pair):
        return
    if st.session_state.pop("sam_pair_training", None) == pair_id:
        st.rerun()  # the whole page, once: its timer goes off and the comparison shows the pair
    st.caption("Both runs are done: compare them below.")


if pairs:
    st.subheader("SAM pairs")
    by_pair = {p["id"]: p for p in pairs}
    if st.session_state.get("sam_pair_pick") not in by_pair:
        st.session_state["sam_pair_pick"] = pairs[0]["id"]
    # The options are ids, not the pairs: a widget's stored choice must never outlive the runs it names.
    chosen_id = st.selectbox("Pair", list(by_pair), key="sam_pair_pick",
                             format_func=lambda i: sam_pairs.pair_label(by_pair[i]))
    chosen_pair = by_pair[chosen_id]
    training = sam_pairs.pair_active(chosen_pair)
    if training:
        st.session_state["sam_pair_training"] = chosen_id
    # Refreshes itself every few seconds, only while one of the two trains.
    st.fragment(pair_status, run_every=timedelta(seconds=3) if training else None)(chosen_id)
else:
    chosen_pair = None

# ---------------------------------------------------------------- compare two runs
st.subheader("Compare two runs")
finished = [r for r in runs if r.status in FINISHED_STATUSES and r.model_path.exists()]
if not finished:
    st.info("No finished run with a saved model yet. Train a pair above, or any run on the Train page.")
    st.stop()
by_id = {r.id: r for r in finished}
defaults = [chosen_pair[role] for role in ("plain", "sam")
            if chosen_pair and chosen_pair[role] and chosen_pair[role].id in by_id]
# Until both runs of the pair are done, the newest other finished runs fill in: never a run against itself.
defaults += [r for r in finished if r not in defaults][:2 - len(defaults)]
# Keyed by the defaults, so the pickers follow the pair chosen above, and switch to it once it has finished.
suffix = "-".join(r.id for r in defaults)
left_col, right_col, rho_col = st.columns([2, 2, 1], vertical_alignment="bottom")
left = left_col.selectbox("Run", list(by_id), index=list(by_id).index(defaults[0].id), key=f"sam_left_{suffix}",
                          format_func=lambda i: run_label(by_id[i]))
right = right_col.selectbox("against", list(by_id), index=list(by_id).index(defaults[-1].id),
                            key=f"sam_right_{suffix}", format_func=lambda i: run_label(by_id[i]))
measure_rho = rho_col.number_input("ρ for measuring", value=measures.SHARPNESS_DEFAULTS["rho"], step=0.01, format="%.3f",
                                   key="sam_measure_rho", **widget_bounds(LIMITS["rho"], smallest=0.001),
                                   help="Radius of the ball searched for the worst loss around the weights.")
chosen = [by_id[left]] + ([by_id[right]] if right != left else [])

if st.button("Measure sharpness", icon=":material/straighten:", key="sam_measure"):
    for run in chosen:
        with st.spinner(f"Measuring {run.name}: a few gradient ascent steps and Hessian-vector products "
                        "on 512 training images (seconds to a minute on a CPU)…"):
            try:
                measures.measure_run(run, rho=measure_rho)
            except (DatasetNotFound, CorruptDataset, LookupError, ValueError) as error:
                st.error(f"{escape_markdown(run.name)}: {escape_markdown(error)}")
st.dataframe(pd.DataFrame(sam_pairs.comparison_rows(chosen, rho=measure_rho)), hide_index=True, width="stretch",
             placeholder="not measured yet", column_config={"test accuracy": st.column_config.NumberColumn(format="percent"),
                            "SAM ρ": st.column_config.NumberColumn(format="%.3g"),
                            "training loss": st.column_config.NumberColumn(format="%.4f"),
                            "sharpness": st.column_config.NumberColumn(format="%.4f"),
                            "λ max": st.column_config.NumberColumn(
                                format="%.1f", help="The largest eigenvalue of the Hessian of the training loss")})
st.caption(f"**Sharpness**: how much the training loss can rise when the weights move at most ρ = "
           f"{measure_rho:g} (in L2 norm), found by projected gradient ascent. **Top Hessian eigenvalue**: "
           "the curvature of the loss along its steepest direction (λ max). Both on the same 512 training images, "
           "with the network in inference mode; smaller means flatter.")

st.markdown("##### Loss landscape")
st.caption("The training loss as the weights move along random directions, each filter's step scaled to that "
           "filter's size (Li et al. 2018), so that different networks can be compared. A flat minimum "
           "shows as a wide basin.")
dims_col, button_col = st.columns([1, 3], vertical_alignment="bottom")
dims = dims_col.segmented_control("Directions", [1, 2], default=1, key="sam_dims",
                                  format_func=lambda d: "1-D line" if d == 1 else "2-D plane") or 1
if button_col.button("Draw the landscape", icon=":material/landscape:", key="sam_landscape"):
    for run in chosen:
        with st.spinner(f"Evaluating {run.name} at {21 if dims == 1 else 121} points…"):
            try:
                measures.run_landscape(run, dims=dims)
            except (DatasetNotFound, CorruptDataset, LookupError, ValueError) as error:
                st.error(f"{escape_markdown(run.name)}: {escape_markdown(error)}")
kind = f"landscape{dims}d"
drawn = {run.name: measures.cached(run, kind) for run in chosen}
drawn = {name: result for name, result in drawn.items() if result}
if not drawn:
    st.info("Press **Draw the landscape** to compute it (it is kept with the run for next time).")
elif dims == 1:
    st.altair_chart(charts.landscape_1d_chart(drawn), width="stretch")
else:
    st.altair_chart(charts.landscape_2d_charts(drawn), width="content")
    st.caption("Dark: low loss, yellow: high, with the same colours for both runs; the cross marks the "
               "trained weights. Hover for values.")
