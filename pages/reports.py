import streamlit as st

from cifar_tf import settings
from cifar_tf.classroom.challenge import new_challenge
from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.data.cifar10 import CorruptDataset, DatasetNotFound
from cifar_tf.labs import measures
from cifar_tf.labs import report_lessons as lessons
from cifar_tf.labs.reports import REPORTS
from cifar_tf.validation import InvalidArgument
from cifar_tf.views import reports as views
from cifar_tf.views.comparison import (CURVE_METRICS, curves, curves_chart, default_metric, per_class_chart,
                                       runs_table)
from cifar_tf.views.formatting import escape_markdown
from cifar_tf.views.train_form import preset_text
from pages.classmode import challenge_refusal
from pages.common import classroom, confusion_side_by_side, data_dir, list_runs, run_manager, runs_dir, viewer

st.title("Reports")
st.caption("The five reports this lab grew from: what each asked, how it went about it and what it found, "
           "its experiments as lessons you start in one click, and its figures beside ours once they ran. "
           "Their figures are theirs, measured on their hardware and data; several validated on the test set, "
           "which this lab never does.")


if "reports_message" in st.session_state:
    st.success(st.session_state.pop("reports_message"), icon=":material/check_circle:")

ids = list(REPORTS)
wanted = st.query_params.get("report")
report = REPORTS[st.selectbox("Report", ids, index=ids.index(wanted) if wanted in ids else 0, key="reports_pick",
                              format_func=lambda i: f"{i} · {REPORTS[i].title}")]
st.query_params["report"] = report.id
runs = list_runs()

# ---------------------------------------------------------------- the summary
st.subheader(report.title)
st.markdown(f"**The question.** {report.question}")
st.markdown("**What it did.**\n" + "\n".join(f"- {line}" for line in report.setup))
st.markdown(f"**What it found.** {report.findings}")
if report.caveats:
    st.markdown("**Beside ours.** " + "; ".join(report.caveats).capitalize() + ".")


def sharpness_both_ways(lesson_id="003-sharpness-grid"):
    """Report 003's sharpness beside ours, each defined, with the lesson's finished runs' figures
    under each: the report-style reading under theirs, our measure under ours."""
    grid = [run for group in lessons.lesson_starts(runs, lesson_id) for run in group["runs"]
            if run.status in lessons.FINISHED]
    theirs, ours = st.columns(2, border=True)
    theirs.markdown(f"**The report's sharpness.** {escape_markdown(report.extra['their_sharpness'])}")
    ours.markdown(f"**Ours.** {report.extra['our_sharpness']}")
    if grid:
        table = views.sharpness_table(grid)
        theirs.caption(escape_markdown(report.extra["nearest_reading"]))
        theirs.dataframe(table[["run", "arch", "optimizer", "SAM ρ", "gap (val loss − loss)"]], hide_index=True,
                         placeholder="—")
        ours.caption("Our sharpness at ρ 0.05 and λ max, on 512 training images; smaller is flatter.")
        ours.dataframe(table[["run", "sharpness (ρ 0.05)", "λ max"]], hide_index=True,
                       placeholder="not measured yet")
        unmeasured = lessons.unmeasured_runs(grid)
        count = f"{len(unmeasured)} run{'s' if len(unmeasured) > 1 else ''}"
        if unmeasured and ours.button(f"Measure our sharpness ({count})", icon=":material/straighten:",
                                      key="sharpness_measure"):
            for run in unmeasured:
                with st.spinner(f"Measuring {run.name}: gradient ascent and Hessian-vector products on 512 "
                                "training images (seconds to a minute each on a CPU)…"):
                    try:
                        measures.measure_run(run, data_dir=data_dir())
                    except (DatasetNotFound, CorruptDataset, LookupError, ValueError, OSError) as problem:
                        st.error(f"{escape_markdown(run.name)}: {escape_markdown(problem)}")
                        return
            st.rerun()
    else:
        st.caption("Once runs of the lesson below have finished, each one's figures appear here, under both "
                   "definitions.")
    st.caption(f"How they differ: {escape_markdown(report.extra['how_they_differ'])}")


if report.extra:
    sharpness_both_ways()
st.caption(f"The report's text: shared/seeds/{report.file}")

if report.figures:
    st.subheader("Its figures beside ours")
    st.caption("Ours come from the newest finished run of each lesson (its scale is in the last column); the "
               "difference is ours minus the report's.")
    st.dataframe(views.side_by_side_table(report, runs), hide_index=True, width="stretch")

# ---------------------------------------------------------------- the lessons
me = viewer()


def arm_notes(lesson):
    """Each preset the lesson's runs start from, described on the page (not only in a tooltip), with
    each way it differs from the report; then what each run changes."""
    for preset in dict.fromkeys(arm.preset for arm in lesson.arms):
        first, *differences = preset_text(preset)
        st.markdown(f"**{escape_markdown(first)}**")
        if differences:
            st.markdown("\n".join(f"- {escape_markdown(line)}" for line in differences))
    if len(lesson.arms) > 1:
        st.markdown("**Its runs:** " + escape_markdown("; ".join(
            arm.label + (f" ({', '.join(f'{k} {v}' for k, v in arm.overrides.items())})" if arm.overrides else "")
            for arm in lesson.arms) + "."))


