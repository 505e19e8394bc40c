import streamlit as st

from cifar_tf.classroom.budget import within_budget
from cifar_tf.classroom.roles import owner_name, read_only_reason
from cifar_tf.data.augment import AUGMENT_PRESETS
from cifar_tf.data.cifar10 import CorruptDataset, DatasetNotFound, find_dataset
from cifar_tf.models.registry import ARCHITECTURES, editable_hyperparameters, pretrained
from cifar_tf.runs.liveness import executor_kind
from cifar_tf.runs.progress import progress
from cifar_tf.runs.repeats import REPEATS, submit_repeats
from cifar_tf.runs.store import ACTIVE_STATUSES, RunNotFound, clean_name, default_name, load_run
from cifar_tf.training.config import architecture_params
from cifar_tf.training.presets import PRESETS, preset_config
from cifar_tf.validation import InvalidArgument
from cifar_tf.views import train_form as form
from cifar_tf.views.formatting import escape_markdown, format_seconds, trained_with, waiting_reason, where_it_runs
from cifar_tf.views.live import LiveRun
from pages.classmode import (
    apply_config_link,
    config_link,
    copy_box,
    form_rules,
    gate,
    link_problems,
    page_link,
    queue_place,
)
from pages.common import (classroom, data_dir, list_runs, request_stop, run_label, run_manager, runs_dir,
                          viewer)
from pages.train_tools import lr_finder, preset_note, run_knobs

st.title("Train")


def use_preset(name):
    st.session_state.update(form.form_state(preset_config(name)), train_preset=name)


rules = form_rules()  # a challenge shows only what students may change
rules_changed = rules.prepare(st.session_state)
apply_config_link(rules)


@st.cache_data(show_spinner="Counting the parameters…", max_entries=256)
def parameter_count(arch, params):
    from cifar_tf.models.registry import count_params

    return count_params(arch, **dict(params))


if rules.challenge:
    st.info(escape_markdown(rules.summary()), icon=":material/flag:")
else:
    st.caption("Presets fill in every setting below in one click; change anything before you start.")
    preset_columns = st.columns(len(PRESETS))
    for column, (name, preset) in zip(preset_columns, PRESETS.items()):
        column.button(name, on_click=use_preset, args=(name,), help=preset["description"], width="stretch")
    preset_note(st.session_state.get("train_preset"))
link_problems()

