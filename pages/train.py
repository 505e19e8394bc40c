import streamlit as st

from cifar_tf.architectures import ARCHITECTURES, WeightsUnavailable, count_params, editable_hyperparameters
from cifar_tf.augment import AUGMENT_PRESETS
from cifar_tf.config import OPTIMIZERS, PRESETS, SCHEDULES, TrainConfig, parse_value, preset_config
from cifar_tf.monitor import format_seconds, live_chart, live_frames, progress
from cifar_tf.runs import ACTIVE_STATUSES, RunNotFound, load_run
from cifar_tf.validation import InvalidArgument
from pages.common import list_runs, run_label, run_manager, runs_dir

st.title("Train")
DEFAULTS = TrainConfig()


def use_preset(name):
    config = preset_config(name)
    for field, value in config.to_dict().items():
        st.session_state[f"cfg_{field}"] = value
    st.session_state.cfg_dropout_on = config.dropout is not None
    st.session_state.cfg_dropout = config.dropout if config.dropout is not None else 0.3
    st.session_state.cfg_sam = bool(config.sam_rho)
    st.session_state.cfg_sam_rho = config.sam_rho or 0.05
    for key, default in editable_hyperparameters(config.arch).items():
        value = config.arch_params.get(key, default)
        st.session_state[f"hp_{config.arch}_{key}"] = "" if value is None and key != "weights" \
            else _as_widget_value(value)


def _as_widget_value(value):
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else value


for field, value in DEFAULTS.to_dict().items():
    st.session_state.setdefault(f"cfg_{field}", value)
st.session_state.setdefault("cfg_dropout_on", False)
st.session_state.setdefault("cfg_sam", False)
if st.session_state.cfg_dropout is None:
    st.session_state.cfg_dropout = 0.3
if not st.session_state.cfg_sam_rho:
    st.session_state.cfg_sam_rho = 0.05  # shown when SAM is switched on

st.caption("Presets fill in every setting below in one click; change anything before you start.")
preset_columns = st.columns(len(PRESETS))
for column, (name, preset) in zip(preset_columns, PRESETS.items()):
    column.button(name, on_click=use_preset, args=(name,), help=preset["description"], width="stretch")

