import streamlit as st

from cifar_tf.data.cifar10 import CorruptDataset, DatasetNotFound, find_dataset
from cifar_tf.hardware import device_summary
from cifar_tf.views.formatting import escape_markdown
from pages.classmode import join_prompt
from pages.common import data_dir, list_runs, run_label

# Class mode: a browser without a name is asked for one first, above everything (on a phone the
# sidebar is folded away); a student who just joined sees their recovery code here.
join_prompt()

st.title("CIFAR-10 Lab")
st.markdown(
    "Train convolutional networks on CIFAR-10, 60,000 small photos of ten kinds of things, and watch "
    "them learn. Pick an architecture and its hyperparameters, follow the loss and accuracy curves "
    "live, then compare runs and open each one to see which images it gets wrong and why.")

device, dataset = st.columns(2, border=True)
with device:
    st.subheader("Device")
    summary = device_summary()
    if summary["gpus"]:
        st.success(f"GPU: {', '.join(summary['gpus'])}. Full trainings take seconds to minutes.")
    else:
        st.info(f"CPU only: {summary['cpu']} ({summary['cpu_count']} cores). Expect a few minutes "
                "for a short run on a subset; presets like *quick* and *fast* are made for this.")

with dataset:
    st.subheader("Dataset")
    try:
        found = find_dataset(data_dir())
    except DatasetNotFound as error:
        found = None
        st.warning("CIFAR-10 is not on this machine yet.")
        with st.expander("Where the lab looked"):
            st.text(str(error))
        if st.button("Download CIFAR-10 (170 MB)", type="primary", icon=":material/download:"):
            from cifar_tf.data.download import DownloadError, download_cifar10

            bar = st.progress(0.0, text="Connecting…")

            def show(done, total):
                fraction = done / total if total else 0.0
                bar.progress(min(fraction, 1.0), text=f"{done / 2**20:.1f} of "
                             f"{(total or 0) / 2**20:.1f} MB")

            try:
                download_cifar10(progress=show)
            except DownloadError as error:
                st.error(str(error))
            else:
                st.rerun()
        st.caption("Already have a copy? Start the app with `CIFAR10_DIR=/path/to/folder` (the folder "
                   "holding `cifar-10-batches-py`).")
    except CorruptDataset as error:
        found = None
        st.error(f"The dataset is damaged: {escape_markdown(error)}")
    if found:
        st.success(f"Found in {escape_markdown(found)}.")

st.subheader("Recent runs")
recent = list_runs()[:5]
if recent:
    for run in recent:
        st.page_link("pages/evaluate.py", label=escape_markdown(run_label(run)), icon=":material/insights:",
                     query_params={"run": run.id})
else:
    st.caption("No runs yet: start one on the Train page.")

st.subheader("Pages")
cols = st.columns(3)
links = [("pages/data.py", "Data", "Browse the images and preview augmentations."),
         ("pages/train.py", "Train", "Choose a network and hyperparameters, watch it learn."),
         ("pages/runs.py", "Runs", "Compare saved runs side by side."),
         ("pages/evaluate.py", "Evaluate", "Per-class report, confusion matrix, mistakes."),
         ("pages/predict.py", "Predict", "Classify your own photos.")]
for i, (page, title, text) in enumerate(links):
    with cols[i % 3]:
        st.page_link(page, label=title, icon=":material/arrow_forward:")
        st.caption(text)
