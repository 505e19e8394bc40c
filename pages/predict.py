import secrets

import streamlit as st

from cifar_tf import CLASS_NAMES
from cifar_tf.data.cifar10 import CorruptDataset, DatasetNotFound, load_cifar10, sample_indices
from cifar_tf.data.images import read_uploads, to_model_input
from cifar_tf.evaluation import tta as augmentation
from cifar_tf.evaluation.predict import label_predictions, predict_proba, predict_uploads, top_k
from cifar_tf.runs.store import best_run, demo_run, with_model
from cifar_tf.views.data import probability_chart
from cifar_tf.views.formatting import article, escape_markdown
from cifar_tf.views.pictures import enlarge
from pages.common import data_dir, grad_cam_picture, list_runs, model_cache, model_key, pick_run

IMAGE_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"]
TEST_IMAGES = 8

st.title("Predict")
st.markdown("Show a trained network your own photos. It only knows the ten CIFAR-10 classes "
            "(" + ", ".join(CLASS_NAMES) + "), and it sees each photo as a 32x32 thumbnail: "
            "a centred square, shrunk.")

runs = with_model(list_runs()) or [run for run in [demo_run()] if run]
if not runs:
    st.warning("There is no trained model yet: train one first, then come back here.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

model_col, k_col, tta_col = st.columns([3, 2, 1.5], vertical_alignment="bottom", gap="medium")
with model_col:
    run = pick_run("Model", runs, key="predict_run", default_id=(best_run(runs) or runs[0]).id,
                   help="Runs with a saved model. The default is the most accurate one.")
k = k_col.slider("Classes to show", 1, len(CLASS_NAMES), 3, key="predict_k")
tta = tta_col.checkbox(f"TTA ({len(augmentation.VIEWS)} views)", key="predict_tta",
                       help="Average the predictions for the image, its mirror image and both moved one pixel "
                            "each way. Often a little more accurate.")
if tta:
    st.caption(f"Each image's prediction: {augmentation.describe()}.")
try:
    with st.spinner("Loading the model…"):
        model = model_cache().get(run.model_path)
except (ValueError, OSError) as error:
    st.error(f"This run's model cannot be loaded: {escape_markdown(error)}")
    st.stop()

# ---------------------------------------------------------------- your images
st.subheader("Your images")
files = st.file_uploader("Images to classify", type=IMAGE_TYPES, accept_multiple_files=True,
                         key="predict_files")
photo = None
if st.toggle("Take a photo with the camera", key="predict_camera"):
    photo = st.camera_input("Photo", key="predict_photo", label_visibility="collapsed")
sources = [*(files or []), *([photo] if photo else [])]
uploads = read_uploads(sources, names=[f.name for f in files or []] + ["camera photo"] * bool(photo))
if not sources:
    st.caption("Upload one or more photos, or take one with the camera: an animal or a vehicle "
               "from the list above works best.")

show_cam = bool(uploads) and st.toggle(
    "Show where the model looks (Grad-CAM)", key="predict_cam",
    help="Grad-CAM colours the parts of the image that pushed the model towards a class: "
         "red is strong, blue is weak.")
probabilities = iter(predict_uploads(model, uploads, tta=tta))
for number, upload in enumerate(uploads):
    if upload.error:
        st.error(f"{escape_markdown(upload.name)}: {escape_markdown(upload.error)}")
        continue
    ranked = top_k(next(probabilities), k)
    with st.container(border=True):
        st.markdown(f"**{escape_markdown(upload.name)}** looks like {article(ranked[0][0])} **{ranked[0][0]}** "
                    f"({ranked[0][1]:.0%} sure)")
        shown, seen, chart = st.columns([2, 1.2, 4], gap="medium")
        shown.image(upload.image, caption="your image, {}x{}".format(*upload.original_size), width="stretch")
        seen.image(enlarge(upload.model_input, 144), caption="what the model sees (32x32)")
        chart.altair_chart(probability_chart(ranked), width="stretch")
        if show_cam:
            cam_class = st.selectbox("Grad-CAM for the class", CLASS_NAMES, key=f"predict_cam_{number}",
                                     index=CLASS_NAMES.index(ranked[0][0]))
            st.image(grad_cam_picture(model_key(run), model, upload.model_input, CLASS_NAMES.index(cam_class),
                                      to_model_input(upload.image, size=224)),
                     caption=f"where the model sees a {cam_class}")

# ---------------------------------------------------------------- test images
st.subheader("Random test images")
st.caption("Photos from the test set, which the model never trained on. Under each: the model's "
           "guess, green when right and red when wrong, and how sure it was.")
if st.button("Random test images", icon=":material/casino:", key="predict_draw"):
    st.session_state["predict_test_seed"] = secrets.randbits(32)
seed = st.session_state.get("predict_test_seed")
if seed is not None:
    try:
        dataset = load_cifar10(data_dir())
    except (DatasetNotFound, CorruptDataset):
        dataset = None
        st.warning("The test images need CIFAR-10, which is not on this machine (or is damaged).")
        st.page_link("pages/home.py", label="Download it from the Home page",
                     icon=":material/download:")
    if dataset is not None:
        picked = sample_indices(dataset.y_test, TEST_IMAGES, seed=seed)
        results = label_predictions(predict_proba(model, dataset.x_test[picked], tta=tta),
                                    dataset.y_test[picked], dataset.class_names)
        st.markdown(f"**{sum(r['correct'] for r in results)} of {len(results)}** right")
        for column, index, result in zip(st.columns(TEST_IMAGES), picked, results):
            column.image(enlarge(dataset.x_test[index], 112))
            guess = escape_markdown(result["predicted"])
            sure = f":gray[{result['probability']:.0%} sure]"
            if result["correct"]:
                column.markdown(f":green[:material/check_circle: {guess}]  \n{sure}")
            else:
                column.markdown(f":red[:material/cancel: {guess}]  \n{sure}  \n"
                                f"true: **{escape_markdown(result['true'])}**")
