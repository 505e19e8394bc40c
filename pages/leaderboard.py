import streamlit as st

from cifar_tf.classroom.leaderboard import leaderboard
from cifar_tf.views.class_form import FormRules
from cifar_tf.views.classroom import leaderboard_table, projector_html
from cifar_tf.views.formatting import escape_markdown
from pages.common import classroom, list_runs

REFRESH_S = 5

projector = st.toggle("Projector view", value=st.query_params.get("view") == "projector", key="board_projector",
                      help="Large type for the back of the room. The address keeps it: ?view=projector.")
if projector:
    st.query_params["view"] = "projector"
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
    st.dataframe(
        leaderboard_table(rows), hide_index=True, width="stretch",
        column_order=["rank", "student", "test accuracy", "training time (s)", "params", "arch", "run", "runs", "link"],
        column_config={
            "rank": st.column_config.NumberColumn("#", width="small"),
            "test accuracy": st.column_config.ProgressColumn("test accuracy", format="percent", min_value=0.0,
                                                             max_value=1.0),
            "training time (s)": st.column_config.NumberColumn("training time", format="%.0f s"),
            "params": st.column_config.NumberColumn("params", format="localized"),
            "runs": st.column_config.NumberColumn("runs", help="Finished runs of this student that count"),
            "link": st.column_config.LinkColumn("open", display_text="watch the run"),
        })
    st.caption(f"Each student's best finished run; ties go to the shorter training. Updates every {REFRESH_S} s.")


board()