setup, watch = st.columns([5, 6], gap="large")
with setup:
    arch = st.selectbox("Architecture", list(ARCHITECTURES), key="cfg_arch",
                        format_func=lambda name: f"{name}: {ARCHITECTURES[name].description}")
    st.caption(f"Source: {ARCHITECTURES[arch].source}")
    arch_params = {}
    with st.expander("Architecture hyperparameters"):
        for key, default in editable_hyperparameters(arch).items():
            widget_key = f"hp_{arch}_{key}"
            if key == "weights":
                value = st.selectbox(key, [None, "imagenet"], key=widget_key,
                                     format_func=lambda w: "none (random init)" if w is None else w)
            elif isinstance(default, bool):
                value = st.checkbox(key, value=st.session_state.get(widget_key, default), key=widget_key)
            elif isinstance(default, (int, float)):
                st.session_state.setdefault(widget_key, default)
                value = st.number_input(key, key=widget_key, format="%d" if isinstance(default, int) else "%g")
            else:
                st.session_state.setdefault(widget_key, "" if default is None else _as_widget_value(default))
                text = st.text_input(key, key=widget_key,
                                     help="a number, a word like relu, a list like 64,128,256, or empty")
                value = parse_value(text) if text.strip() else None
            if value != default and value != _as_widget_value(default):
                arch_params[key] = value

    c1, c2, c3 = st.columns(3)
    c1.number_input("Epochs", min_value=1, max_value=1000, step=1, key="cfg_epochs")
    c2.selectbox("Batch size", [16, 32, 64, 128, 256, 512, 1024], key="cfg_batch_size")
    limits = [1000, 2000, 5000, 10000, 20000, 45000, 0]
    if st.session_state.cfg_train_limit not in limits:
        limits.insert(-1, st.session_state.cfg_train_limit)
    c3.selectbox("Training images", limits, key="cfg_train_limit",
                 format_func=lambda n: "all" if n == 0 else f"{n:,}",
                 help="A stratified subset of the training split, for short sessions.")

    c1, c2, c3 = st.columns(3)
    optimizer = c1.selectbox("Optimizer", OPTIMIZERS, key="cfg_optimizer")
    c2.number_input("Learning rate", min_value=1e-6, max_value=10.0, format="%g", key="cfg_lr")
    schedule = c3.selectbox("Schedule", SCHEDULES, key="cfg_schedule")
    c1, c2, c3 = st.columns(3)
    if optimizer in ("sgd", "rmsprop"):
        c1.number_input("Momentum", min_value=0.0, max_value=0.999, format="%g", key="cfg_momentum")
    if optimizer == "sgd":
        c2.checkbox("Nesterov", key="cfg_nesterov")
    if schedule in ("cosine", "onecycle"):
        c3.number_input("Warm-up epochs", min_value=0.0, max_value=float(st.session_state.cfg_epochs),
                        format="%g", key="cfg_warmup_epochs")
    if schedule in ("step", "exponential"):
        c2.number_input("Decay every (epochs)", min_value=0.1, format="%g", key="cfg_decay_every")
        c3.number_input("Decay factor", min_value=0.001, max_value=1.0, format="%g", key="cfg_decay_factor")

    with st.expander("Regularisation and augmentation", expanded=True):
        c1, c2 = st.columns(2)
        c1.number_input("Weight decay", min_value=0.0, max_value=1.0, format="%g", key="cfg_weight_decay")
        c2.number_input("Label smoothing", min_value=0.0, max_value=0.5, format="%g", key="cfg_label_smoothing")
        dropout_on = c1.checkbox("Set dropout", key="cfg_dropout_on", help="Otherwise the architecture's own")
        if dropout_on:
            c2.slider("Dropout", 0.0, 0.9, step=0.05, key="cfg_dropout")
        augment = st.text_input("Augmentation", key="cfg_augment",
                                help="A preset (" + ", ".join(AUGMENT_PRESETS) + ") and/or settings like "
                                     "flip,crop=4,rotation=15,cutout=8")
        c1, c2 = st.columns(2)
        sam = c1.toggle("SAM", key="cfg_sam", help="Sharpness-aware minimisation: two passes per step, "
                                                    "seeking flat minima (Foret et al. 2020).")
        if sam:
            c2.number_input("SAM rho", min_value=0.001, max_value=5.0, format="%g", key="cfg_sam_rho")
        c1.number_input("Early stopping", min_value=0, step=1, key="cfg_early_stopping",
                        help="Patience in epochs on validation accuracy, best weights restored; 0 is off.")
        if "freeze_base" in editable_hyperparameters(arch):
            c2.number_input("Fine-tuning epochs after a frozen base", min_value=0, step=1,
                            key="cfg_fine_tune_epochs")

    with st.expander("Advanced"):
        c1, c2, c3 = st.columns(3)
        c1.number_input("Validation images", min_value=0, step=500, key="cfg_val_size")
        c2.number_input("Seed", min_value=0, step=1, key="cfg_seed")
        c3.number_input("Log every (batches)", min_value=1, step=1, key="cfg_log_every")
        c1.selectbox("Mixed precision", ["auto", "off", "bf16", "fp16"], key="cfg_mixed_precision")
        c2.selectbox("XLA", ["auto", "on", "off"], key="cfg_xla")

    values = {field: st.session_state[f"cfg_{field}"] for field in DEFAULTS.to_dict()
              if f"cfg_{field}" in st.session_state}
    values.update(arch_params=arch_params,
                  dropout=st.session_state.cfg_dropout if dropout_on else None,
                  sam_rho=st.session_state.cfg_sam_rho if sam else 0.0,
                  fine_tune_epochs=values["fine_tune_epochs"] if "freeze_base" in editable_hyperparameters(arch)
                  else 0)
    config, error = None, None
    try:
        config = TrainConfig(**values).validated()
        params = count_params(config.arch, **{**config.arch_params, **(
            {"dropout": config.dropout} if config.dropout is not None else {})})
        st.caption(f"**{params:,}** parameters")
    except InvalidArgument as invalid:
        error = f"{invalid.name}: {invalid.value!r} is not valid, expected {invalid.allowed}"
    except WeightsUnavailable as unavailable:
        error = str(unavailable)
    if error:
        st.error(error)

    name = st.text_input("Run name (optional)", max_chars=80, placeholder="e.g. resnet20 with cutout")
    if st.button("Start training", type="primary", icon=":material/play_arrow:", disabled=config is None):
        try:
            run = run_manager(str(runs_dir())).submit(config, name=name or None)
        except (InvalidArgument, WeightsUnavailable, ValueError, OSError) as problem:
            st.error(f"Could not start: {problem}")
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
        if run.status == "queued":
            position = run_manager(str(runs_dir())).queue_position(run.id)
            st.info(f"Queued: position {position or '?'} in line; it starts when a training slot is free.")
        elif run.status == "failed":
            st.error(f"This run failed: {run.record.get('error')}")
        elif run.status in ("completed", "stopped"):
            accuracy = (run.record.get("metrics") or {}).get("test_accuracy")
            st.success(f"{run.status.capitalize()}: test accuracy {accuracy:.1%}." if accuracy is not None
                       else f"{run.status.capitalize()}.")
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
                run_manager(str(runs_dir())).stop(run.id)
                st.toast("Stopping: the run finishes its batch, evaluates and saves.")
        elif active:
            st.rerun()  # it just finished: redraw the page without the timer

    live_view(watched)