setup, watch = st.columns([5, 6], gap="large")
with setup:
    arch = gate(st, rules).selectbox("Architecture", rules.archs(list(ARCHITECTURES)), key="cfg_arch",
                                     format_func=lambda name: f"{name}: {ARCHITECTURES[name].description}")
    fixed = "" if rules.shows("cfg_arch") else f"{arch}, set by the challenge. "
    st.caption(f"{fixed}Source: {ARCHITECTURES[arch].source}")
    hyperparameters = editable_hyperparameters(arch) if rules.opens("arch_params") else {}
    with st.expander("Architecture hyperparameters") if hyperparameters else st.container():
        for name, default in hyperparameters.items():
            key = form.hp_key(arch, name)
            st.session_state.setdefault(key, form.widget_value(name, default, default))
            kind = form.widget_kind(name, default)
            if kind == "weights":
                st.selectbox(name, form.WEIGHTS, key=key, format_func=lambda w: "none (random init)" if w is None else w)
            elif kind == "switch":
                st.checkbox(name, key=key)
            elif kind == "int":
                st.number_input(name, key=key, step=1, **form.hp_bounds(arch, name))  # int step: an integer box
            elif kind == "float":
                st.number_input(name, key=key, format="%.4g", **form.hp_bounds(arch, name))
            else:
                st.text_input(name, key=key, help="a number, a word like relu, a list like 64,128,256, or empty")

    c1, c2, c3 = gate(st.columns(3), rules)
    c1.number_input("Epochs", step=1, key="cfg_epochs", **rules.number_bounds("epochs"))
    c2.selectbox("Batch size", form.batch_size_options(st.session_state.get("cfg_batch_size")), key="cfg_batch_size")
    c3.selectbox("Training images", rules.train_limits(form.train_limit_options(st.session_state.cfg_train_limit)),
                 key="cfg_train_limit",
                 format_func=lambda n: "all" if n == 0 else f"{n:,}",
                 help="A stratified subset of the training split, for short sessions.")

    c1, c2, c3 = gate(st.columns(3), rules)
    optimizer = c1.selectbox("Optimizer", form.choices("optimizer"), key="cfg_optimizer")
    c2.number_input("Learning rate", format="%.4g", key="cfg_lr", **form.number_bounds("lr"))
    schedule = c3.selectbox("Schedule", form.choices("schedule"), key="cfg_schedule")
    c1, c2, c3 = gate(st.columns(3), rules)
    if optimizer in ("sgd", "rmsprop"):
        c1.number_input("Momentum", format="%.4g", key="cfg_momentum", **form.number_bounds("momentum"))
    if optimizer == "sgd":
        c2.checkbox("Nesterov", key="cfg_nesterov")
    if schedule in ("cosine", "onecycle"):
        c3.number_input("Warm-up epochs", format="%.4g", key="cfg_warmup_epochs",
                        **form.number_bounds("warmup_epochs", high=st.session_state.cfg_epochs))
    if schedule in ("step", "exponential", "drop"):
        c2.number_input("Decay every (epochs)", format="%.4g", key="cfg_decay_every", **form.number_bounds("decay_every"))
        c3.number_input("Decay factor", format="%.4g", key="cfg_decay_factor", **form.number_bounds("decay_factor"))

    with st.expander("Regularisation and augmentation", expanded=True) if rules.shows_section("regularisation") \
            else st.container():
        c1, c2 = gate(st.columns(2), rules)
        c1.number_input("Weight decay", format="%.4g", key="cfg_weight_decay", **form.number_bounds("weight_decay"))
        c2.number_input("Label smoothing", format="%.4g", key="cfg_label_smoothing",
                        **form.number_bounds("label_smoothing"))
        if c1.checkbox("Set dropout", key="cfg_dropout_on", help="Otherwise the architecture's own"):
            c2.slider("Dropout", step=0.05, key="cfg_dropout", **form.number_bounds("dropout"))
        gate(st, rules).text_input("Augmentation", key="cfg_augment",
                                   help="A preset (" + ", ".join(AUGMENT_PRESETS) + ") and/or settings like "
                                        "flip,crop=4,rotation=15,cutout=8")
        c1, c2 = gate(st.columns(2), rules)
        if c1.toggle("SAM", key="cfg_sam", help="Sharpness-aware minimisation: two passes per step, "
                                                 "seeking flat minima (Foret et al. 2020)."):
            c2.number_input("SAM rho", format="%.4g", key="cfg_sam_rho", **form.number_bounds("sam_rho"))
        c1.number_input("Early stopping", step=1, key="cfg_early_stopping", **form.number_bounds("early_stopping"),
                        help="Patience in epochs on validation accuracy, best weights restored; 0 is off.")
        if pretrained(arch):
            c2.number_input("Fine-tuning epochs after a frozen base", step=1, key="cfg_fine_tune_epochs",
                            **form.number_bounds("fine_tune_epochs"))

    with st.expander("Advanced") if rules.shows_section("advanced") else st.container():
        c1, c2, c3 = gate(st.columns(3), rules)
        c1.number_input("Validation images", step=500, key="cfg_val_size", placeholder="5,000 or a tenth",
                        help="Taken from the training images. Empty: 5,000, or a tenth of them if fewer.",
                        **form.number_bounds("val_size"))
        c2.number_input("Seed", step=1, key="cfg_seed", **form.number_bounds("seed"))
        c3.number_input("Log every (batches)", step=1, key="cfg_log_every", **form.number_bounds("log_every"))
        c1.selectbox("Mixed precision", form.choices("mixed_precision"), key="cfg_mixed_precision")
        c2.selectbox("XLA", form.choices("xla"), key="cfg_xla")
        c3.selectbox("Keras backend", form.choices("backend"), key="cfg_backend",
                     help="auto: the lab's default (CIFAR_TF_BACKEND). The run records the backend, device "
                          "and precision it trained with.")

    config, error = rules.config(st.session_state)
    if config is not None:
        try:
            params = parameter_count(config.arch, tuple(sorted(architecture_params(config).items())))
            st.caption(f"**{params:,}** parameters")
        except (InvalidArgument, RuntimeError, TypeError, ValueError) as problem:
            config, error = None, str(problem)
    if error:
        st.error(escape_markdown(error))
    lr_finder(config, rules)
    try:
        find_dataset(data_dir())
        missing = None
    except (DatasetNotFound, CorruptDataset) as problem:
        missing = problem
        st.warning("CIFAR-10 is not on this machine yet, so nothing can train. Download it with the button on "
                   "the Home page, or start the app with `CIFAR10_DIR=/path/to/folder` (the folder holding "
                   "`cifar-10-batches-py`).", icon=":material/database_off:")
        st.page_link("pages/home.py", label="Download CIFAR-10 on the Home page", icon=":material/download:")

    name = st.text_input("Run name (optional)", max_chars=80, key="train_name",
                         placeholder=default_name(arch, st.session_state.get("train_preset")))
    if name.strip() and clean_name(name) in {run.name for run in list_runs(warn=False)}:
        st.caption(f"Another run is called “{escape_markdown(clean_name(name))}”: this one will get a number after it.")
    start_col, repeat_col = st.columns([3, 2], vertical_alignment="bottom")
    repeats = repeat_col.number_input("Repeat ×", min_value=REPEATS.low, max_value=REPEATS.high, value=1, key="train_repeats",
                                      help="Train these settings N times with seeds SEED, SEED+1, ...: one group whose "
                                           "spread shows on the Repeats page.")
    start = start_col.button("Start training", type="primary", icon=":material/play_arrow:",
                             disabled=config is None or missing is not None)
    if start and rules_changed:  # pressed on the form as it was before the challenge changed
        st.warning("The teacher just changed the challenge, and the settings with it: check them, then start again.")
    elif start:
        try:
            run = submit_repeats(run_manager(), config, int(repeats),
                                 name=name.strip() or default_name(arch, st.session_state.get("train_preset")))[0]
        except (InvalidArgument, RuntimeError, ValueError, OSError) as problem:
            st.error(f"Could not start: {escape_markdown(problem)}")
        else:
            st.query_params["run"] = run.id
            st.session_state["train_started"] = run.id
            st.rerun()
    if config is not None:
        with st.popover("Link to these settings", icon=":material/link:"):
            copy_box("Opens the Train page with these settings filled in.", config_link(config))

    if started := st.session_state.get("train_started"):
        @st.fragment(run_every=1.0)
        def just_started(run_id):
            """Right under Start, where the eye is: what the new run is doing until its curves begin."""
            try:
                run = load_run(run_id, runs_dir())
            except RunNotFound:
                st.session_state.pop("train_started", None)
                return
            if run.status == "queued":
                position = run_manager().queue_position(run.id)
                st.info(f"“{escape_markdown(run.name)}” is queued: position {position or '?'} in line.",
                        icon=":material/hourglass_top:")
            elif run.status == "running" and run.record.get("phase") not in (None, "training"):
                st.info(f"“{escape_markdown(run.name)}” started: {escape_markdown(run.record['phase'])}…",
                        icon=":material/autorenew:")
            else:
                st.session_state.pop("train_started", None)
                st.rerun()  # it trains (or ended): the watch panel has it, and this stops refreshing

        just_started(started)

