"""What the Data and Predict pages draw: images per class and split, and class probabilities."""
import altair as alt
import numpy as np
import pandas as pd

from .. import CLASS_NAMES

SPLITS = ("train", "test")


def class_counts(dataset_info):
    """Images per class and split, as a long DataFrame with columns class, split and count."""
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
    """Grouped horizontal bars: a group per class, a bar per split. Horizontal, so that every class
    name reads whole on a projector and on a phone."""
    order = list(counts["class"].cat.categories) if hasattr(counts["class"], "cat") \
        else list(dict.fromkeys(counts["class"]))
    data = counts.assign(**{"class": counts["class"].astype(str)})
    return alt.Chart(data).mark_bar().encode(
        y=alt.Y("class:N", sort=order, title=None, axis=alt.Axis(labelLimit=0)),
        yOffset=alt.YOffset("split:N", sort=list(SPLITS)),
        x=alt.X("count:Q", title="images", axis=alt.Axis(format="~s")),
        color=alt.Color("split:N", sort=list(SPLITS), title=None, legend=alt.Legend(orient="top")),
        tooltip=["class:N", "split:N", alt.Tooltip("count:Q", format=",")],
    ).properties(height=alt.Step(14))


def probability_frame(probabilities, class_names=CLASS_NAMES):
    """A DataFrame (class, probability), most probable first, from `(class, p)` pairs as
    `predict.top_k` returns them or from a full probability vector."""
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
