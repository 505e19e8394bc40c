import streamlit as st

from cifar_tf.data.cifar10 import CorruptDataset, DatasetNotFound, load_cifar10
from cifar_tf.evaluation.metrics import cell_examples, most_confident_mistakes, most_confused_cell
from cifar_tf.runs.outputs import load_probabilities, read_evaluation
from cifar_tf.runs.store import best_run
from cifar_tf.views import evaluation as view
from cifar_tf.views.formatting import escape_markdown
from pages.common import data_dir, grad_cam_picture, list_runs, model_cache, model_key, pick_run
from pages.evaluate_calibration import calibration_section
from pages.evaluate_robustness import robustness_section

st.title("Evaluate")
intro = st.empty()  # the run's number of test images, once its evaluation is read
intro.caption(view.page_caption())

runs = list_runs()
if not runs:
    st.info("No runs yet. Train a network first, then come back here to see how it does.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

best = best_run(runs)
run = pick_run("Run", runs, key="evaluate_run", default_id=best.id if best else None,
               help="The best finished run is shown first; the choice is kept in the page address.")
try:
    evaluation = read_evaluation(run)
except ValueError as error:
    st.error(escape_markdown(error))
    st.stop()
if evaluation is None:
    st.info(view.no_evaluation_message(run), icon=":material/info:")
    if run.record.get("error"):
        st.text(f"Error: {run.record['error']}")
    st.stop()

intro.caption(view.page_caption(evaluation))
class_names = evaluation["class_names"]
accuracy, loss, f1, top3 = st.columns(4, border=True)
accuracy.metric("Accuracy", f"{evaluation['accuracy']:.1%}", help="Share of test images classified right.")
loss.metric("Loss", f"{evaluation['loss']:.3f}", help="Mean cross-entropy on the test set; lower is better.")
f1.metric("Weighted F1", f"{evaluation['weighted_f1']:.3f}",
          help="Per-class F1 averaged, weighted by class size.")
top3.metric("Top-3 accuracy", f"{evaluation['top3_accuracy']:.1%}",
            help="Share of test images whose true class is among the three most probable.")
st.caption(view.views_caption(run.record))

report_col, matrix_col = st.columns([1, 1], gap="large")
with report_col:
    st.subheader("Per-class report")
    # Widths in pixels that add up to the half page a 1280 px projector gives it, support included.
    score = st.column_config.NumberColumn(format="%.2f", width=62)
    st.dataframe(view.report_table(evaluation), height=495, width="stretch", placeholder="",
                 column_config={"_index": st.column_config.TextColumn(width=92), "precision": score,
                                "recall": score, "f1": score,
                                "support": st.column_config.NumberColumn(format="localized", width=66)})
    st.caption("**Precision**: of the images called this class, the share that are. **Recall**: of "
               "the images of this class, the share found. **F1** balances the two.")

with matrix_col:
    st.subheader("Confusion matrix")
    normalize = st.toggle("Show shares of each true class instead of counts", key="evaluate_normalize")
    chart = view.confusion_chart(evaluation["confusion_matrix"], class_names, normalize=normalize)
    event = st.altair_chart(chart, on_select="rerun", key=f"matrix_{run.id}", width="stretch")
    st.caption("Rows are the true classes, columns what the model said; the diagonal is right. "
               "Click a cell to see its test images below, double-click to clear.")

try:
    dataset = load_cifar10(data_dir())
    probabilities = load_probabilities(run, count=len(dataset.y_test))
except DatasetNotFound:
    st.warning("The CIFAR-10 test images are not on this machine, so the pictures behind the "
               "numbers cannot be shown. Download the dataset on the Home page.")
    st.stop()
except (CorruptDataset, OSError) as error:
    st.warning(f"The CIFAR-10 test images cannot be read, so the pictures behind the numbers "
               f"cannot be shown: {escape_markdown(error)}")
    st.stop()
except ValueError as error:
    st.warning(escape_markdown(error))
    st.stop()

clicked = view.selected_cell(event, class_names)
cell = clicked or most_confused_cell(evaluation["confusion_matrix"])
if cell is not None:
    true, predicted = cell
    indices, total = cell_examples(probabilities, dataset.y_test, true, predicted, limit=21)
    if true == predicted:
        st.subheader(f"{escape_markdown(class_names[true])} recognised correctly")
    else:
        st.subheader(f"True {escape_markdown(class_names[true])}, predicted {escape_markdown(class_names[predicted])}")
    shown = f", the {len(indices)} the model was surest of shown" if total > len(indices) else ""
    hint = "" if clicked else " Until you click a cell, the most frequent mistake is shown."
    st.caption(f"{total:,} test images in this cell{shown}; under each, the model's two most probable "
               f"classes.{hint}")
    if indices:
        pictures, captions = view.gallery(dataset.x_test, probabilities, dataset.y_test, indices,
                                             class_names, show_true=False)
        st.image(pictures, caption=captions, width=128, output_format="PNG")

st.subheader("Most confident mistakes")
st.caption("The wrong answers the model was surest of, each as true class → the model's answer and "
           "its confidence. Some are hard pictures, some have debatable labels.")
mistakes = most_confident_mistakes(probabilities, dataset.y_test, k=21)
if mistakes:
    pictures, captions = view.gallery(dataset.x_test, probabilities, dataset.y_test, mistakes,
                                         class_names, k=1)
    st.image(pictures, caption=captions, width=128, output_format="PNG")
else:
    st.caption("It made no mistakes on the test set.")

st.subheader("Confidence and robustness")
calibration_tab, robustness_tab = st.tabs(["Calibration: is its confidence right?", "Robustness: noise, blur, haze"])
with calibration_tab:
    calibration_section(run, dataset)
with robustness_tab:
    robustness_section(run, runs, dataset)

st.subheader("Where the model looked")
if not run.model_path.exists():
    st.caption("This run has no saved model, so its attention cannot be shown.")
    st.stop()
st.caption("Grad-CAM colours the parts of a test image that pushed the model towards a class (red "
           "strong, blue weak): for its answer, and for the true class.")
choices = mistakes or list(range(min(21, len(dataset.y_test))))
predicted_classes = probabilities.argmax(axis=1)
index = st.selectbox("Test image", choices, key=f"evaluate_cam_{run.id}",
                     format_func=lambda i: f"#{i}: {class_names[dataset.y_test[i]]}, answered "
                                           f"{class_names[predicted_classes[i]]}")
try:
    model = model_cache().get(run.model_path)
except (ValueError, OSError) as error:  # a damaged or refused model (Keras' safe mode)
    st.error(f"This run's model cannot be loaded, so its attention cannot be shown: {escape_markdown(error)}")
    st.stop()
answer, truth = int(predicted_classes[index]), int(dataset.y_test[index])
left, right, _ = st.columns([1, 1, 2])
left.image(grad_cam_picture(model_key(run), model, dataset.x_test[index], answer),
           caption=f"for its answer: {class_names[answer]}")
right.image(grad_cam_picture(model_key(run), model, dataset.x_test[index], truth),
            caption=f"for the true class: {class_names[truth]}")
