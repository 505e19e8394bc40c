"""Class mode's Streamlit glue (not a page): the sidebar's name and teacher controls, the seat
cookie, the Train form's challenge gate, a queued run's place and wait, configuration links and
"copy link" boxes.

The rules themselves are in `cifar_tf.classroom`; this module only asks and shows.
"""
from urllib.parse import urlencode

import streamlit as st

from cifar_tf.classroom.budget import BudgetWatch
from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.classroom.links import config_from_params, config_params, is_config_param
from cifar_tf.classroom.queue import queue_with_estimates
from cifar_tf.runs.store import list_runs
from cifar_tf.views.class_form import FormRules
from cifar_tf.views.formatting import escape_markdown
from cifar_tf.views.train_form import form_state
from pages.common import SEAT_COOKIE, SEAT_STATE, classroom, runs_dir, shared_manager, viewer

COOKIE_DAYS = 365


@st.cache_resource(show_spinner=False)
def _class_started(folder):
    """Once per server and runs folder: say where the teacher code is, and watch time budgets."""
    print(f"CIFAR-10 Lab class mode: {classroom().code_line()}", flush=True)
    return BudgetWatch(shared_manager()).start_background()


def sidebar():
    """The viewer's name in the sidebar (asked once per browser) and the teacher's unlock."""
    room = classroom()
    if not room.on:
        return
    _class_started(str(runs_dir()))
    me = viewer()
    if not me.seated:
        st.caption(":material/person_add: Type your name in the sidebar to start runs (on a phone, open it with » "
                   "at the top left).")
    with st.sidebar:
        if not me.seated:
            _join_form(room)
        else:
            st.markdown(f":material/person: **{escape_markdown(me.name)}**" + (" · teacher" if me.teacher else ""))
            with st.expander("Change my name"):
                _one_field_form("class_rename", "New name", "Rename me", lambda name: room.rename(me, name),
                                value=me.name)
            _teacher_controls(room, me)
        _remember_seat()


def _join_form(room):
    def join(typed):
        st.session_state[SEAT_STATE] = room.join(typed)
    _one_field_form("class_join", "Your name", "Join the class", join, icon=":material/login:",
                    placeholder="as the class knows you",
                    help="Typed once: this browser remembers it. Your runs carry it.")


def _one_field_form(key, label, button, action, *, icon=None, **field):
    """A form of one text box whose button calls `action(text)`: the page reruns after it, or a
    refusal shows under the box."""
    with st.form(key, border=False):
        typed = st.text_input(label, **field)
        if st.form_submit_button(button, icon=icon):
            try:
                action(typed)
            except NotAllowed as refused:
                st.error(escape_markdown(refused))
            else:
                st.rerun()


def _teacher_controls(room, me):
    if me.teacher:
        if st.button("Leave teacher mode", icon=":material/lock:", key="class_lock"):
            room.lock(me)
            st.rerun()
        return
    with st.expander("Teacher"):
        _one_field_form("class_unlock", "Teacher code", "Unlock teacher rights", lambda code: room.unlock(me, code),
                        icon=":material/key:", type="password",
                        help="Printed where the server was started, or set in CIFAR_TF_TEACHER_CODE.")


def _remember_seat():
    """Put a new seat's token in a cookie, so the browser keeps its name (the server keeps only
    the token's hash). The token is ours, never typed text."""
    token = st.session_state.get(SEAT_STATE)
    if token and st.context.cookies.get(SEAT_COOKIE) != token:
        st.html(f"<script>document.cookie = '{SEAT_COOKIE}={token}; path=/; max-age={COOKIE_DAYS * 86400}; "
                "samesite=strict';</script>", unsafe_allow_javascript=True)


def queue_place(run_id):
    """`(place in the queue or None, seconds until it should start or None)` of a queued run."""
    queue = queue_with_estimates(list_runs(runs_dir())[0], shared_manager().max_concurrent)
    for place, (run, wait) in enumerate(queue, start=1):
        if run.id == run_id:
            return place, wait
    return None, None


# --- the Train form -----------------------------------------------------------------------------

def form_rules():
    """The Train form's rules for this viewer: the challenge's, except for the teacher."""
    me = viewer()
    return FormRules(None if me.teacher else classroom().challenge())


class Gate:
    """A container whose keyed widgets show only where the rules allow: a hidden one draws
    nothing and answers with the value the form holds for it."""

    def __init__(self, container, rules):
        self._container, self._rules = container, rules

    def __getattr__(self, name):
        method = getattr(self._container, name)

        def widget(*args, key=None, **kwargs):
            if key is not None and not self._rules.shows(key):
                return st.session_state.get(key)
            return method(*args, key=key, **kwargs)
        return widget


def gate(containers, rules):
    """`gate(st.columns(3), rules)`: the columns, gated; one container gives one gate."""
    if isinstance(containers, (list, tuple)):
        return [Gate(container, rules) for container in containers]
    return Gate(containers, rules)


def apply_config_link(rules):
    """Fill the form from a configuration link (`?arch=...&epochs=...`) once, then take those
    parameters out of the address; say what in the link could not be used."""
    params = {key: st.query_params[key] for key in st.query_params if is_config_param(key)}
    if not params:
        return
    config, problems = config_from_params(params)
    if config is not None:
        st.session_state.update(form_state(rules.fit(config)))
        st.toast("Settings filled in from the link.", icon=":material/link:")
    for key in params:
        del st.query_params[key]
    st.session_state["class_link_problems"] = problems


def link_problems():
    for problem in st.session_state.pop("class_link_problems", []):
        st.warning(f"The link's {escape_markdown(problem)}; the rest was filled in.")


def config_link(config, page="train"):
    return page_link(page, config_params(config))


def page_link(page, params):
    """The address of `page` with `params`, absolute when the browser's address is known."""
    root = _app_root()
    return f"{root}/{page}?{urlencode(params)}" if root else f"{page}?{urlencode(params)}"


def copy_box(label, url):
    """A link in a box with a copy button (Streamlit's code block has one)."""
    st.caption(label)
    st.code(url, language=None, wrap_lines=True)


def _app_root():
    """The app's address without the page (st.context.url ends with the current page's path)."""
    url = st.context.url
    if not url:
        return None
    page = st.session_state.get("class_page_path")
    return url.removesuffix("/" + page) if page else url.rstrip("/")
