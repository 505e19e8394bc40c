"""Class mode's Streamlit glue (not a page): the sidebar's name and teacher controls, Home's
prompt for a name (or a recovery code), the recovery code shown to its student, the seat
cookie, the Train form's challenge gate, a queued run's place and wait, configuration links and
"copy link" boxes.

The rules themselves are in `cifar_tf.classroom`; this module only asks and shows.
"""
from urllib.parse import urlencode

import streamlit as st

from cifar_tf.classroom.budget import BudgetWatch
from cifar_tf.classroom.challenge import refusal
from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.classroom.links import config_from_params, config_params, is_config_param
from cifar_tf.classroom.queue import queue_with_estimates
from cifar_tf.runs.store import list_runs
from cifar_tf.views.class_form import FormRules
from cifar_tf.views.formatting import escape_markdown
from cifar_tf.views.train_form import form_state
from pages.common import SEAT_COOKIE, SEAT_STATE, classroom, runs_dir, shared_manager, viewer

COOKIE_DAYS = 365
RECOVERY_STATE = "class_recovery_code"   # a seat's recovery code, kept in the session until read


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
    home = _on_home()   # Home asks for the name itself, first thing on the page (`join_prompt`)
    if not me.seated and not home:
        st.caption(":material/person_add: Type your name in the sidebar to start runs (on a phone, open it with » "
                   "at the top left).")
    with st.sidebar:
        if not me.seated:
            if home:
                st.caption(":material/person_add: Type your name on this page to join the class.")
            else:
                _join_form(room)
        else:
            st.markdown(f":material/person: **{escape_markdown(me.name)}**" + (" · teacher" if me.teacher else ""))
            with st.expander("Change my name"):
                _one_field_form("class_rename", "New name", "Rename me", lambda name: room.rename(me, name),
                                value=me.name)
            _recovery_controls(room, me, expanded=not home)
            _teacher_controls(room, me)
        _remember_seat()


def _on_home():
    return st.session_state.get("class_page_path") == ""   # the default page's address is the app's own


def join_prompt():
    """Home's first thing in class mode for a browser without a seat: a heading, the name, and a
    recovery code for a student who had a seat on another device. Once seated, their new
    recovery code, until they say they wrote it down."""
    room = classroom()
    if not room.on:
        return
    me = viewer()
    if me.seated:
        if code := st.session_state.get(RECOVERY_STATE):
            with st.container(border=True):
                st.subheader(":material/key: Your recovery code")
                _recovery_code(code)
                if st.button("I wrote it down", icon=":material/check:", key="home_recovery_done"):
                    st.session_state.pop(RECOVERY_STATE, None)
                    st.rerun()
        return
    with st.container(border=True):
        st.header(":material/person_add: Join the class")
        st.markdown("Type your name to start runs and appear on the leaderboard. This browser remembers it.")
        _join_form(room, "home_join")
        with st.expander("I have a recovery code"):
            st.caption("Had a name in this class on another device, or lost this browser's cookies? Type the "
                       "recovery code you were given: your name and your runs come back here.")

            def recover(typed):
                st.session_state[SEAT_STATE], st.session_state[RECOVERY_STATE] = room.recover(typed)
            _one_field_form("home_recover", "Recovery code", "Get my name back", recover, icon=":material/key:",
                            placeholder="ABCD-EFGH")


def _join_form(room, key="class_join"):
    def join(typed):
        st.session_state[SEAT_STATE], st.session_state[RECOVERY_STATE] = room.join_with_code(typed)
    _one_field_form(key, "Your name", "Join the class", join, icon=":material/login:",
                    placeholder="as the class knows you",
                    help="Typed once: this browser remembers it. Your runs carry it.")


def _recovery_code(code):
    """A recovery code in a box (ours, never typed text), and what it is for."""
    st.code(code, language=None)
    st.caption("Write it down: on another device (or if this browser forgets you), type it on Home under "
               "“I have a recovery code” to get your name and runs back. It works once; you get a new one then.")


def _recovery_controls(room, me, expanded=True):
    """The sidebar's recovery code: open while a new one waits to be written down (Home shows it
    itself), and a new one on demand."""
    code = st.session_state.get(RECOVERY_STATE)
    with st.expander("Recovery code", expanded=bool(code) and expanded):
        if code:
            _recovery_code(code)
            if st.button("I wrote it down", key="class_recovery_done"):
                st.session_state.pop(RECOVERY_STATE, None)
                st.rerun()
        else:
            st.caption("Your recovery code brings your name back on another device. Lost it? Make a new one "
                       "(the old one stops working).")
        if st.button("Make a new recovery code", key="class_new_recovery"):
            try:
                st.session_state[RECOVERY_STATE] = room.new_recovery_code(me)
            except NotAllowed as refused:
                st.error(escape_markdown(refused))
            else:
                st.rerun()


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
    changes = []
    if config is not None:
        config, changes = rules.fit(config)
        st.session_state.update(form_state(config))
        st.toast("Settings filled in from the link.", icon=":material/link:")
    for key in params:
        del st.query_params[key]
    st.session_state["class_link_problems"] = problems
    st.session_state["class_link_changes"] = changes


def link_problems():
    """What the last configuration link could not fill in, and what the challenge changed in it."""
    for problem in st.session_state.pop("class_link_problems", []):
        st.warning(f"The link's {escape_markdown(problem)}; the rest was filled in.")
    if changes := st.session_state.pop("class_link_changes", []):
        st.info(changes_text("The challenge changed the link's settings:", changes), icon=":material/flag:")


def changes_text(lead, changes):
    """`lead` and one list item per change (`challenge.clamp`), every item shown as text."""
    return lead + "\n\n" + "\n".join(f"- {escape_markdown(change)}" for change in changes)


def challenge_refusal(configs, free=()):
    """Why the challenge refuses these runs from this viewer whatever the `free` settings (see
    `challenge.refusal`), or None: the help of a button that can never work, disabled. The
    teacher may train outside the challenge, as the submission's own check allows."""
    return refusal(form_rules().challenge, configs, free=free)


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
