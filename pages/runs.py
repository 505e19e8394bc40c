import streamlit as st

from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.labs.report_lessons import lesson_groups
from cifar_tf.views.report import lesson_report
from cifar_tf.classroom.roles import delete_run, owner_name, read_only_reason, rename_run
from cifar_tf.runs.files import check_regular, read_regular
from cifar_tf.runs.store import FINISHED_STATUSES, MODEL_MAX_BYTES, RunNotFound, check_run_name, is_shipped
from cifar_tf.views import comparison as compare
from cifar_tf.views import groups as group_view
from cifar_tf.views.reports import group_label
from cifar_tf.views.formatting import escape_markdown
from pages.classmode import copy_box, page_link
from pages.common import (classroom, confusion_side_by_side, list_runs, model_cache, report_download, runs_dir,
                          viewer)

st.title("Runs")
st.caption("Every saved training run. Tick rows in the table (or pick runs below) to compare their "
           "learning curves, settings and per-class accuracy.")

if message := st.session_state.pop("runs_message", None):
    st.success(message, icon=":material/check_circle:")

runs = list_runs()
if not runs:
    st.info("No runs yet. Train a network first, then come back here to compare runs.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

if st.toggle("One row per configuration", key="runs_grouped",
             help="Runs whose settings differ only in their seed, as one row: n, mean ± std, min and max."):
    st.dataframe(group_view.groups_table(group_view.group_runs(runs)), hide_index=True, placeholder="—",
                 column_config={name: st.column_config.NumberColumn(name, format="percent")
                                for name in ("test accuracy", "± std", "min", "max", "best val accuracy")})
    st.page_link("pages/groups.py", label="Bands, and whether a difference is real", icon=":material/stacked_line_chart:")
    st.stop()

by_id = {run.id: run for run in runs}
labels = dict(zip(by_id, compare.run_labels(runs)))
room, me = classroom(), viewer()
owners = {run.id: owner_name(run, room.names()) for run in runs} if room.on else None
percent = dict(format="percent", min_value=0.0, max_value=1.0, step=0.001)
table = st.dataframe(
    compare.runs_table(runs, owners), key=f"runs_table_{st.session_state.get('runs_table_version', 0)}",
    hide_index=True, on_select="rerun", placeholder="—",
    selection_mode="multi-row",
    column_order=["name", *(["owner"] if owners else []), "lesson", "status", "arch", "test accuracy", "best val accuracy",
                  "weighted F1", "epochs", "params", "training time (s)", "images/s", "device", "where", "created", "id"],
    column_config={
        "test accuracy": st.column_config.ProgressColumn("test accuracy", **percent),
        "best val accuracy": st.column_config.ProgressColumn("best val accuracy", **percent),
        "weighted F1": st.column_config.NumberColumn("weighted F1", format="%.3f"),
        "params": st.column_config.NumberColumn("params", format="localized"),
        "training time (s)": st.column_config.NumberColumn("training time", format="%.0f s"),
        "images/s": st.column_config.NumberColumn("images/s", format="%.0f"),
        "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
        "id": st.column_config.TextColumn("id", width="small"),
        "lesson": st.column_config.TextColumn("lesson", help="The report and lesson whose Start began this run"),
    })

# The table's ticked rows feed the picker; the picker also works on its own.
ticked = [runs[i].id for i in table.selection.rows if i < len(runs)]
if ticked != st.session_state.get("runs_ticked"):
    st.session_state["runs_ticked"] = ticked
    st.session_state["runs_compare"] = ticked
st.session_state["runs_compare"] = [i for i in st.session_state.get("runs_compare", []) if i in by_id]
# A lesson's runs (one click on its Start, on the Reports page) as one comparison, in one pick.
lessons = {group["lesson"] + " " + group["start"]: group for group in lesson_groups(runs)}
if st.session_state.get("runs_lesson") not in lessons:
    st.session_state.pop("runs_lesson", None)   # its runs were deleted


def pick_lesson():
    if picked := lessons.get(st.session_state.get("runs_lesson")):
        st.session_state["runs_compare"] = [run.id for run in picked["runs"]]


if lessons:
    st.selectbox("Lesson", list(lessons), index=None, key="runs_lesson", on_change=pick_lesson,
                 format_func=lambda key: group_label(lessons[key]), placeholder="Pick a lesson to compare its runs",
                 help="The runs one start of a report's lesson trained: curves, per-class accuracy and confusion "
                      "matrices together.")
if picked_lesson := lessons.get(st.session_state.get("runs_lesson")):
    st.download_button("Download the lesson's report", data=lambda: lesson_report(picked_lesson),
                       file_name=f"lesson-{picked_lesson['lesson']}-report.html", mime="text/html",
                       icon=":material/description:", key="runs_lesson_report",
                       help="Its runs' numbers, curves, per-class accuracy and confusion matrices side by side, "
                            "in one HTML file that opens offline.")
chosen_ids = st.multiselect("Runs to compare", list(by_id), key="runs_compare",
                            format_func=labels.get, placeholder="Tick rows above or pick runs here")
chosen = [by_id[i] for i in chosen_ids]
st.download_button("Download as CSV", data=lambda: compare.comparison_csv(chosen or runs, owners),
                   file_name="runs.csv", mime="text/csv", icon=":material/download:",
                   help="The table and every setting of the runs picked (all runs when none is).")

if not chosen:
    st.info("Select one or more runs to see their curves, settings and per-class accuracy.",
            icon=":material/touch_app:")
    st.stop()

curves_col, diff_col = st.columns(2, gap="large")
with curves_col:
    st.subheader("Learning curves")
    metric = st.segmented_control("Metric", list(compare.CURVE_METRICS), default=compare.default_metric(chosen),
                                  format_func=compare.CURVE_BUTTONS.get, required=True, wrap=True,
                                  key=f"runs_metric_{'-'.join(r.id for r in chosen)}", label_visibility="collapsed")
    curve_data = compare.curves(chosen, metric)
    if curve_data.empty:
        st.caption("No finished epochs recorded for these runs yet.")
    else:
        st.altair_chart(compare.curves_chart(curve_data, metric), width="stretch")

with diff_col:
    if len(chosen) == 1:
        st.subheader("Settings")
        st.dataframe(compare.settings_table(chosen), width="stretch")
        st.caption("Pick two or more runs to see only the settings that set them apart.")
    else:
        st.subheader("Settings that differ")
        diff = compare.config_diff(chosen)
        if diff.empty:
            st.caption("These runs were trained with the same settings.")
        else:
            st.dataframe(diff, width="stretch")

st.subheader("Per-class test accuracy")
per_class = compare.per_class_accuracy(chosen)
if per_class.empty:
    st.caption("None of these runs has a test-set evaluation (they failed or are still training).")
else:
    st.altair_chart(compare.per_class_chart(per_class), width="stretch")

finished = [run for run in chosen if run.status in FINISHED_STATUSES]
if len(chosen) > 1 and finished:
    confusion_side_by_side(finished, "### Confusion matrices\nEach row is a true class; its cells, what the model "
                                     "said, as a share of the class.", per_row=min(len(finished), 3))

if len(chosen) != 1:
    st.subheader("Manage a run")
    st.caption("Select exactly one run to rename, download or delete it.")
    st.stop()
run = chosen[0]
st.subheader(f"Manage “{escape_markdown(run.name)}”")
read_only = read_only_reason(me, run, room.names())
if read_only:
    st.info(escape_markdown(read_only), icon=":material/lock:")
rename_col, download_col, delete_col = st.columns(3, gap="large", border=True)

with rename_col:
    typed = st.text_input("New name", value=run.name, key=f"rename_{run.id}", disabled=bool(read_only))
    new_name, problem = check_run_name(typed)
    if not problem and new_name != run.name and new_name in {r.name for r in runs}:
        problem = "Another run has this name: pick one that tells them apart."
    if problem:
        st.caption(f":red[{escape_markdown(problem)}]")
    if st.button("Rename", icon=":material/edit:", disabled=bool(problem or read_only) or new_name == run.name):
        try:
            rename_run(me, run.id, new_name, runs_dir())
        except (RunNotFound, NotAllowed, ValueError, OSError) as error:
            st.error(f"Could not rename the run: {escape_markdown(error)}")
        else:
            st.session_state["runs_message"] = "Run renamed."
            st.rerun()

with download_col:
    st.markdown("**Model file**")
    try:
        size = check_regular(run.model_path, MODEL_MAX_BYTES).stat().st_size
    except OSError as unsafe:
        size, why = None, ("This run has no saved model (it did not finish)." if isinstance(unsafe, FileNotFoundError)
                           else f"The model file cannot be offered: {escape_markdown(unsafe)}")
        st.caption(why)
    if size is not None:
        st.download_button("Download model", data=lambda: read_regular(run.model_path, MODEL_MAX_BYTES),
                           file_name=f"{run.id}.keras", mime="application/octet-stream",
                           icon=":material/download:")
        st.caption(f"`{run.id}.keras`, {size / 2**20:.1f} MB, for `keras.models.load_model`.")
    report_download(run, owners.get(run.id) if owners else None)
    with st.popover("Link to this run", icon=":material/link:"):
        copy_box("Opens this run on the Evaluate page; others see it read-only.",
                 page_link("evaluate", {"run": run.id}))

with delete_col:
    st.markdown("**Delete**")
    if is_shipped(run):
        st.caption("Shipped with the lab: it stays.")
    elif run.is_active():
        st.warning(f"This run is {run.status}: stop it on the Train page before deleting it.")
    else:
        sure = st.checkbox("Yes, delete it for good", key=f"sure_{run.id}", disabled=bool(read_only))
        if st.button("Delete run", type="primary", icon=":material/delete:", disabled=not sure or bool(read_only)):
            model_cache().release(run.path)
            try:
                delete_run(me, run.id, runs_dir())
            except (RunNotFound, NotAllowed, ValueError, OSError) as error:
                st.error(f"Could not delete the run: {escape_markdown(error)}")
            else:
                st.session_state["runs_message"] = "Run deleted."
                # A new table key clears its ticked rows, which would now point at other runs.
                st.session_state["runs_table_version"] = st.session_state.get("runs_table_version", 0) + 1
                st.rerun()
