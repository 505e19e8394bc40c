"""What the Data and Predict pages show: image samples, class counts, augmentation previews and
probability charts, and the uploads and test images they predict on.

Only numpy, Pillow, pandas and Altair are imported here; TensorFlow is imported inside
`augmentation_preview` (through `cifar_tf.augment`), the one function that needs it, and models
are passed in already loaded. Nothing in this module touches Streamlit.
"""
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cifar_tf import CLASS_NAMES, IMAGE_SHAPE
from cifar_tf.validation import InvalidArgument, check_int

DEMO_RUN = "demo-fast-cnn"
SPLITS = ("train", "test")


# --------------------------------------------------------------------------- images

def sample_indices(labels, n, *, classes=None, seed=0):
    """Up to `n` distinct random indices into `labels`, in random order.

    `classes` (class indices) keeps only images of those classes; None or empty means every
    class. Fewer than `n` come back when fewer images qualify.
    """
    labels = np.asarray(labels).reshape(-1)
    n = check_int("n", n, low=0)
    pool = np.arange(len(labels))
    if classes is not None and len(classes):
        wanted = [check_int("classes", c, low=0) for c in classes]
        pool = pool[np.isin(labels, wanted)]
    rng = np.random.default_rng(seed)
    return rng.permutation(pool)[:n]


def enlarge(image_uint8, size=96):
    """A PIL image of the small `image_uint8` scaled to `size` pixels wide, blocky (NEAREST)
    so that the pixels the model sees stay visible."""
    size = check_int("size", size, low=1)
    image = Image.fromarray(np.asarray(image_uint8, dtype=np.uint8))
    height = max(1, round(size * image.height / image.width))
    return image.resize((size, height), Image.Resampling.NEAREST)


# --------------------------------------------------------------------------- class counts

def class_counts(dataset_info):
    """Images per class and split, as a long DataFrame with columns class, split and count."""
    import pandas as pd

    names = list(dataset_info["class_names"])
    rows = [{"class": name, "split": split, "count": int(dataset_info[f"{split}_counts"].get(name, 0))}
            for split in SPLITS for name in names]
    frame = pd.DataFrame(rows, columns=["class", "split", "count"])
    frame["class"] = pd.Categorical(frame["class"], categories=names, ordered=True)
    return frame


def class_counts_table(counts):
    """The counts as one row per class, one column per split, and a total row."""
    table = counts.pivot_table(index="class", columns="split", values="count", aggfunc="sum",
                               observed=False).reindex(columns=list(SPLITS)).fillna(0).astype(int)
    table.columns.name = None
    table.loc["total"] = table.sum()
    return table


def class_counts_chart(counts):
    """Grouped bar chart: one group of bars per class, one bar per split."""
    import altair as alt

    order = list(counts["class"].cat.categories) if hasattr(counts["class"], "cat") \
        else list(dict.fromkeys(counts["class"]))
    data = counts.assign(**{"class": counts["class"].astype(str)})
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("class:N", sort=order, title=None, axis=alt.Axis(labelAngle=-40)),
        xOffset=alt.XOffset("split:N", sort=list(SPLITS)),
        y=alt.Y("count:Q", title="images"),
        color=alt.Color("split:N", sort=list(SPLITS), title="split",
                        legend=alt.Legend(orient="top")),
        tooltip=["class:N", "split:N", alt.Tooltip("count:Q", format=",")],
    ).properties(height=320)


# --------------------------------------------------------------------------- augmentation

def augmentation_preview(image, spec, n=16, seed=0):
    """`n` random augmentations of one uint8 image (32, 32, 3), as uint8 (n, 32, 32, 3).

    `spec` is anything `parse_augmentation` takes (preset name, `flip,crop=4`...); a bad one
    raises `InvalidArgument` before TensorFlow is imported.
    """
    from cifar_tf.augment import parse_augmentation

    augmentation = parse_augmentation(spec)
    n = check_int("n", n, low=1, high=1024)
    seed = check_int("seed", seed, low=0)
    image = np.asarray(image)
    if image.shape != IMAGE_SHAPE:
        raise InvalidArgument("image", f"array of shape {image.shape}", f"shape {IMAGE_SHAPE}")
    batch = np.repeat(image[None].astype(np.float32), n, axis=0)
    if augmentation.is_identity:
        return batch.astype(np.uint8)

    import tensorflow as tf

    from cifar_tf.augment import augment_batch

    out = augment_batch(tf.constant(batch), augmentation,
                        tf.constant([seed, 0x5EED], dtype=tf.int64)).numpy()
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- probabilities