def start_runs(lesson, scale):
    missing = lessons.missing_weights(lesson, scale)
    for entry in missing:
        st.warning(lessons.weights_message(entry), icon=":material/cloud_off:")
    try:
        refused = challenge_refusal([config for _, config in lessons.lesson_configs(lesson, scale)])
    except (InvalidArgument, ValueError):
        refused = None
    count = len(lesson.arms)
    if st.button(f"Start the lesson ({count} run{'s' if count > 1 else ''})", type="primary",
                 icon=":material/play_arrow:", key=f"lesson_start_{lesson.id}", disabled=bool(missing or refused),
                 help=escape_markdown(refused) if refused else None):
        try:
            start, _ = lessons.submit_lesson(run_manager(), lesson.id, scale)
        except (InvalidArgument, NotAllowed, ValueError, RuntimeError, OSError) as problem:
            st.error(f"Cannot start the lesson: {escape_markdown(problem)}")
        else:
            st.session_state[f"lesson_pick_{lesson.id}"] = start   # the comparison below shows the new runs
            st.session_state["reports_message"] = (f"Queued {count} run(s) of “{lesson.title}”: they train one after "
                                                   "the other; the Runs page lists them too.")
            st.rerun()


def hand_out(lesson, scale):
    """The teacher hands the lesson out as the class's challenge (its first arm to start from)."""
    if not (settings.class_mode() and me.teacher):
        return
    if st.button("Hand out as a challenge", icon=":material/flag:", key=f"lesson_challenge_{lesson.id}",
                 help="Students start from the lesson's first run; what its runs vary stays open to them, its "
                      "epochs and images are the limits. Replaces the current challenge."):
        try:
            challenge = new_challenge(**lessons.challenge_settings(lesson.id, scale))
            classroom().set_challenge(me, challenge)
        except (InvalidArgument, NotAllowed, ValueError) as problem:
            st.error(f"Could not set the challenge: {escape_markdown(problem)}")
        else:
            st.success(f"Challenge “{escape_markdown(challenge.title)}” set: students may change "
                       + (", ".join(challenge.editable) or "nothing") + ".")


def start_search(lesson, scale):
    from cifar_tf.search import store

    budget = lessons.search_budget(lesson, scale)
    st.caption(f"{budget['max_trials']} trials of at most {budget['epochs']} epochs; the Hyperparameter search "
               "page shows its trials as they train.")
    if st.button("Start the search", type="primary", icon=":material/tune:", key=f"lesson_search_{lesson.id}"):
        try:
            search = lessons.start_search(lesson.id, scale, manager=run_manager(), data_dir=data_dir())
        except (InvalidArgument, ValueError, OSError) as problem:
            st.error(f"Could not start the search: {escape_markdown(problem)}")
        else:
            st.toast("The search started." if search.status == "running" else "The search is queued: it starts "
                     "when the runs before it leave room.")
    found = [s for s in store.list_searches(runs_dir()) if s.record.get(lessons.LESSON_TAG) == lesson.id]
    if found:
        st.dataframe([{"search": s.name, "scale": s.record.get(lessons.SCALE_TAG), "status": s.status,
                       "best val accuracy": (s.record.get("best") or {}).get("val_accuracy")} for s in found],
                     hide_index=True, width="stretch")


def results_together(lesson):
    """The runs of one start of the lesson as one comparison: curves, per-class accuracy, confusion matrices."""
    starts = lessons.lesson_starts(runs, lesson.id)
    if not starts:
        return
    by_start = {entry["start"]: entry for entry in starts}
    key = f"lesson_pick_{lesson.id}"
    if st.session_state.get(key) not in by_start:
        st.session_state[key] = starts[0]["start"]
    chosen = by_start[st.selectbox("Its runs", list(by_start), key=key, format_func=lambda s: views.start_label(by_start[s]))]
    group = chosen["runs"]
    st.dataframe(runs_table(group)[["name", "arch", "status", "epochs", "best val accuracy", "test accuracy"]],
                 hide_index=True, width="stretch")
    if any(run.is_active() for run in group):
        st.button("Refresh", icon=":material/refresh:", key=f"lesson_refresh_{lesson.id}")
    metrics = list(CURVE_METRICS)
    metric = st.segmented_control("Curve", metrics, default=default_metric(group), key=f"lesson_metric_{lesson.id}",
                                  format_func=CURVE_METRICS.get) or default_metric(group)
    frame = curves(group, metric)
    if len(frame):
        st.altair_chart(curves_chart(frame, metric), width="stretch")
    per_class = views.per_class_with_report(report, [run for run in group if run.status in lessons.FINISHED])
    if len(per_class.columns) > 0 and per_class.notna().any().any():
        st.markdown("**Accuracy on each class**")
        st.altair_chart(per_class_chart(per_class), width="stretch")
    confusion_side_by_side([run for run in group if run.status in lessons.FINISHED],
                           "**Confusion matrices** (share of each true class)")
    if lesson.id == "003-sharpness-grid":
        st.caption("Their sharpness beside ours, run by run: at the top of the page, under the two definitions.")


for lesson in lessons.report_lessons(report.id):
    st.subheader(f"Lesson: {lesson.title}", anchor=lesson.id)
    if lesson.kind == "gd":
        x, y, value = lessons.gd_minimum()
        st.markdown(f"Our gradient descent ({lesson.full_note}) ends at ({x:.4f}, {y:.4f}) with f = **{value:.4f}**; "
                    "the report's: f = -2.2807. The Gradient descent page draws the path.")
        continue
    scale = st.segmented_control("Size", lessons.SCALES, default="scaled", key=f"lesson_scale_{lesson.id}",
                                 format_func=lambda s: lessons.SCALE_LABELS[s].capitalize()) or "scaled"
    st.info(("Scaled for a CPU: " + lesson.scaled_note) if scale == "scaled"
            else ("At the report's size: " + lesson.full_note), icon=":material/straighten:")
    if lesson.kind == "search":
        start_search(lesson, scale)
        continue
    with st.container(border=True):
        arm_notes(lesson)
    start_runs(lesson, scale)
    hand_out(lesson, scale)
    results_together(lesson)
