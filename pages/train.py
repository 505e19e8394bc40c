import streamlit as st

from cifar_tf.data.augment import AUGMENT_PRESETS
from cifar_tf.models.registry import ARCHITECTURES, editable_hyperparameters, pretrained
from cifar_tf.runs.liveness import executor_kind
from cifar_tf.runs.progress import progress
from cifar_tf.runs.store import ACTIVE_STATUSES, RunNotFound, load_run
from cifar_tf.training.config import architecture_params
from cifar_tf.training.presets import PRESETS, preset_config
from cifar_tf.validation import InvalidArgument
from cifar_tf.views import train_form as form
from cifar_tf.views.formatting import escape_markdown, format_seconds, where_it_runs
from cifar_tf.views.live import live_chart, live_frames
from pages.common import list_runs, run_label, run_manager, runs_dir

st.title("Train")


def use_preset(name):
    st.session_state.update(form.form_state(preset_config(name)))


for key, value in form.initial_state().items():
    st.session_state.setdefault(key, value)


@st.cache_data(show_spinner="Counting the parameters…", max_entries=256)
def parameter_count(arch, params):
    from cifar_tf.models.registry import count_params

    return count_params(arch, **dict(params))


st.caption("Presets fill in every setting below in one click; change anything before you start.")
preset_columns = st.columns(len(PRESETS))
for column, (name, preset) in zip(preset_columns, PRESETS.items()):
    column.button(name, on_click=use_preset, args=(name,), help=preset["description"], width="stretch")

setup, watch = st.columns([5, 6], gap="large")
with setup:
    arch = st.selectbox("Architecture", list(ARCHITECTURES), key="cfg_arch",
                        format_func=lambda name: f"{name}: {ARCHITECTURES[name].description}")
    st.caption(f"Source: {ARCHITECTURES[arch].source}")
    with st.expander("Architecture hyperparameters"):
        for name, default in editable_hyperparameters(arch).items():
            key = form.hp_key(arch, name)
            st.session_state.setdefault(key, form.widget_value(name, default, default))
            kind = form.widget_kind(name, default)
            if kind == "weights":
                st.selectbox(name, form.WEIGHTS, key=key, format_func=lambda w: "none (random init)" if w is None else w)
            elif kind == "switch":
                st.checkbox(name, key=key)
            elif kind in ("int", "float"):
                st.number_input(name, key=key, format="%d" if kind == "int" else "%g")
            else:
                st.text_input(name, key=key, help="a number, a word like relu, a list like 64,128,256, or empty")

    c1, c2, c3 = st.columns(3)
    c1.number_input("Epochs", step=1, key="cfg_epochs", **form.number_bounds("epochs"))
    c2.selectbox("Batch size", form.BATCH_SIZES, key="cfg_batch_size")
    c3.selectbox("Training images", form.train_limit_options(st.session_state.cfg_train_limit), key="cfg_train_limit",
                 format_func=lambda n: "all" if n == 0 else f"{n:,}",
                 help="A stratified subset of the training split, for short sessions.")

    c1, c2, c3 = st.columns(3)
    optimizer = c1.selectbox("Optimizer", form.choices("optimizer"), key="cfg_optimizer")
    c2.number_input("Learning rate", format="%g", key="cfg_lr", **form.number_bounds("lr"))
    schedule = c3.selectbox("Schedule", form.choices("schedule"), key="cfg_schedule")
    c1, c2, c3 = st.columns(3)
    if optimizer in ("sgd", "rmsprop"):
        c1.number_input("Momentum", format="%g", key="cfg_momentum", **form.number_bounds("momentum"))
    if optimizer == "sgd":
        c2.checkbox("Nesterov", key="cfg_nesterov")
    if schedule in ("cosine", "onecycle"):
        c3.number_input("Warm-up epochs", min_value=0.0, max_value=float(st.session_state.cfg_epochs),
                        format="%g", key="cfg_warmup_epochs")
    if schedule in ("step", "exponential"):
        c2.number_input("Decay every (epochs)", format="%g", key="cfg_decay_every", **form.number_bounds("decay_every"))
        c3.number_input("Decay factor", format="%g", key="cfg_decay_factor", **form.number_bounds("decay_factor"))

    with st.expander("Regularisation and augmentation", expanded=True):
        c1, c2 = st.columns(2)
        c1.number_input("Weight decay", format="%g", key="cfg_weight_decay", **form.number_bounds("weight_decay"))
        c2.number_input("Label smoothing", format="%g", key="cfg_label_smoothing",
                        **form.number_bounds("label_smoothing"))
        if c1.checkbox("Set dropout", key="cfg_dropout_on", help="Otherwise the architecture's own"):
            c2.slider("Dropout", 0.0, 0.9, step=0.05, key="cfg_dropout")
        st.text_input("Augmentation", key="cfg_augment",
                      help="A preset (" + ", ".join(AUGMENT_PRESETS) + ") and/or settings like "
                           "flip,crop=4,rotation=15,cutout=8")
        c1, c2 = st.columns(2)
        if c1.toggle("SAM", key="cfg_sam", help="Sharpness-aware minimisation: two passes per step, "
                                                 "seeking flat minima (Foret et al. 2020)."):
            c2.number_input("SAM rho", min_value=0.001, format="%g", key="cfg_sam_rho",
                            max_value=float(form.number_bounds("sam_rho")["max_value"]))
        c1.number_input("Early stopping", step=1, key="cfg_early_stopping", **form.number_bounds("early_stopping"),
                        help="Patience in epochs on validation accuracy, best weights restored; 0 is off.")
        if pretrained(arch):
            c2.number_input("Fine-tuning epochs after a frozen base", step=1, key="cfg_fine_tune_epochs",
                            **form.number_bounds("fine_tune_epochs"))

    with st.expander("Advanced"):
        c1, c2, c3 = st.columns(3)
        c1.number_input("Validation images", step=500, key="cfg_val_size", **form.number_bounds("val_size"))
        c2.number_input("Seed", step=1, key="cfg_seed", **form.number_bounds("seed"))
        c3.number_input("Log every (batches)", step=1, key="cfg_log_every", **form.number_bounds("log_every"))
        c1.selectbox("Mixed precision", form.choices("mixed_precision"), key="cfg_mixed_precision")
        c2.selectbox("XLA", form.choices("xla"), key="cfg_xla")

    config, error = form.config_from_form(st.session_state)
    if config is not None:
        try:
            params = parameter_count(config.arch, tuple(sorted(architecture_params(config).items())))
            st.caption(f"**{params:,}** parameters")
        except (InvalidArgument, RuntimeError, TypeError, ValueError) as problem:
            config, error = None, str(problem)
    if error:
        st.error(escape_markdown(error))

    name = st.text_input("Run name (optional)", max_chars=80, placeholder="e.g. resnet20 with cutout")
    if st.button("Start training", type="primary", icon=":material/play_arrow:", disabled=config is None):
        try:
            run = run_manager().submit(config, name=name or None)
        except (InvalidArgument, RuntimeError, ValueError, OSError) as problem:
            st.error(f"Could not start: {escape_markdown(problem)}")
        else:
            st.query_params["run"] = run.id
            st.rerun()

