"""How values read on a page: user text made literal, run labels, durations, percentages, and
numbers taken from records that may hold anything, and tables as CSV text."""
import re

import numpy as np

from ..runs.files import without_lone_surrogates

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|:~$>=&])")


def escape_markdown(text):
    """`text` with Markdown (and Streamlit's :color[...] / :icon: syntax) made literal, for
    showing file names and other outside text in st.markdown, st.error and the like. A lone
    surrogate (a folder name of bytes that are not UTF-8) shows as U+FFFD: a page cannot send it."""
    # No line breaks: a name cannot start a heading or a list.
    text = " ".join(without_lone_surrogates(str(text)).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def run_label(run):
    """A run in a picker: its name, architecture, status and test accuracy."""
    accuracy = as_number((run.record.get("metrics") or {}).get("test_accuracy"))
    score = "" if np.isnan(accuracy) else f", {accuracy:.1%}"
    return without_lone_surrogates(f"{run.name} · {run.record.get('arch')} · {run.status}{score}")


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


def waiting_reason(run):
    """Why a queued Ray run cannot start on any node of its cluster, and what to change (the
    manager writes it down, see `ray_cluster.why_no_node_fits`); empty while a node could hold it."""
    executor = run.record.get("executor") if isinstance(run.record.get("executor"), dict) else {}
    if run.status != "queued" or executor.get("kind") != "ray" or executor.get("address"):
        return ""
    reason = executor.get("waiting_reason")
    return reason if isinstance(reason, str) else ""


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


CSV_SIGNIFICANT = 6   # digits a CSV keeps of a number no column rule covers


def start_time(start):
    """"20250101-120000-abcd" (a lesson's start tag) as 2025-01-01 12:00; anything else as it is."""
    stamp = start[:15]
    if len(stamp) == 15 and stamp[8] == "-" and (stamp[:8] + stamp[9:]).isdigit():
        return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
    return start


def csv_text(table, decimals=None):
    """`table` (a DataFrame) as CSV text, its numbers as a spreadsheet should show them: the columns
    named in `decimals` (column -> decimals: scores to 4, seconds to 1) rounded so, every other
    float to 6 significant digits. A float32 accuracy is written 0.17, not 0.17000000178813934.
    Every CSV the lab offers is written here."""
    import pandas as pd  # only when a CSV is asked for: pages that show none need not load it

    table = table.copy()
    for column in table.columns:
        if not pd.api.types.is_float_dtype(table[column]):
            continue
        if column in (decimals or {}):
            table[column] = table[column].round(decimals[column])
        else:
            table[column] = table[column].map(_significant)
    return table.to_csv(index=False)


def _significant(value):
    return float(f"{value:.{CSV_SIGNIFICANT}g}") if np.isfinite(value) else value
