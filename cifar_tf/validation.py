"""Argument checks at the library's boundary, scikit-learn style.

Every check raises `InvalidArgument`, a ValueError that names the argument, the value it got
and what is allowed, so the command line can say `--epochs` and the app can put the message
beside the widget.

A number's limits are written once, as a `Limit` in a table beside what it limits (a run's
settings in `training.config.LIMITS`, a search's budget in `search.store.BUDGET_LIMITS`...): the
check, the command line and the widgets' bounds all read that one table.
"""
from typing import NamedTuple


class InvalidArgument(ValueError):
    def __init__(self, name, value, allowed):
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"{name}={value!r} is not valid: expected {allowed}")


class Limit(NamedTuple):
    """What one number may hold: whole or not, its ends (None: no end), and whether the low end
    itself is refused (a rate above 0)."""
    kind: type
    low: float | None
    high: float | None
    low_open: bool = False

    def check(self, name, value):
        """`value` as this kind of number, or InvalidArgument naming `name` and the range."""
        if self.kind is int:
            return check_int(name, value, low=self.low, high=self.high)
        return check_float(name, value, low=self.low, high=self.high, low_open=self.low_open)


def check_int(name, value, *, low=None, high=None):
    allowed = _range_text("an integer", low, high)
    if isinstance(value, bool):
        raise InvalidArgument(name, value, allowed)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(name, value, allowed) from None
    if number != value and not (isinstance(value, str) and value.strip().lstrip("+-").isdigit()):
        raise InvalidArgument(name, value, allowed)
    if (low is not None and number < low) or (high is not None and number > high):
        raise InvalidArgument(name, value, allowed)
    return number


def check_float(name, value, *, low=None, high=None, low_open=False):
    allowed = _range_text("a number", low, high, low_open)
    if isinstance(value, bool):
        raise InvalidArgument(name, value, allowed)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(name, value, allowed) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidArgument(name, value, allowed)
    too_low = low is not None and (number <= low if low_open else number < low)
    if too_low or (high is not None and number > high):
        raise InvalidArgument(name, value, allowed)
    return number


def check_choice(name, value, choices):
    if value not in choices:
        raise InvalidArgument(name, value, "one of " + ", ".join(map(str, choices)))
    return value


def check_bool(name, value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InvalidArgument(name, value, "true or false")


def check_address(name, value):
    """`(host, port)` of a `HOST:PORT` address, such as a Ray cluster's head."""
    host, _, port = str(value or "").strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or any(ch.isspace() for ch in host):
        raise InvalidArgument(name, value, "HOST:PORT of a Ray cluster's head, e.g. 192.168.1.10:6379")
    return host.strip("[]"), int(port)


def _range_text(kind, low, high, low_open=False):
    if low is not None and high is not None:
        return f"{kind} {'above' if low_open else 'from'} {low} up to {high}"
    if low is not None:
        return f"{kind} {'above' if low_open else 'of at least'} {low}"
    if high is not None:
        return f"{kind} of at most {high}"
    return kind
