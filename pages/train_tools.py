"""The Train page's instruments (not a page): the preset picked, in words, under the presets; the
learning-rate finder beside the form; a watched run's knobs (its learning rate, pause and resume)
and forks under its curves.

The work is in `cifar_tf.training.lrfind`, `cifar_tf.classroom.knobs` and `cifar_tf.training.fork`;
this module only asks and shows.
"""
import streamlit as st

from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.classroom.knobs import knob_problem, knob_state, set_knobs, who
from cifar_tf.runs.control import saved_epochs
from cifar_tf.runs.store import RunNotFound, load_run
from cifar_tf.training.config import LIMITS as RUN_LIMITS
from cifar_tf.training.fork import FORK_SETTINGS, fork_run, unforkable_reason
from cifar_tf.training.lrfind import LIMITS as RANGE_LIMITS, RangeTest, is_range_test, submit_range_test
from cifar_tf.validation import InvalidArgument
from cifar_tf.views.formatting import escape_markdown, run_label
from cifar_tf.views.lrfind import range_chart, range_tests, result, suggestion_text
from cifar_tf.views.bounds import widget_bounds
from cifar_tf.views.train_form import number_bounds, preset_text
from pages.common import classroom, list_runs, run_manager, runs_dir, viewer

REFUSED = (InvalidArgument, NotAllowed, RunNotFound, ValueError, RuntimeError, OSError)
DEFAULT_TEST = RangeTest()
SMALLEST_RATE = 1e-10   # the least rate the range test's boxes offer (a rate must be above 0)


# --- the preset picked -----------------------------------------------------------------------

def preset_note(name):
    """Under the preset buttons, once one is picked: its description and each way it differs from
    its report, as text on the page (the buttons' tooltips say only the first)."""
    if not name:
        return
    first, *rest = preset_text(name, st.session_state)
    with st.container(border=True, key="train_preset_note"):
        st.markdown(f"**{escape_markdown(first)}**")
        for line in rest:
            st.markdown(f"- {escape_markdown(line)}")


# --- the learning-rate finder -----------------------------------------------------------------

def lr_finder(config, rules):
    """An expander under the form: start a range test with the form's settings, watch it, and put
    a suggested rate into the form (the peak of a one-cycle schedule) in one click."""
    with st.expander("Find a learning rate", icon=":material/troubleshoot:"):
        st.caption("A short run of its own that trains a fresh network with the settings above while the learning "
                   "rate rises exponentially, step by step, and stops once the loss blows up (Smith's range test, "
                   "fastai's `lr_find`). It saves no model.")
        c1, c2, c3 = st.columns(3)
        c1.number_input("From", value=DEFAULT_TEST.start_lr, format="%.0e", key="lrfind_start",
                        **widget_bounds(RANGE_LIMITS["start_lr"], smallest=SMALLEST_RATE))
        c2.number_input("To", value=DEFAULT_TEST.end_lr, format="%g", key="lrfind_end",
                        **widget_bounds(RANGE_LIMITS["end_lr"], smallest=SMALLEST_RATE))
        c3.number_input("Steps", value=DEFAULT_TEST.steps, step=10, key="lrfind_steps",
                        **widget_bounds(RANGE_LIMITS["steps"]))
        problem = "Fix the settings above first." if config is None else None
        if config is not None and config.recipe != "keras":
            problem = ("The airbench recipe's rate is on a summed loss with a schedule of its own: "
                       "a range test needs the keras recipe.")
        if st.button("Run the range test", icon=":material/play_arrow:", disabled=problem is not None,
                     key="lrfind_start_button"):
            test = RangeTest(st.session_state.lrfind_start, st.session_state.lrfind_end,
                             int(st.session_state.lrfind_steps))
            try:
                run = submit_range_test(run_manager(), config, test)
            except REFUSED as refused:
                st.error(f"Could not start: {escape_markdown(refused)}")
            else:
                st.session_state["lrfind_shown"] = run.id
        if problem:
            st.caption(escape_markdown(problem))
        tests = range_tests(list_runs(warn=False))
        if not tests:
            return
        ids = [run.id for run in tests]
        if st.session_state.get("lrfind_shown") not in ids:
            st.session_state["lrfind_shown"] = ids[0]
        labels = {run.id: run_label(run) for run in tests}
        shown = st.selectbox("Range test", ids, key="lrfind_shown", format_func=labels.get)
        active = next(run for run in tests if run.id == shown).is_active()
        _range_view(shown, active, rules.shows("cfg_lr"))


