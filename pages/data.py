import secrets

import streamlit as st

from cifar_tf.data.augment import AUGMENT_PRESETS, PREVIEW_DEFAULT, augmentation_preview, parse_augmentation
from cifar_tf.data.cifar10 import CorruptDataset, DatasetNotFound, dataset_info, load_cifar10, sample_indices
from cifar_tf.validation import InvalidArgument
from cifar_tf.views.data import class_counts, class_counts_chart, class_counts_table
from cifar_tf.views.formatting import escape_markdown
from cifar_tf.views.pictures import enlarge
from pages.common import data_dir

COLUMNS, ROWS = 8, 4
CUSTOM = "custom"

st.title("Data")
st.markdown("CIFAR-10 holds 60,000 colour photos of 32x32 pixels, 6,000 of each of ten classes: "
            "50,000 to train on and 10,000 kept aside to test. They are tiny: the pictures below "
            "are blown up so that you see every pixel the network sees.")

try:
    with st.spinner("Loading CIFAR-10…"):
        dataset = load_cifar10(data_dir())
except DatasetNotFound as error:
    st.warning("CIFAR-10 is not on this machine yet, so there are no images to show.")
    st.page_link("pages/home.py", label="Download it from the Home page", icon=":material/download:")
    st.caption("Already have a copy? Start the app with `CIFAR10_DIR=/path/to/folder` (the folder "
               "holding `cifar-10-batches-py`).")
    with st.expander("Where the lab looked"):
        st.text(str(error))
    st.stop()
except CorruptDataset as error:
    st.error(f"The dataset is damaged: {escape_markdown(error)}")
    st.stop()

names = list(dataset.class_names)
state = st.session_state
state.setdefault("data_seed", secrets.randbits(32))
state.setdefault("data_aug_seed", 0)
state.setdefault("data_aug_index", 0)

# ---------------------------------------------------------------- sample grid
st.subheader("Random test images")
filter_col, button_col = st.columns([4, 1], vertical_alignment="bottom")
chosen = filter_col.multiselect("Classes", names, key="data_classes", placeholder="All classes",
                                help="Show only images of these classes.")
button_col.button("Reshuffle", icon=":material/shuffle:", width="stretch",
                  on_click=lambda: state.update(data_seed=secrets.randbits(32)))
picked = sample_indices(dataset.y_test, COLUMNS * ROWS, seed=state["data_seed"],
                        classes=[names.index(name) for name in chosen])
for row in range(0, len(picked), COLUMNS):
    for column, index in zip(st.columns(COLUMNS), picked[row:row + COLUMNS]):
        column.image(enlarge(dataset.x_test[index], 112), caption=names[dataset.y_test[index]])

# ---------------------------------------------------------------- class counts
st.subheader("Images per class")
counts = class_counts(dataset_info(data_dir()))
chart_col, table_col = st.columns([3, 1], gap="medium")
chart_col.altair_chart(class_counts_chart(counts), width="stretch")
table_col.dataframe(class_counts_table(counts), width="stretch", height="content",
                    column_config={split: st.column_config.NumberColumn(format="localized")
                                   for split in ("train", "test")})
chart_col.caption("Every class has the same number of images: the dataset is balanced, so plain "
                  "accuracy is a fair score and no class needs extra weight.")

# ---------------------------------------------------------------- augmentation
st.subheader("Augmentation preview")
st.markdown("During training each image is shown altered a little differently every epoch, so "
            "the network learns what stays the same. Here is one test image through the "
            "augmentation you choose, 16 times.")
CONTROLS = [2, 2, 1.1, 1, 1]
preset_col, spec_col, index_col, random_col, redraw_col = st.columns(CONTROLS,
                                                                     vertical_alignment="bottom")
preset = preset_col.selectbox(
    "Augmentation", [*AUGMENT_PRESETS, CUSTOM], index=list(AUGMENT_PRESETS).index(PREVIEW_DEFAULT), key="data_aug_preset",
    format_func=lambda p: "custom…" if p == CUSTOM else f"{p}: {AUGMENT_PRESETS[p].describe()}")
spec = preset
if preset != CUSTOM:  # show what the preset means, in the syntax a custom one is written in
    spec_col.text_input("Your augmentation", AUGMENT_PRESETS[preset].describe(), disabled=True,
                        key=f"data_aug_shown_{preset}", help="Choose custom… to write your own.")
else:
    spec = spec_col.text_input("Your augmentation", "flip,crop=4,rotation=15", key="data_aug_spec",
                               help="Comma-separated: flip, crop=PIXELS, shift=FRACTION, "
                                    "rotation=DEGREES, zoom=FRACTION, shear=DEGREES, cutout=PIXELS, "
                                    "fill=reflect|nearest|constant|wrap. May start with a preset.")
index_col.number_input("Test image", 0, len(dataset.y_test) - 1, key="data_aug_index",
                       help=f"Index 0 to {len(dataset.y_test) - 1} in the test set.")
random_col.button("Random", icon=":material/casino:", width="stretch", help="Pick a random test image.",
                  on_click=lambda: state.update(data_aug_index=secrets.randbelow(len(dataset.y_test))))
redraw_col.button("Redraw", icon=":material/refresh:", width="stretch",
                  help="New random augmentations of the same image.",
                  on_click=lambda: state.update(data_aug_seed=state["data_aug_seed"] + 1))
try:
    augmentation = parse_augmentation(spec)
except InvalidArgument as error:
    augmentation = None
    st.columns(CONTROLS)[1].error(str(error))  # under the box it is about, the row stays aligned

index = state["data_aug_index"]
original, augmented = st.columns([1, 5], gap="large")
original.image(enlarge(dataset.x_test[index], 144), caption=f"original: {names[dataset.y_test[index]]}")
if augmentation is None:
    augmented.caption("Fix the augmentation above to see the preview.")
else:
    with augmented, st.spinner("Augmenting…"):
        preview = augmentation_preview(dataset.x_test[index], augmentation, n=16,
                                       seed=state["data_aug_seed"])
        for row in range(0, len(preview), 8):
            for column, image in zip(st.columns(8), preview[row:row + 8]):
                column.image(enlarge(image, 96))
