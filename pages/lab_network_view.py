import secrets
import zlib

import streamlit as st

from cifar_tf import CLASS_NAMES
from cifar_tf.data.cifar10 import CorruptDataset, DatasetNotFound, load_cifar10
from cifar_tf.data.images import UnusableImage, load_for_model, to_model_input
from cifar_tf.evaluation import explain
from cifar_tf.evaluation.predict import predict_proba, top_k
from cifar_tf.runs.store import best_run, with_model
from cifar_tf.views.data import probability_chart
from cifar_tf.views.formatting import escape_markdown
from cifar_tf.views.pictures import enlarge
from pages.common import (activation_maps, data_dir, first_layer_filters, grad_cam_picture, list_runs, model_cache,
                          model_key, pick_run)

SHOW = 224  # pixels: how large the 32x32 images are drawn

st.title("What the network sees")
st.markdown("Look inside a trained network: **where** in the image it found the evidence for a class "
            "(Grad-CAM), what its first layer looks for (its filters), and what every convolution layer "
            "makes of one image (its activation maps).")

runs = with_model(list_runs())
if not runs:
    st.warning("There is no trained model yet: train one first, then come back here.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()
run = pick_run("Model", runs, key="view_run", default_id=(best_run(runs) or runs[0]).id)
try:
    with st.spinner("Loading the model…"):
        model = model_cache().get(run.model_path)
except (ValueError, OSError) as error:
    st.error(f"This run's model cannot be loaded: {escape_markdown(error)}")
    st.stop()

# ---------------------------------------------------------------- the image
source = st.segmented_control("Image", ["A test image", "Your photo"], default="A test image",
                              key="view_source") or "A test image"
image = display = truth = None
if source == "Your photo":
    upload = st.file_uploader("A photo", type=["png", "jpg", "jpeg", "gif", "bmp", "webp"], key="view_upload")
    if upload is None:
        st.info("Upload a photo of an animal or a vehicle: the network knows only the ten CIFAR-10 classes.")
        st.stop()
    try:
        photo, image = load_for_model(upload)
    except UnusableImage as error:
        st.error(f"This file cannot be used: {escape_markdown(error)}")
        st.stop()
    display = to_model_input(photo, size=SHOW)  # the same centred square, sharp
else:
    try:
        dataset = load_cifar10(data_dir())
    except (DatasetNotFound, CorruptDataset):
        st.warning("The test images need CIFAR-10, which is not on this machine: upload a photo instead.")
        st.stop()
    index_col, button_col, _ = st.columns([2, 1, 3], vertical_alignment="bottom")
    if button_col.button("Another one", icon=":material/casino:", key="view_random"):
        st.session_state["view_index"] = secrets.randbelow(len(dataset.y_test))
    index = index_col.number_input("Test image number", 0, len(dataset.y_test) - 1, key="view_index")
    image, truth = dataset.x_test[index], CLASS_NAMES[int(dataset.y_test[index])]
    display = enlarge(image, SHOW)

probabilities = predict_proba(model, image[None])[0]
ranked = top_k(probabilities, 3)
predicted = CLASS_NAMES.index(ranked[0][0])
verdict = "" if truth is None else (": :green[right]" if ranked[0][0] == truth else f": :red[wrong, it is a **{truth}**]")
st.markdown(f"The network says **{ranked[0][0]}**, {ranked[0][1]:.0%} sure{verdict}.")

grad_cam, filters, activations = st.tabs(["Grad-CAM", "First-layer filters", "Activation maps"])

with grad_cam:
    runner_up = CLASS_NAMES.index(ranked[1][0])
    chosen = st.selectbox("Compare with the evidence for", range(len(CLASS_NAMES)), index=runner_up,
                          key=f"view_class_{zlib.crc32(image.tobytes())}", width=320,  # a new default per image
                          format_func=lambda i: f"{CLASS_NAMES[i]} ({probabilities[i]:.0%} according to the network)")
    original, for_predicted, for_chosen = st.columns(3)
    original.image(display, caption="the image" + (f" (true class: {truth})" if truth else ""), width=SHOW)
    for_predicted.image(grad_cam_picture(model_key(run), model, image, predicted, display, SHOW),
                        caption=f"evidence for {CLASS_NAMES[predicted]} (its answer)", width=SHOW)
    for_chosen.image(grad_cam_picture(model_key(run), model, image, chosen, display, SHOW),
                     caption=f"evidence for {CLASS_NAMES[chosen]}", width=SHOW)
    st.altair_chart(probability_chart(ranked), width="stretch")
    st.caption(f"Grad-CAM (Selvaraju et al. 2017) weighs the feature maps of layer `{explain.cam_layer(model)}` "
               "by how much each raises the class's score: red where the evidence for that class lies, blue "
               "where there is none. Compare the predicted class with another one.")

with filters:
    weights = first_layer_filters(model_key(run), model)
    scale = max(1, 48 // weights.shape[1])
    st.image(explain.image_grid(weights, columns=16, scale=scale, pad=6), width="content")
    first = explain.conv_layers(model)[0]
    st.caption(f"The {len(weights)} filters of `{first}`, {weights.shape[1]}x{weights.shape[2]} pixels each, "
               "each stretched to full contrast. Every filter slides over the image and responds where the "
               "image looks like it: a filter dark on one side and bright on the other finds edges, one of a "
               "single colour finds that colour. Tiny 3x3 filters look like a few coloured squares; larger "
               "ones (7x7 in ResNet50) show edges and blobs more plainly, and after longer training.")

with activations:
    maps = activation_maps(model_key(run), model, image)
    names = [m["layer"] for m in maps]
    shown_col, layer_col = st.columns([1, 3], vertical_alignment="center")
    shown_col.image(display, width=160)
    layer = layer_col.select_slider("Convolution layer", names, value=names[0], key=f"view_layer_{run.id}")
    entry = maps[names.index(layer)]
    height, width, channels = entry["shape"]
    st.image(explain.image_grid(entry["maps"], columns=8, scale=max(1, 96 // max(height, width)), pad=2),
             width="content")
    st.caption(f"`{layer}`: {channels} maps of {height}x{width}; the {len(entry['channels'])} most active shown, "
               "strongest first (yellow: strong response, dark: none). Early layers respond to edges and "
               "colours at every place; deeper ones to larger patterns, on coarser grids.")
