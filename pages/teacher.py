import streamlit as st

from cifar_tf.classroom.challenge import CHALLENGE_LIMITS, EDITABLE, new_challenge
from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.classroom.links import config_from_link
from cifar_tf.models.registry import ARCHITECTURES
from cifar_tf.runs.store import ACTIVE_STATUSES
from cifar_tf.search.store import list_searches
from cifar_tf.training.presets import PRESETS, preset_config
from cifar_tf.validation import InvalidArgument
from cifar_tf.views import train_form as form
from cifar_tf.views.bounds import widget_bounds
from cifar_tf.views.class_form import FormRules
from cifar_tf.views.classroom import queue_table, seats_table
from cifar_tf.views.formatting import escape_markdown, run_label
from pages.classmode import changes_text, config_link, copy_box
from pages.common import classroom, list_runs, request_stop, runs_dir, shared_manager, viewer

st.title("Teacher")
room, me = classroom(), viewer()
if not me.teacher:
    st.warning("This page is the teacher's: unlock teacher rights in the sidebar with the teacher code.")
    st.stop()
if message := st.session_state.pop("teacher_message", None):
    st.success(escape_markdown(message), icon=":material/check_circle:")

queue_tab, challenge_tab, lesson_tab = st.tabs(["Queue", "Challenge", "Lesson and class"])

with queue_tab:
    @st.fragment(run_every=3)
    def queue():
        runs = list_runs()
        table = queue_table(runs, shared_manager().max_concurrent, room.names(), searches=list_searches(runs_dir()))
        st.caption(f"{shared_manager().max_concurrent} run(s) train at once; the others, searches too, wait in this order. "
                   "Start times are estimated from the speed of the runs that finished here.")
        if table.empty:
            st.info("Nothing is training or waiting.", icon=":material/check:")
        else:
            st.dataframe(table, hide_index=True, width="stretch", column_config={"id": None})
        active = [run for run in runs if run.status in ACTIVE_STATUSES]
        if active:
            chosen = st.selectbox("Stop a run", active, format_func=run_label, key="teacher_stop_pick")
            if st.button("Stop it", icon=":material/stop:", key="teacher_stop"):
                request_stop(chosen.id)
    queue()

with challenge_tab:
    current = room.challenge()
    if current:
        st.info(escape_markdown(FormRules(current).summary()), icon=":material/flag:")
        if current.adjusted:
            st.info(changes_text("Its starting settings were fitted to the limits:", current.adjusted),
                    icon=":material/tune:")
        copy_box("A link to the challenge's starting settings (the Train page fills them in):",
                 config_link(current.base_config()))
        if st.button("End the challenge", icon=":material/flag_circle:", key="teacher_end"):
            room.end_challenge(me)
            st.session_state["teacher_message"] = "The challenge is over: students may change every setting again."
            st.rerun()
    else:
        st.caption("No challenge: students may change every setting. Set one below.")
    st.subheader("Set a new challenge")
    st.page_link("pages/reports.py", icon=":material/menu_book:",
                 label="Or hand out one of the five reports' lessons: “Hand out as a challenge” under it on Reports")
    with st.form("teacher_challenge"):
        title = st.text_input("Title", placeholder="e.g. Best simple_cnn in 3 epochs")
        c1, c2 = st.columns(2)
        preset = c1.selectbox("Start from", ["defaults", *PRESETS], key="teacher_preset",
                              help="The settings students begin with; what stays fixed keeps these values.")
        link = c2.text_input("…or from a configuration link", placeholder="paste a link from the Train page",
                             help="Overrides the preset: the Train page's 'Link to these settings'.")
        editable = st.multiselect("Students may change", list(EDITABLE), default=["learning rate", "epochs"],
                                  help="Everything else is hidden on their Train page and fixed on the server.")
        c1, c2, c3 = st.columns(3)
        max_epochs = c1.number_input("Most epochs (0: no limit)", value=5, step=1,
                                     **widget_bounds(CHALLENGE_LIMITS["max_epochs"], smallest=0))
        max_images = c2.selectbox("Most training images", [0, *form.TRAIN_LIMITS[:-1]], index=0,
                                  format_func=lambda n: "no limit" if n == 0 else f"{n:,}")
        minutes = c3.number_input("Time budget per run (minutes, 0: none)", min_value=0.0, value=0.0, step=0.5,
                                  max_value=CHALLENGE_LIMITS["time_budget_s"].high / 60, help="A run is stopped after this much training, and scored.")
        archs = st.multiselect("Architectures allowed (none picked: any)", list(ARCHITECTURES),
                               help="Applies when students may change the architecture.")
        submitted = st.form_submit_button("Set the challenge", type="primary", icon=":material/flag:")
    if submitted:
        try:
            if link.strip():
                base, problems = config_from_link(link)
                if base is None or problems:
                    raise InvalidArgument("link", link, "a configuration link from the Train page"
                                          + (f" ({problems[0]})" if problems else ""))
            else:
                base = form.DEFAULTS if preset == "defaults" else preset_config(preset)
            challenge = new_challenge(title, base, editable=editable, max_epochs=max_epochs,
                                      max_train_images=max_images, archs=archs, time_budget_s=round(minutes * 60),
                                      preset=None if link.strip() or preset == "defaults" else preset)
            room.set_challenge(me, challenge)
        except (InvalidArgument, NotAllowed) as problem:
            st.error(f"Could not set the challenge: {escape_markdown(problem)}")
        else:
            st.session_state["teacher_message"] = (f"Challenge “{challenge.title}” set: the leaderboard starts "
                                                   "afresh." + (" Its starting settings were fitted to the limits "
                                                                "(listed under Challenge)." if challenge.adjusted
                                                                else ""))
            st.rerun()

