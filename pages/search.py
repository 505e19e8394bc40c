import functools

import streamlit as st

from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.classroom.roles import owner_name, read_only_reason
from cifar_tf.models.registry import ARCHITECTURES
from cifar_tf.runs import store as runs_store
from cifar_tf.search import editor, process, results, store
from cifar_tf.search import space as spaces
from cifar_tf.search.space import OBJECTIVE, TUNER_LABELS
from cifar_tf.validation import InvalidArgument
from cifar_tf.views import search as report
from cifar_tf.views.bounds import widget_bounds
from cifar_tf.views.formatting import escape_markdown, plural
from cifar_tf.views.train_form import OPEN_LOW_STEP
from pages.common import data_dir, run_manager, runs_dir, viewer
from pages.search_best import train_best

PERCENT = dict(format="percent", min_value=0.0, max_value=1.0)
REFRESH_S = 3.0   # a trial takes minutes: every few seconds is live enough, and cheap for the trainer

st.title("Hyperparameter search")
st.caption("KerasTuner tries many settings for you. Each trial is a short training run, scored on "
           "validation images taken from the training set (the test set stays unseen), and saved like "
           "any other run. Train the best configuration fully when the search is done.")

searches = store.list_searches(runs_dir())


# --- start a search ------------------------------------------------------------------------------

def range_editor(name, spec, key, limit):
    """Widgets for one hyperparameter's range, within its `limit`; returns the edited spec."""
    if spec["type"] == "choice":
        options = editor.CHOICES.get(name, spec["values"])
        values = st.multiselect(f"{name}: try these", options, default=spec["values"], key=f"{key}_values")
        return {"type": "choice", "values": [v for v in options if v in values]}
    number = dict(step=1) if spec["type"] == "int" else dict(format="%g", step=None)
    number |= widget_bounds(limit, smallest=OPEN_LOW_STEP.get(name)) if limit else {}
    low_col, high_col, log_col = st.columns([2, 2, 1], vertical_alignment="bottom")
    low = low_col.number_input(f"{name}: from", value=spec["min"], key=f"{key}_min", **number)
    high = high_col.number_input(f"{name}: to", value=spec["max"], key=f"{key}_max", **number)
    log = log_col.checkbox("log scale", value=spec["sampling"] == "log", key=f"{key}_log",
                           help="Sample evenly in orders of magnitude, as suits learning rates.")
    edited = {"type": spec["type"], "min": low, "max": high, "sampling": "log" if log else "linear"}
    if spec.get("step") and not log:
        edited["step"] = spec["step"]
    return edited


def custom_space():
    """The custom space from the widgets: an architecture, and the hyperparameters chosen to vary."""
    arch = st.selectbox("Architecture", list(ARCHITECTURES), key="search_arch",
                        format_func=lambda a: f"{a}: {ARCHITECTURES[a].description}")
    ranges = {**editor.TRAINING_RANGES, **editor.architecture_ranges(arch)}
    chosen = st.multiselect("Hyperparameters to vary", list(ranges), default=["lr", "optimizer"],
                            key=f"search_vary_{arch}",
                            help="The others keep their usual values (the Train page's defaults).")
    if not chosen:
        st.info("Choose at least one hyperparameter to vary.")
        return None
    hyperparameters = {}
    for name in chosen:
        with st.container(border=True):
            hyperparameters[name] = range_editor(name, ranges[name], key=f"search_{arch}_{name}",
                                                  limit=editor.range_limit(arch, name))
    try:
        return spaces.check_space({"description": "A custom space.", "arch": arch,
                                       "hyperparameters": hyperparameters, "tuner": "random", "epochs": 3})
    except InvalidArgument as problem:
        st.error(escape_markdown(f"Expected {problem.allowed}, got {problem.value!r}."))
        return None


