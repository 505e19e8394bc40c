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
