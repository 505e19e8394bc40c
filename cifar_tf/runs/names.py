"""Run ids and run names: ids are generated and become folder names, names are user text that never does."""
import re
import secrets
import time
from datetime import datetime

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_NAME_LENGTH = 80


class RunNotFound(LookupError):
    pass


def new_run_id():
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def check_run_id(run_id):
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise RunNotFound(f"{run_id!r} is not a run id (letters, digits, '-' and '_' only)")
    return run_id


def clean_name(name):
    """A display name: printable, one line, at most MAX_NAME_LENGTH characters."""
    text = " ".join(str(name or "").split())
    text = "".join(ch for ch in text if ch.isprintable())
    return text[:MAX_NAME_LENGTH]


def default_name(arch, preset=None, when=None):
    """A readable name for a run nobody named: "resnet20 · quick · 14:05"."""
    when = when or datetime.now()
    return " · ".join(part for part in (str(arch), preset, when.strftime("%H:%M")) if part)


def unique_name(name, taken):
    """`name`, or "name (2)", "name (3)"... if another run already has it."""
    taken = set(taken)
    if name not in taken:
        return name
    number = 2
    while f"{name} ({number})"[:MAX_NAME_LENGTH] in taken:
        number += 1
    suffix = f" ({number})"
    return name[:MAX_NAME_LENGTH - len(suffix)] + suffix


def check_run_name(text, max_length=MAX_NAME_LENGTH):
    """`(name, problem)`: the name a rename would store, and why it cannot (None if it can)."""
    name = " ".join("".join(ch for ch in str(text or "") if ch.isprintable() or ch.isspace()).split())
    if not name:
        return name, "Enter a name: it cannot be empty."
    if len(name) > max_length:
        return name, f"Too long: {len(name)} characters, at most {max_length}."
    return name, None