with st.expander("Start a new search", expanded=not searches, icon=":material/add_circle:"):
    choice = st.segmented_control(
        "Search space", ["seed001", "seed002", "custom"], default="seed001", required=True, key="search_space",
        format_func={"seed001": "Report 001 (simple CNN)", "seed002": "Report 002 (ResNet-style)",
                     "custom": "Custom"}.get)
    if choice == "custom":
        space = custom_space()
    else:
        space = spaces.load_space(choice)
        st.markdown(space["description"])
        st.dataframe([{"hyperparameter": name, "values tried": editor.describe_range(spec)}
                      for name, spec in space["hyperparameters"].items()], hide_index=True, width="stretch")

    tuner = st.segmented_control("Tuner", list(TUNER_LABELS), format_func=TUNER_LABELS.get, required=True,
                                 default=space["tuner"] if space else "random", key=f"search_tuner_{choice}")
    st.caption(report.TUNER_HELP[tuner])

    st.markdown("**Budget**")
    c1, c2, c3, c4, c5 = st.columns(5)
    epochs = c2.number_input("Most epochs per trial" if tuner == "hyperband" else "Epochs per trial",
                             step=1, key=f"search_epochs_{choice}", **widget_bounds(store.BUDGET_LIMITS["epochs"]),
                             value=space["epochs"] if space else 3)
    rounds = spaces.hyperband_rounds(epochs)
    per_iteration = sum(trials for trials, _ in rounds)
    # Keyed by the epochs too for Hyperband, whose default (one full iteration) follows them.
    trials_key = f"search_trials_{choice}_{tuner}" + (f"_{epochs}" if tuner == "hyperband" else "")
    max_trials = c1.number_input("Trials at most", step=1, key=trials_key, **widget_bounds(store.BUDGET_LIMITS["max_trials"]),
                                 value=per_iteration if tuner == "hyperband" else 10)
    limits = [500, 1000, 2000, 5000, 10000, 20000, 0]
    train_limit = c3.selectbox("Training images", limits, index=limits.index(5000), key="search_train_limit",
                               format_func=lambda n: "all" if n == 0 else f"{n:,}",
                               help="A stratified subset of the training split: trials go faster.")
    val_size = c4.number_input("Validation images", step=100, value=1000, key="search_val_size",
                               **widget_bounds(store.BUDGET_LIMITS["val_size"]),
                               help="Taken from the training split; every trial is scored on the same ones.")
    minutes = c5.number_input("Time limit (minutes)", step=5.0, value=30.0, format="%g", key="search_minutes",
                              **widget_bounds(store.BUDGET_LIMITS["time_limit"]),   # in seconds: the ends are 0 and none
                              help="The search stops when it is reached; 0 means no limit.")
    if tuner == "hyperband":
        plan = ", then ".join(f"{t} × {e} epoch{'s' if e > 1 else ''}" for t, e in rounds)
        st.caption(f"With at most {epochs} epochs, one Hyperband iteration is {per_iteration} trials: {plan}. "
                   "More trials start another iteration. Each trial trains from scratch for its epochs.")
    name = st.text_input("Search name (optional)", max_chars=80, key="search_name",
                         placeholder="e.g. learning rate and optimizer")
    st.caption("A search waits in the run queue with the runs, and holds a training slot for each trial it "
               "trains at once."
               + (" It is yours: only you and the teacher can stop or resume it (under a challenge, searches "
                  "are the teacher's)." if viewer().class_mode else ""))
    if st.button("Start search", type="primary", icon=":material/play_arrow:", key="search_start",
                 disabled=space is None):
        try:
            with st.spinner("Checking the space…"):
                created = run_manager().submit_search(functools.partial(
                    store.new_search, runs_dir(), tuner=tuner, space=space if choice == "custom" else choice,
                    max_trials=max_trials, epochs=epochs, train_limit=train_limit, val_size=val_size,
                    time_limit=minutes * 60, name=name or None, data_dir=data_dir()))
        except (InvalidArgument, ValueError, OSError) as problem:
            st.error(f"Could not start the search: {escape_markdown(problem)}")
        else:
            st.query_params["search"] = created.id
            st.rerun()