def _range_view(run_id, active, may_set):
    @st.fragment(run_every=1.0 if active else None)
    def view():
        try:
            run = load_run(run_id, runs_dir())
        except RunNotFound:
            st.warning("This range test no longer exists.")
            return
        points, found = result(run)
        settings = run.record.get("lrfind") or {}
        if run.status == "queued":
            st.info("Queued: it starts when a training slot is free.", icon=":material/hourglass_top:")
        elif run.status == "running":
            st.info(f"{escape_markdown((run.record.get('phase') or 'starting').capitalize())}: {len(points)} of "
                    f"{settings.get('steps', '?')} steps.", icon=":material/autorenew:")
        elif run.status == "failed":
            st.error(f"This range test failed: {escape_markdown(run.record.get('error'))}")
        elif settings.get("ended"):
            st.caption(f"{len(points)} steps from {settings['start_lr']:.0e} to {settings['end_lr']:g}; it ended: "
                       f"{escape_markdown(settings['ended'])}.")
        if points:
            st.vega_lite_chart(range_chart(points, found), width="stretch")
        text = suggestion_text(found)
        if text and not run.is_active():
            st.markdown(text)
            peak = st.session_state.get("cfg_schedule") == "onecycle"
            columns = st.columns(2)
            for column, rule in zip(columns, ("valley", "steepest")):
                if found.get(rule) is None:
                    continue
                rate = _form_rate(found[rule])
                if column.button(f"Use {rate:g} ({rule})" + (" as the peak" if peak else ""), key=f"lrfind_use_{rule}",
                                 disabled=not may_set, on_click=st.session_state.update, kwargs={"cfg_lr": rate},
                                 help="Puts it in the form's Learning rate" + (", the one-cycle schedule's peak"
                                                                               if peak else "")):
                    st.rerun()   # the form is outside this fragment: redraw it with the new rate
            if not may_set:
                st.caption("The challenge fixes the learning rate.")

    view()


def _form_rate(rate):
    """A suggested rate as the form's box takes it: two significant digits, within its bounds."""
    return _within(float(f"{rate:.2g}"), number_bounds("lr"))


def _within(value, bounds):
    return min(bounds["max_value"], max(bounds["min_value"], value))


# --- a watched run's knobs and forks ----------------------------------------------------------

def run_knobs(run, read_only):
    """Under a watched run's curves: its learning rate, pause and resume for its owner or the
    teacher while it is queued or trains; a fork from a saved epoch for anyone."""
    if is_range_test(run):
        return
    config = run.record.get("config") or {}
    if run.is_active() and not read_only and knob_problem(run) is None:
        state = knob_state(run)
        key = f"knob_lr_{run.id}"
        if key not in st.session_state or st.session_state.get(f"{key}_asked") != state["lr"]:
            st.session_state[f"{key}_asked"] = state["lr"]
            st.session_state[key] = _within(float(state["lr"] or 1e-3), number_bounds("lr"))
        c1, c2, c3 = st.columns([3, 2, 2], vertical_alignment="bottom")
        c1.number_input("Learning rate now", key=key, format="%.4g", **number_bounds("lr"),
                        help="From the next step on; a schedule keeps its shape, scaled to this base rate. "
                             "The change is marked on the curves.")
        c2.button("Set", key=f"knob_set_{run.id}", icon=":material/tune:", on_click=_turn,
                  args=(run.id,), kwargs={"lr_key": key})
        paused = state["paused"]
        c3.button("Resume" if paused else "Pause", key=f"knob_pause_{run.id}", on_click=_turn, args=(run.id,),
                  kwargs={"paused": not paused}, icon=":material/play_arrow:" if paused else ":material/pause:")
        if paused:
            st.caption("Paused: it waits between two steps and keeps its place in the queue; Stop still works.")
    _fork_popover(run, config)


def _turn(run_id, lr_key=None, paused=None):
    lr = st.session_state.get(lr_key) if lr_key else None
    try:
        set_knobs(viewer(), run_id, runs_dir(), lr=lr, paused=paused, names=classroom().names())
    except REFUSED as refused:
        st.toast(f"Not changed: {refused}", icon=":material/block:")
        return
    if lr is not None:
        st.toast(f"Learning rate {lr:.4g} from its next step.")
    else:
        st.toast("Pausing after its current step." if paused else "Resuming.")


def _fork_popover(run, config):
    reason = unforkable_reason(config)
    saved = [] if reason else saved_epochs(run.path)
    if reason or not saved:
        return
    with st.popover("Fork", icon=":material/call_split:", help="A new run from a saved epoch of this one, with one "
                                                               "setting changed: the two share their curves up to there."):
        epoch = st.selectbox("From the end of epoch", saved[::-1], key=f"fork_epoch_{run.id}")
        setting = st.selectbox("Change", FORK_SETTINGS, key=f"fork_setting_{run.id}")
        value = st.text_input("To", key=f"fork_value_{run.id}", placeholder=f"now {config.get(setting)}")
        epochs = st.number_input("Epochs in all", step=1, key=f"fork_epochs_{run.id}_{epoch}",
                                 **widget_bounds(RUN_LIMITS["epochs"], smallest=epoch + 1),   # after the saved one
                                 value=max(int(config.get("epochs") or 1), epoch + 1),
                                 disabled=setting == "epochs")
        name = st.text_input("Name (optional)", max_chars=80, key=f"fork_name_{run.id}")
        st.caption(f"Saved epochs: {', '.join(map(str, saved))}. The fork's optimizer state (momentum, Adam's moments) "
                   "starts afresh.")
        if st.button("Start the fork", type="primary", icon=":material/call_split:", disabled=not value.strip(),
                     key=f"fork_start_{run.id}"):
            changes = {setting: value.strip()}
            if setting != "epochs" and epochs != config.get("epochs"):
                changes["epochs"] = int(epochs)
            try:
                fork = fork_run(run_manager(), run, changes, epoch=epoch, name=name.strip() or None, by=who(viewer()))
            except REFUSED as refused:
                st.error(f"Could not fork: {escape_markdown(refused)}")
            else:
                st.query_params["run"] = fork.id
                st.session_state["train_started"] = fork.id
                st.rerun()
