"""The Evaluate page's robustness tab: accuracy on test images made noisy, blurry, hazy..., per
corruption and severity, per class, for one run or two side by side. Measured on a button press,
kept for every session, and stopped by a time limit on a CPU."""
import streamlit as st

from cifar_tf.evaluation.corruptions import CORRUPTIONS, SEVERITIES
from cifar_tf.evaluation.robustness import run_robustness
from cifar_tf.runs.store import FINISHED_STATUSES
from cifar_tf.views import robustness as view
from cifar_tf.views.formatting import escape_markdown, run_label
from pages.common import model_cache, model_key

IMAGE_CHOICES = (200, 500, 1000, 2000)
TIME_LIMIT_S = 120      # per run: a model too slow for the images chosen is measured up to a severity
SEED = 0


@st.cache_resource(show_spinner=False)
def _measured():
    """Results by what was measured (model file, dataset, choices), shared by every session."""
    return {}


def _key(run, dataset, corruptions, severities, images):
    return (model_key(run), str(dataset.path), tuple(corruptions), tuple(severities), images, SEED)


def _measure(runs, dataset, corruptions, severities, images):
    done = _measured()
    bar = st.progress(0.0, text="Loading the model…")
    for number, run in enumerate(runs):
        key = _key(run, dataset, corruptions, severities, images)
        if key in done:
            continue
        model = model_cache().get(run.model_path)

        def progress(step, total, text, number=number):
            share = (number + step / total) / len(runs)
            bar.progress(share, text=f"{escape_markdown(run.name)}: {text} ({step} of {total})")

        done[key] = run_robustness(run, dataset, model=model, images=images, corruptions=corruptions,
                                   severities=severities, seed=SEED, time_limit=TIME_LIMIT_S, progress=progress)
        while len(done) > 32:
            done.pop(next(iter(done)))
    bar.empty()


def robustness_section(run, runs, dataset):
    st.caption("How the model does on test images it never saw, made worse in the ways real photos are: noise, "
               "blur, JPEG blocks, low contrast, over-exposure, pixelation, haze. Five severities each, with "
               "CIFAR-10-C's parameters (Hendrycks & Dietterich, 2019), made here from the test images.")
    if not run.model_path.exists():
        st.caption("This run has no saved model, so its robustness cannot be measured.")
        return
    names = list(CORRUPTIONS)
    pick, strip_col = st.columns([1, 2], gap="large")
    shown = pick.selectbox("Preview", names, format_func=lambda n: CORRUPTIONS[n].label, key="robust_preview")
    index = pick.number_input("Test image #", min_value=0, max_value=len(dataset.y_test) - 1, value=0,
                              key="robust_preview_image")
    pictures, captions = view.preview(dataset.x_test[int(index)], shown, seed=SEED)
    strip_col.image(pictures, caption=captions, width=88, output_format="PNG")
    strip_col.caption(f"{CORRUPTIONS[shown].label}: {CORRUPTIONS[shown].description}.")

    chosen_col, severity_col, images_col = st.columns([3, 2, 1])
    corruptions = chosen_col.multiselect("Corruptions", names, default=names, key="robust_corruptions",
                                         format_func=lambda n: CORRUPTIONS[n].label)
    low, high = severity_col.select_slider("Severities", SEVERITIES, value=(1, 5), key="robust_severities")
    images = images_col.selectbox("Test images", IMAGE_CHOICES, index=1, key="robust_images",
                                  help="A subset of the test set, classes in proportion. More images give steadier "
                                       "numbers and take longer.")
    others = [r for r in runs if r.id != run.id and r.status in FINISHED_STATUSES and r.model_path.exists()]
    other = st.selectbox("Side by side with (optional)", [None, *others], key="robust_other",
                         format_func=lambda r: "no other run" if r is None else run_label(r))
    severities = tuple(range(low, high + 1))
    chosen = [run, other] if other is not None else [run]
    steps = len(corruptions) * len(severities) + 1
    st.caption(f"{steps} predictions of {min(images, len(dataset.y_test)):,} images per run: seconds for a small "
               f"network on a CPU, a minute or more for a large one. Each run stops after {TIME_LIMIT_S} s, "
               "measured up to the severity it reached.")
    if st.button("Measure robustness", key="robust_go", type="primary", icon=":material/speed:",
                 disabled=not corruptions):
        try:
            _measure(chosen, dataset, corruptions, severities, images)
        except (ValueError, OSError) as error:
            st.error(f"Robustness cannot be measured: {escape_markdown(error)}")
            return
    done = _measured()
    results = {run_label(r) if other is not None else r.name: done.get(_key(r, dataset, corruptions, severities, images))
               for r in chosen}
    if not corruptions or any(result is None for result in results.values()):
        st.caption("Press **Measure robustness** to measure these choices.")
        return
    _show(results)


def _show(results):
    for label, result in results.items():
        message = view.incomplete_message(result)
        if message:
            st.warning(f"{escape_markdown(label)}: {escape_markdown(message)}")
    st.altair_chart(view.robustness_chart(results), width="stretch", key="robustness_chart")
    percent = st.column_config.NumberColumn(format="percent")
    st.dataframe(view.summary_table(results), hide_index=True, width="stretch",
                 column_config={"clean": percent, "mean corrupted": percent, "drop": percent})
    measured = sorted({r["severity"] for result in results.values() for r in result["results"]})
    if not measured:
        return
    severity = measured[0] if len(measured) == 1 else st.select_slider(
        "Per-class accuracy at severity", measured, value=measured[-1], key="robust_class_severity")
    table = view.class_table(results, severity)
    st.dataframe(table, width="stretch", column_config={c: percent for c in table.columns})
    first = next(iter(results.values()))
    st.caption(f"Accuracy per true class on {first['images']:,} test images: clean, then each corruption at "
               f"severity {severity}. Which classes suffer most from which corruption?")