def probability_frame(probabilities, class_names=CLASS_NAMES):
    """A DataFrame (class, probability), most probable first, from `(class, p)` pairs as
    `predict.top_k` returns them or from a full probability vector."""
    import pandas as pd

    if len(probabilities) and isinstance(probabilities[0], (tuple, list)):
        pairs = [(str(name), float(p)) for name, p in probabilities]
    else:
        row = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        if len(row) != len(class_names):
            raise ValueError(f"expected {len(class_names)} probabilities, got {len(row)}")
        pairs = [(str(name), float(p)) for name, p in zip(class_names, row)]
    pairs.sort(key=lambda pair: -pair[1])
    return pd.DataFrame(pairs, columns=["class", "probability"])


def probability_chart(probabilities, class_names=CLASS_NAMES):
    """Horizontal bars of class probabilities, most probable on top and highlighted."""
    import altair as alt

    frame = probability_frame(probabilities, class_names)
    frame["rank"] = ["top" if i == 0 else "other" for i in range(len(frame))]
    base = alt.Chart(frame).encode(
        y=alt.Y("class:N", sort=list(frame["class"]), title=None),
        # Room past 100% for the label of a near-certain bar.
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1.12]),
                axis=alt.Axis(format="%", values=[0, 0.2, 0.4, 0.6, 0.8, 1]), title="probability"),
        tooltip=["class:N", alt.Tooltip("probability:Q", format=".1%")],
    )
    # A step per bar, set on the bars themselves: a fixed height (or a step on the layer) has
    # Streamlit fit the axes inside it too, which squeezes a chart of a few bars flat.
    bars = base.mark_bar().encode(
        color=alt.Color("rank:N", scale=alt.Scale(domain=["top", "other"],
                                                  range=["#ff4b4b", "#9aa5b1"]), legend=None),
    ).properties(height=alt.Step(28))
    labels = base.mark_text(align="left", dx=3).encode(text=alt.Text("probability:Q", format=".1%"))
    return bars + labels


# --------------------------------------------------------------------------- predictions

@dataclass
class Upload:
    """One uploaded image: what to show, what the model sees, or why it cannot be used."""
    name: str
    image: object = None          # upright RGB PIL image
    model_input: object = None    # uint8 (32, 32, 3)
    error: str = None


def read_uploads(files, *, names=None):
    """An `Upload` per file (Streamlit UploadedFile, bytes, file-like); a file that is not a
    usable image gets its `error` message and does not stop the others."""
    from cifar_tf.images import UnusableImage, load_for_model

    uploads = []
    for i, file in enumerate(files):
        name = (names[i] if names else None) or getattr(file, "name", None) or f"image {i + 1}"
        try:
            image, pixels = load_for_model(file)
        except UnusableImage as error:
            uploads.append(Upload(str(name), error=str(error)))
        else:
            uploads.append(Upload(str(name), image, pixels))
    return uploads


def predict_uploads(model, uploads, *, tta=False):
    """Probabilities (N, 10) for the usable uploads, in order; one batched prediction."""
    from cifar_tf.predict import predict_proba

    usable = [u.model_input for u in uploads if u.error is None]
    if not usable:
        return np.empty((0, len(CLASS_NAMES)), np.float32)
    return predict_proba(model, np.stack(usable), tta=tta)


def label_predictions(probabilities, labels, class_names=CLASS_NAMES):
    """One dict per image: true and predicted class, the predicted class' probability, correct."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels).reshape(-1)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(f"expected one row of probabilities per label ({len(labels)}), "
                         f"got shape {probabilities.shape}")
    predicted = probabilities.argmax(axis=1) if len(labels) else np.empty(0, int)
    return [{"true": class_names[int(t)], "predicted": class_names[int(p)],
             "probability": float(row[p]), "correct": bool(t == p)}
            for t, p, row in zip(labels, predicted, probabilities)]


def model_runs(runs):
    """The runs that have a saved model, in the given order."""
    return [run for run in runs if run.model_path.is_file()]


def demo_run(models_dir=None):
    """The demo run shipped in the project's `models/` folder, or None if it is not there."""
    from cifar_tf import runs as runs_lib

    folder = Path(models_dir) if models_dir else Path(__file__).resolve().parents[1] / "models"
    try:
        run = runs_lib.read_run(folder / DEMO_RUN)
    except (runs_lib.CorruptRun, OSError):
        return None
    return run if run.model_path.is_file() else None


# --------------------------------------------------------------------------- text

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|:~$>=&])")


def escape_markdown(text):
    """`text` with Markdown (and Streamlit's :color[...] / :icon: syntax) made literal, for
    showing file names and other outside text in st.markdown, st.error and the like."""
    text = " ".join(str(text).split())  # no line breaks: a name cannot start a heading or list
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