# --- the searches --------------------------------------------------------------------------------

if not searches:
    st.info("No searches yet: start one above. Its trials appear here as they run.")
    st.stop()


def active(found):
    return any(search.is_active() for search in found)


@st.fragment(run_every=REFRESH_S if active(searches) else None)
def searches_section(timer_on):
    """The list, the comparison and the chosen search, redrawn every few seconds while one waits or runs."""
    found = store.list_searches(runs_dir())
    runs = runs_store.list_runs(runs_dir())[0]
    trials = {search.id: results.trials(search, runs) for search in found}
    by_id = {search.id: search for search in found}

    st.subheader("Searches")
    st.dataframe(report.searches_frame(found, runs), hide_index=True, width="stretch", placeholder="–",
                 column_config={"best_val_accuracy": st.column_config.ProgressColumn(f"best {OBJECTIVE}", **PERCENT),
                                "id": st.column_config.TextColumn("id", width="small")})
    ids = list(by_id)
    wanted = st.query_params.get("search")
    # No key: the choice follows ?search=, which a new search sets when it starts.
    picked = st.selectbox("Search", ids, index=ids.index(wanted) if wanted in ids else 0,
                          format_func=lambda i: f"{by_id[i].name} · {by_id[i].status}")
    st.query_params["search"] = picked

    if len(found) > 1:
        with st.expander("Compare searches", icon=":material/compare_arrows:"):
            compared = st.multiselect("Searches", ids, default=ids[:2], format_func=lambda i: by_id[i].name,
                                      key="search_compare")
            frames = {f"{by_id[i].name} ({i[-6:]})": report.trials_frame(by_id[i], trials[i]) for i in compared}
            if any(len(report.best_so_far(frame)) for frame in frames.values()):
                st.altair_chart(report.best_so_far_chart(frames), width="stretch")
            else:
                st.caption("None of these searches has a finished trial yet.")

    search_view(by_id[picked], trials[picked])
    if active(found) != timer_on:
        st.rerun()  # a search was queued or ended: redraw the page with the timer on or off