with watch:
    st.subheader("Watch a run")
    runs = list_runs()
    if not runs:
        st.info("No runs yet. Choose settings on the left and press **Start training**.")
        st.stop()
    ids = [run.id for run in runs]
    wanted = st.query_params.get("run")
    labels = {run.id: run_label(run) for run in runs}
    # The picker follows the address when it names another run (a link, a run just started), and
    # the address follows the picker; with a key, a pick never bounces back.
    if wanted in ids and st.session_state.get("train_watched_link") != wanted:
        st.session_state.update(train_watched=wanted, train_watched_link=wanted)
    if st.session_state.get("train_watched") not in ids:
        st.session_state["train_watched"] = ids[0]
    watched = st.selectbox("Run", ids, key="train_watched", format_func=labels.get)
    st.query_params["run"] = watched
    with st.popover("Link to this run", icon=":material/link:"):
        copy_box("Opens this run on the Train page; others can watch it but not stop it.",
                 page_link("train", {"run": watched}))
    active = next(r for r in runs if r.id == watched).status in ACTIVE_STATUSES
    live = st.session_state.setdefault("train_live", {})
    if watched not in live:
        live.clear()  # one watched run per session: its records, read incrementally
        live[watched] = LiveRun(next(r for r in runs if r.id == watched).path,
                                browser_here=st.context.ip_address is None)  # its redraw costs the server's CPU

    @st.fragment(run_every=live[watched].pacer.interval if active else None)  # measured: views/live.py
    def live_view(run_id):
        try:
            run = load_run(run_id, runs_dir())
        except RunNotFound:
            st.warning("This run no longer exists.")
            return
        curves = live[run_id]
        curves.refresh(run.record.get("steps_per_epoch"))
        state = progress(run, curves.last_step, curves.epochs_completed)
        on_ray = executor_kind(run) == "ray"
        if run.status == "queued" and on_ray:
            st.info(f"Queued: {escape_markdown(where_it_runs(run))}.")
            if waiting_reason(run):  # no node of the cluster can hold it: Ray would say nothing
                st.warning(f"This run cannot start as things are: {escape_markdown(waiting_reason(run))}.",
                           icon=":material/block:")
        elif run.status == "queued":
            position, wait = queue_place(run.id)
            when = f"in about {format_seconds(wait)}" if wait is not None else "when a training slot is free"
            st.info(f"Queued: position {position or '?'} in line; it starts {when}.")
        elif run.status == "failed":
            st.error(f"This run failed: {escape_markdown(run.record.get('error'))}")
        elif run.status in ("completed", "stopped"):
            accuracy = (run.record.get("metrics") or {}).get("test_accuracy")
            st.success(f"{run.status.capitalize()}: test accuracy {accuracy:.1%}." if accuracy is not None
                       else f"{run.status.capitalize()}.")
        elif state["phase"] and state["phase"] != "training":
            st.info(f"{escape_markdown(state['phase'].capitalize())}…", icon=":material/autorenew:")
        if run.status == "running" and on_ray:
            st.caption(f"Training {escape_markdown(where_it_runs(run))}")
        if trained_with(run):
            st.caption(escape_markdown(trained_with(run)))
        label = f"Epoch {state['epoch']} of {state['epochs']}" if state["epochs"] else "Starting…"
        st.progress(state["fraction"], text=label)
        m1, m2, m3 = st.columns(3)
        m1.metric("Images/s", f"{state['images_per_second']:,.0f}" if state["images_per_second"] else "–")
        m2.metric("Elapsed", format_seconds(state["elapsed"]))
        # A class's time budget stops a run whatever its steps say: the time left is the shorter.
        m3.metric("Time left", format_seconds(within_budget(run, state["eta_seconds"])) if run.status == "running"
                  else "–")
        if curves.points or curves.epochs:
            for metric in ("loss", "accuracy"):
                st.vega_lite_chart(curves.spec(metric, epochs=state["epochs"], final=run.status not in ACTIVE_STATUSES),
                                   width="stretch")
        elif run.status == "running":
            st.caption("The first curve points appear after a few batches.")
        if run.status in ACTIVE_STATUSES:
            st.caption(curves.pacer.describe())
        owner, read_only = owner_name(run, classroom().names()), read_only_reason(viewer(), run)
        if owner:
            st.caption(f"Started by {escape_markdown(owner)}.")
        if run.status in ACTIVE_STATUSES and read_only:
            st.caption(escape_markdown(read_only))
        elif run.status in ACTIVE_STATUSES:
            if st.button("Stop", icon=":material/stop:", key=f"stop_{run.id}",
                         help="Finishes the current batch, evaluates and saves what it learnt."):
                request_stop(run.id)
        elif active:
            st.rerun()  # it just finished: redraw the page without the timer
        run_knobs(run, read_only)   # its learning rate, pause and resume; forks
        if curves.refreshed() and run.status in ACTIVE_STATUSES:
            st.rerun()  # the pacer chose another interval: a full rerun sets the fragment's timer

    live_view(watched)