with watch:
    st.subheader("Watch a run")
    runs = list_runs()
    if not runs:
        st.info("No runs yet. Choose settings on the left and press **Start training**.")
        st.stop()
    ids = [run.id for run in runs]
    wanted = st.query_params.get("run")
    labels = {run.id: run_label(run) for run in runs}
    watched = st.selectbox("Run", ids, index=ids.index(wanted) if wanted in ids else 0, format_func=labels.get)
    st.query_params["run"] = watched
    active = next(r for r in runs if r.id == watched).status in ACTIVE_STATUSES

    @st.fragment(run_every=1.0 if active else None)
    def live_view(run_id):
        try:
            run = load_run(run_id, runs_dir())
        except RunNotFound:
            st.warning("This run no longer exists.")
            return
        state = progress(run)
        on_ray = executor_kind(run) == "ray"
        if run.status == "queued" and on_ray:
            st.info(f"Queued: {escape_markdown(where_it_runs(run))}.")
        elif run.status == "queued":
            position = run_manager().queue_position(run.id)
            st.info(f"Queued: position {position or '?'} in line; it starts when a training slot is free.")
        elif run.status == "failed":
            st.error(f"This run failed: {escape_markdown(run.record.get('error'))}")
        elif run.status in ("completed", "stopped"):
            accuracy = (run.record.get("metrics") or {}).get("test_accuracy")
            st.success(f"{run.status.capitalize()}: test accuracy {accuracy:.1%}." if accuracy is not None
                       else f"{run.status.capitalize()}.")
        if run.status == "running" and on_ray:
            st.caption(f"Training {escape_markdown(where_it_runs(run))}")
        label = f"Epoch {state['epoch']} of {state['epochs']}" if state["epochs"] else "Starting…"
        st.progress(state["fraction"], text=label)
        m1, m2, m3 = st.columns(3)
        m1.metric("Images/s", f"{state['images_per_second']:,.0f}" if state["images_per_second"] else "–")
        m2.metric("Elapsed", format_seconds(state["elapsed"]))
        m3.metric("Time left", format_seconds(state["eta_seconds"]) if run.status == "running" else "–")
        frame = live_frames(run)
        if len(frame):
            left, right = st.columns(2)
            left.altair_chart(live_chart(frame, "loss", epochs=state["epochs"]), width="stretch")
            right.altair_chart(live_chart(frame, "accuracy", epochs=state["epochs"]), width="stretch")
        elif run.status == "running":
            st.caption("Loading data and building the model; the first curve points appear after a few batches.")
        if run.status in ACTIVE_STATUSES:
            if st.button("Stop", icon=":material/stop:", key=f"stop_{run.id}",
                         help="Finishes the current batch, evaluates and saves what it learnt."):
                run_manager().stop(run.id)
                st.toast("Stopping: the run finishes its batch, evaluates and saves.")
        elif active:
            st.rerun()  # it just finished: redraw the page without the timer

    live_view(watched)
