"""The Evaluate page's calibration tab: is the model's confidence right? Reliability diagram, ECE
before and after temperature scaling (fitted on the run's validation split), per answered class."""
import streamlit as st

from cifar_tf.evaluation.calibration import VALIDATION_IMAGES, run_calibration
from cifar_tf.views import calibration as view
from cifar_tf.views.formatting import escape_markdown
from pages.common import model_cache, model_key


@st.cache_data(show_spinner="Predicting validation images to fit a temperature…", max_entries=64)
def _calibration(key, data_key, _run, _dataset, _model):
    """The run's calibration report, once per model file and dataset (`key`, `data_key` stand for them)."""
    return run_calibration(_run, _dataset, model=_model)


def calibration_section(run, dataset):
    st.caption("A calibrated model is right 90 % of the time when it says 90 %. Test images are sorted by the "
               "confidence of the model's answer; each point is a bin's accuracy against its mean confidence. On "
               "the dashed diagonal the confidence is honest; below it the model is **over-confident**. ECE "
               "(expected calibration error) is the gap averaged over the bins, weighted by their images. "
               f"**Temperature scaling** divides the logits by one number T, fitted on up to {VALIDATION_IMAGES:,} "
               "of the run's validation images (never the test set): the answers stay, the confidence changes.")
    model = None
    if run.model_path.exists():
        try:
            model = model_cache().get(run.model_path)
        except (ValueError, OSError):
            model = None   # said below: temperature scaling needs it
    try:
        report = _calibration(model_key(run), str(dataset.path), run, dataset, model)
    except (ValueError, OSError) as error:
        st.warning(f"Calibration cannot be measured: {escape_markdown(error)}")
        return
    st.markdown(escape_markdown(view.verdict(report)))
    if view.unavailable_message(report):
        st.info(escape_markdown(view.unavailable_message(report)), icon=":material/info:")
    if report.get("note"):
        st.caption(f"Note: {escape_markdown(report['note'])}.")
    before, after = report["before"], report.get("after")
    ece, ece_after, temperature = st.columns(3, border=True)
    ece.metric("ECE as trained", f"{before['ece']:.1%}", help="Expected calibration error on the test set.")
    if after:
        ece_after.metric("ECE after temperature scaling", f"{after['ece']:.1%}",
                         delta=f"{(after['ece'] - before['ece']) * 100:+.1f} points", delta_color="inverse")
        temperature.metric("Temperature T", f"{report['temperature']:.2f}",
                           help="Above 1 softens an over-confident model's probabilities; below 1 sharpens them.")
    else:
        ece_after.metric("ECE after temperature scaling", "–")
        temperature.metric("Temperature T", "–")
    st.altair_chart(view.reliability_chart(report), width="stretch", key=f"reliability_{run.id}")
    left, right = st.columns([2, 3], gap="large")
    left.dataframe(view.summary_rows(report), hide_index=True, width="stretch")
    percent = st.column_config.NumberColumn(format="percent")
    right.dataframe(view.class_table(report), width="stretch",
                    column_config={"confidence": percent, "accuracy": percent, "ECE": percent, "ECE after": percent,
                                   "overconfidence": st.column_config.NumberColumn(
                                       format="percent", help="Mean confidence minus accuracy: above 0, too sure."),
                                   "answers": st.column_config.NumberColumn(
                                       format="localized", help="Test images the model answered with this class.")})
    st.caption("Per class, the test images the model **answered** with it: how sure it was on average, how often "
               "it was right, and the calibration error before and after scaling.")