def search_view(search, rows):
    record, budget = search.record, search.budget
    frame = report.trials_frame(search, rows)
    best = results.best_trial(search, rows)

    st.subheader(escape_markdown(search.name))
    images = f"{budget['train_limit']:,}" if budget["train_limit"] else "all"
    validation = "the default number of" if budget["val_size"] is None else f"{budget['val_size']:,}"
    owner = owner_name(search)
    st.caption(escape_markdown(
        f"{TUNER_LABELS[record['tuner']]} over {record['space_name']} ({record['space']['arch']}); up to "
        f"{plural(budget['max_trials'], 'trial')}, {plural(budget['epochs'], 'epoch')} "
        f"{'at most ' if record['tuner'] == 'hyperband' else ''}each, {images} training and {validation} "
        f"validation images. " + (f"Started by {owner}. " if owner else "") + f"Folder: {search.path}"))
    if search.status == "queued":
        place = run_manager().queue_position(search.id)
        st.info(f"Queued{f', number {place} in the run queue' if place else ''}: it starts when the runs "
                "before it leave room for its trials.", icon=":material/schedule:")
    elif search.status == "running":
        st.info("Running: the table and charts fill in as trials finish.", icon=":material/autorenew:")
    elif search.status == "failed":
        st.error(f"Failed: {escape_markdown(record.get('error'))}")
    elif search.status in ("completed", "stopped"):
        st.success(f"{search.status.capitalize()}: {escape_markdown(record.get('ended_by') or 'done')}.")

    done = sum(r["status"] == "completed" for r in rows)
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Trials finished", f"{done} / {budget['max_trials']}")
    m2.metric(f"Best {OBJECTIVE}", f"{best[OBJECTIVE]:.1%}" if best else "–")
    m3.metric("Best trial", best["trial"] if best else "–")
    m4.metric("Search time", f"{process.elapsed_seconds(search) / 60:.1f} min")

    refused = read_only_reason(viewer(), search)
    if search.is_active():
        if st.button("Stop search", icon=":material/stop:", key=f"search_stop_{search.id}", help=refused or
                     "A queued search never starts; a running one lets its current trial finish its batch and save.",
                     disabled=refused is not None):
            if act(run_manager().stop_search, search, "Stopping: the current trial finishes its batch and saves."):
                st.rerun()   # show where it stands now
    elif search.can_resume() and done < budget["max_trials"]:
        if st.button("Resume search", icon=":material/play_arrow:", key=f"search_resume_{search.id}", help=refused
                     or "Queue it again: it continues from the finished trials; an interrupted trial runs again.",
                     disabled=refused is not None):
            if act(run_manager().resume_search, search, "Queued again: it continues from its finished trials."):
                st.rerun()

    if frame.empty:
        st.caption({"running": "Loading the data and starting the first trial…",
                    "queued": "Its trials appear here once it starts."}.get(search.status, "No trials were run."))
    else:
        frame["run"] = frame["run"].map(lambda run_id: f"evaluate?run={run_id}" if run_id else None)
        st.dataframe(frame, hide_index=True, width="stretch", placeholder="–", column_config={
            "trial": st.column_config.TextColumn("trial", width="small"),
            "progress": st.column_config.ProgressColumn("progress", **PERCENT),
            OBJECTIVE: st.column_config.NumberColumn(OBJECTIVE, format="%.4f"),
            "test_accuracy": st.column_config.NumberColumn("test_accuracy", format="%.4f"),
            "status": st.column_config.TextColumn("status", width="small"),
            "run": st.column_config.LinkColumn("run", display_text="open", width="small",
                                               help="Open this trial's run on the Evaluate page"),
            **{name: st.column_config.NumberColumn(name, format="%.3g")
               for name, spec in search.space["hyperparameters"].items() if spec["type"] == "float"}})
        st.caption("`val_accuracy` is the score the tuner compares (for a running trial, its best epoch so "
                   "far); `test_accuracy` is shown for reference only and never guides the search. Every "
                   "trial is a run: it is also on the Runs, Evaluate and Predict pages.")

    if frame[OBJECTIVE].notna().any():
        specs = chart_specs(search.name, search.space, frame)
        left, right = st.columns([2, 3], gap="large")
        with left:
            st.markdown("**Best so far**")
            st.vega_lite_chart(specs["best"], width="stretch")
        with right:
            st.markdown("**Every trial across the hyperparameters**")
            st.vega_lite_chart(specs["parallel"], width="stretch")
            st.caption("One line per trial; each axis spans the range searched (bottom to top), colour "
                       "is the validation accuracy.")
        st.markdown("**Validation accuracy against each hyperparameter**")
        for start in range(0, len(specs["scores"]), 3):
            for column, spec in zip(st.columns(3), specs["scores"][start:start + 3]):
                column.vega_lite_chart(spec, width="stretch")

    if best and search.status != "running":
        train_best(search, best)
    elif search.status != "running" and not frame.empty:
        st.caption("No trial finished, so there is no best configuration to train yet.")


def act(action, search, done):
    """Stop or resume `search` as this viewer: a toast when done, or why they may not (False)."""
    try:
        action(search.id)
    except (NotAllowed, ValueError, LookupError) as refused:
        st.error(escape_markdown(refused))
        return False
    st.toast(done)
    return True


@st.cache_data(show_spinner=False, max_entries=64)
def chart_specs(name, space, frame):
    """The search's charts as Vega-Lite dicts, built once per state of its trials (the frame is
    hashed): Altair's building and checking is most of what a refresh would otherwise cost."""
    return {"best": report.best_so_far_chart({name: frame}).to_dict(),
            "parallel": report.parallel_coordinates_chart(frame, space).to_dict(),
            "scores": [chart.to_dict() for _, chart in report.score_charts(frame, space)]}


searches_section(active(searches))
