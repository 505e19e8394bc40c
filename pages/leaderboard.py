import streamlit as st

from cifar_tf.classroom.leaderboard import leaderboard
from cifar_tf.views.class_form import FormRules
from cifar_tf.views.classroom import PROJECTOR_PAGE_STYLE, leaderboard_table, projector_html
from cifar_tf.views.formatting import escape_markdown
from pages.common import classroom, list_runs

REFRESH_S = 5

projector = st.toggle("Projector view", value=st.query_params.get("view") == "projector", key="board_projector",
                      help="Large type for the back of the room. The address keeps it: ?view=projector.")
if projector:
    st.query_params["view"] = "projector"
    st.html(PROJECTOR_PAGE_STYLE)  # no sidebar: the board gets the whole width
else:
    st.query_params.pop("view", None)
st.title("Leaderboard")


@st.fragment(run_every=REFRESH_S)
def board():
    room = classroom()
    challenge = room.challenge()
    if challenge:
        st.markdown(f"### {escape_markdown(challenge.title)}" if projector else
                    escape_markdown(FormRules(challenge).summary()))
    else:
        st.caption("No challenge is set: every finished run a student owns counts. The teacher sets one on "
                   "the Teacher page.")
    rows = leaderboard(list_runs(), challenge, room.names(), room.teacher_seats())
    if not rows:
        st.info("No finished runs yet. Each student's best test accuracy appears here as soon as a run ends.",
                icon=":material/hourglass_top:")
        return
    if projector:
        st.html(projector_html(rows))
        return
    # What ranks first, in columns narrow enough for a phone (390 px): rank, student, accuracy, time
    # and a link fit its width; the rest follows to the right, with rank and student pinned.
    st.dataframe(
        leaderboard_table(rows), hide_index=True, width="stretch",
        column_order=["rank", "student", "test accuracy", "training time (s)", "link", "run", "arch", "params",
                      "runs"],
        column_config={
            "rank": st.column_config.NumberColumn("#", width=32, pinned=True),
            "student": st.column_config.TextColumn("student", width=104, pinned=True),
            "test accuracy": st.column_config.NumberColumn("accuracy", format="percent", width=72,
                                                           help="Test accuracy of the student's best run"),
            "training time (s)": st.column_config.NumberColumn("time", format="%.0f s", width=56,
                                                               help="Training time in seconds"),
            "link": st.column_config.LinkColumn("run", display_text="open", width=48,
                                                help="Watch the run on the Train page"),
            "run": st.column_config.TextColumn("run name"),
            "params": st.column_config.NumberColumn("params", format="compact"),
            "runs": st.column_config.NumberColumn("runs", help="Finished runs of this student that count"),
        })
    st.caption(f"Each student's best finished run; ties go to the shorter training. Updates every {REFRESH_S} s. "
               "On a narrow screen, slide the table sideways for the run, architecture and parameters.")


board()
