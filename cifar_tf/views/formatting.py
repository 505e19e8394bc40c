"""How values read on a page: user text made literal, run labels, durations, percentages, and
numbers taken from records that may hold anything."""
import re

import numpy as np

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|:~$>=&])")


def escape_markdown(text):
    """`text` with Markdown (and Streamlit's :color[...] / :icon: syntax) made literal, for
    showing file names and other outside text in st.markdown, st.error and the like."""
    text = " ".join(str(text).split())  # no line breaks: a name cannot start a heading or list
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def run_label(run):
    """A run in a picker: its name, architecture, status and test accuracy."""
    accuracy = as_number((run.record.get("metrics") or {}).get("test_accuracy"))
    score = "" if np.isnan(accuracy) else f", {accuracy:.1%}"
    return f"{run.name} · {run.record.get('arch')} · {run.status}{score}"


def format_seconds(seconds):
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def plural(count, word):
    """"1 epoch", "3 epochs"."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def article(word):
    """"an" before "airplane", "a" before "truck"."""
    return "an" if str(word)[:1].lower() in "aeiou" else "a"


def percent(value):
    """A probability as a whole percentage, "<1%" for the small ones that are not zero."""
    return "<1%" if 0 < value < 0.005 else f"{value:.0%}"


def as_number(value):
    """`value` as a float, or NaN when it is none (a missing or malformed field of a record)."""
    if isinstance(value, bool) or value is None:
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def where_it_runs(run):
    """Where a run trains, or waits to: `on pc-3`, `on Ray node 10.0.0.7 (pc-12)`, `waiting for
    2 CPUs on the Ray cluster at 10.0.0.1:6379`; empty for a run that never started."""
    from ..runs.ray_cluster import node_label

    executor = run.record.get("executor") if isinstance(run.record.get("executor"), dict) else {}
    if executor.get("kind") == "ray":
        if executor.get("address"):
            return f"{'starting ' if run.status == 'queued' else ''}on Ray node {node_label(executor)}"
        cluster = f" at {executor['cluster']}" if executor.get("cluster") else ""
        return f"waiting for {executor.get('asks') or 'a free node'} on the Ray cluster{cluster}"
    return f"on {executor['node']}" if executor.get("node") else ""


PRECISION_NAMES = {"float32": "float32", "mixed_bfloat16": "bfloat16 mixed precision",
                   "mixed_float16": "float16 mixed precision"}


def trained_with(run):
    """What a run trains with, from its record: `JAX on NVIDIA H200 (GPU 0), bfloat16 mixed
    precision, XLA`; empty before its process has said."""
    device = run.record.get("device") if isinstance(run.record.get("device"), dict) else {}
    if not device.get("name"):
        return ""
    placement = run.record.get("placement") if isinstance(run.record.get("placement"), dict) else {}
    backend = {"jax": "JAX", "tensorflow": "TensorFlow"}.get(device.get("backend"), "TensorFlow")
    gpu = f" (GPU {placement['gpu']})" if device.get("kind") == "gpu" and placement.get("gpu") is not None else ""
    precision = PRECISION_NAMES.get(device.get("precision"), str(device.get("precision") or "float32"))
    return f"{backend} on {device['name']}{gpu}, {precision}" + (", XLA" if device.get("xla") else "")