with lesson_tab:
    runs = list_runs()
    st.subheader("Start a new lesson")
    st.caption(f"{len(runs)} runs in the class now. Archiving moves every finished run aside (nothing is "
               "deleted): Runs, the pickers and the leaderboard start empty. The demo run stays.")
    sure = st.checkbox("Yes, archive the class's runs", key="teacher_archive_sure")
    if st.button("Archive runs", icon=":material/inventory_2:", disabled=not sure, key="teacher_archive"):
        lesson, moved, active = room.archive(me)
        left = f" {len(active)} active run(s) stay: stop them first." if active else ""
        st.session_state["teacher_message"] = (f"Archived {len(moved)} runs as lesson {lesson}." if lesson
                                               else "There was nothing to archive.") + left
        st.rerun()
    past = room.lessons()
    if past:
        st.subheader("Archived lessons")
        st.dataframe(past, hide_index=True, width="stretch")
        chosen = st.selectbox("Lesson", [lesson["id"] for lesson in past], key="teacher_lesson")
        if st.button("Bring its runs back", icon=":material/unarchive:", key="teacher_restore"):
            count = room.restore(me, chosen)
            st.session_state["teacher_message"] = f"{count} runs of lesson {chosen} are back."
            st.rerun()
    st.subheader("The class")
    st.dataframe(seats_table(room.seats.all(), runs, room.teacher_seats()), hide_index=True, width="stretch")
    owners = dict(room.owners(runs))   # seat key -> name (as text: selectboxes show plain text)
    seats = [key for key in owners if room.seats.by_key(key)]
    free_col, give_col = st.columns(2, border=True)
    with free_col:
        st.markdown("**Free names**")
        st.caption("For a student who lost their browser and their recovery code, or names nobody uses: each name "
                   "is free again and its browser becomes a newcomer. Their runs go to the seat you pick, or stay "
                   "yours.")
        freed = st.multiselect("Names to free", [key for key in seats if key != me.seat], format_func=owners.get,
                               key="teacher_free_pick", placeholder="Pick names")
        heir = st.selectbox("Their runs go to", [None, *(key for key in seats if key not in freed)],
                            key="teacher_free_to",
                            format_func=lambda key: "nobody: the teacher keeps them" if key is None else owners[key])
        if st.button("Free the names", icon=":material/person_remove:", disabled=not freed, key="teacher_free"):
            try:
                done = [room.free_seat(me, key, heir) for key in freed]
            except NotAllowed as refused:
                st.error(escape_markdown(refused))
            else:
                st.session_state["teacher_message"] = (
                    f"Free again: {', '.join(f'“{seat.name}”' for seat, _ in done)}; "
                    f"{sum(moved for _, moved in done)} run(s) went to "
                    + (f"{owners[heir]}." if heir else "nobody (they stay the teacher's)."))
                st.rerun()
    with give_col:
        st.markdown("**Give runs to someone else**")
        st.caption("Every run of one seat (or of a freed name) changes owner: it counts for the new one on the "
                   "leaderboard, and only they or the teacher may stop, rename or delete it.")
        giver = st.selectbox("Runs of", list(owners), index=None, format_func=owners.get, key="teacher_give_from",
                             placeholder="Pick a name")
        taker = st.selectbox("Give them to", [key for key in seats if key != giver], index=None,
                             format_func=owners.get, key="teacher_give_to", placeholder="Pick a name")
        if st.button("Give the runs", icon=":material/move_down:", disabled=giver is None or taker is None,
                     key="teacher_give"):
            try:
                moved = room.give_runs(me, giver, taker)
            except NotAllowed as refused:
                st.error(escape_markdown(refused))
            else:
                st.session_state["teacher_message"] = f"{moved} run(s) of {owners[giver]} went to {owners[taker]}."
                st.rerun()
