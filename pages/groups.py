import streamlit as st

from cifar_tf.classroom.folder import NotAllowed
from cifar_tf.evaluation.significance import MIN_REPEATS, SUGGESTED_REPEATS
from cifar_tf.runs.repeats import REPEATS
from cifar_tf.validation import InvalidArgument
from cifar_tf.views import groups as grouping
from cifar_tf.views.formatting import escape_markdown
from pages.common import list_runs, run_manager

st.title("Repeats and seed noise")
st.caption("Runs of one configuration (every setting the same but the seed) form a group. Two runs that differ "
           "only in their seed end a few tenths of a point apart, more on short runs: compare groups, not single "
           "runs, before you say one setting beats another.")

if message := st.session_state.pop("groups_message", None):
    st.success(message, icon=":material/check_circle:")

runs = list_runs()
groups = grouping.group_runs(runs)
if not groups:
    st.info("No runs yet. Train a configuration with Repeat ×3 on the Train page, then come back.")
    st.stop()

percent = dict(format="percent", min_value=0.0, max_value=1.0)
table = st.dataframe(
    grouping.groups_table(groups), hide_index=True, on_select="rerun", selection_mode="multi-row",
    key="groups_table", placeholder="—",   # the numbers first: a phone shows the first columns
    column_order=["group", "test accuracy", "± std", "n", "min", "max", "best val accuracy", "best epoch",
                  "training time (s)", "params", "arch", "runs"],
    column_config={
        "group": st.column_config.TextColumn("group", help="The first run's name, and how many runs it has"),
        "n": st.column_config.NumberColumn("n", help="Runs with a test evaluation"),
        "test accuracy": st.column_config.NumberColumn("test accuracy", format="percent",
                                                       help="Mean over the group's evaluated runs"),
        "± std": st.column_config.NumberColumn("± std", format="percent", help="Standard deviation across seeds"),
        "min": st.column_config.NumberColumn("min", format="percent"),
        "max": st.column_config.NumberColumn("max", format="percent"),
        "best val accuracy": st.column_config.NumberColumn("best val accuracy", format="percent",
                                                           help="Each run at its own best epoch, averaged"),
        "best epoch": st.column_config.NumberColumn("at epoch", format="%.1f"),
        "training time (s)": st.column_config.NumberColumn("training time", format="%.0f s"),
        "params": st.column_config.NumberColumn("params", format="localized"),
    })
ticked = [groups[i] for i in table.selection.rows if i < len(groups)]
chosen = ticked or groups[:2]
st.caption("Tick rows to pick the groups below" + ("" if ticked else " (the first two are shown until you do)") + ".")

st.subheader("Curves with their spread")
c1, c2, c3 = st.columns([2, 1, 1])
metric = c1.segmented_control("Metric", list(grouping.BAND_METRICS), default="val_accuracy", required=True,
                              format_func=grouping.BAND_METRICS.get, key="groups_metric", wrap=True)
x = c2.segmented_control("Against", list(grouping.BAND_AXES), default="epoch", required=True,
                         format_func=grouping.BAND_AXES.get, key="groups_x")
show_runs = c3.toggle("Each run, faintly", key="groups_runs")
data = grouping.band_data(chosen, metric, x)
if data.empty:
    st.caption("These groups have no finished epochs with this metric.")
else:
    st.altair_chart(grouping.band_chart(data, metric, x, show_runs=show_runs), width="stretch")
    st.caption("The line is the group's mean; the band is ±1 standard deviation across its runs.")

st.subheader("Is the difference real?")
labels = {group.label: group for group in groups}
names = list(labels)
c1, c2 = st.columns(2)
first = c1.selectbox("Group A", names, index=names.index(chosen[0].label), key="groups_a")
second = c2.selectbox("Group B", names, index=names.index(chosen[-1].label) if len(chosen) > 1 else min(1, len(names) - 1),
                      key="groups_b")
if first == second:
    st.info("Pick two different groups (or runs) to compare.", icon=":material/compare_arrows:")
    st.stop()
a, b = labels[first], labels[second]
if not len(a.evaluated()) or not len(b.evaluated()):
    st.info("Both groups need at least one finished run with a test evaluation.", icon=":material/hourglass_top:")
    st.stop()
difference, sentence = grouping.compare_groups(a, b)
(st.success if difference.real else st.warning if difference.known else st.info)(escape_markdown(sentence))
if difference.known:
    per_class = grouping.per_class_differences(a, b)
    beyond = per_class[per_class["beyond noise"]] if not per_class.empty else per_class
    if per_class.empty:
        st.caption("Per class: these runs have no per-class evaluation.")
    elif beyond.empty:
        st.caption("Per class: no class differs beyond noise (each class tested with a correction for ten tests).")
    else:
        st.markdown("**Classes that differ beyond noise** (B − A; each class tested with a correction for ten tests)")
        st.dataframe(beyond.drop(columns="beyond noise"), hide_index=True, column_config={
            name: st.column_config.NumberColumn(name, format="percent") for name in ("difference", "low", "high")})

few = [group for group in (a, b) if len(group.evaluated()) < MIN_REPEATS + 1]
if few:
    st.markdown("**Repeat to tell**")
    repeats = st.number_input("Repeats per group", min_value=REPEATS.low, max_value=REPEATS.high, value=SUGGESTED_REPEATS,
                              key="groups_repeats", help="Each repeat is a run with a seed none of the group used; "
                                                         "the queue takes them like any run.")
    for group in few:
        if st.button(f"Repeat “{escape_markdown(group.label)}” ×{repeats}", key=f"repeat_{group.key}", icon=":material/replay:"):
            try:
                started = grouping.repeat_group(run_manager(), group, int(repeats))
            except (InvalidArgument, NotAllowed, RuntimeError, ValueError, OSError) as problem:
                st.error(f"Could not queue the repeats: {escape_markdown(problem)}")
            else:
                st.session_state["groups_message"] = f"Queued {len(started)} repeats: watch them on the Train page."
                st.rerun()
