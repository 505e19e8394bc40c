"""Links that carry a training configuration, like TensorFlow Playground's address: the settings
that differ from the defaults, one query parameter each (`?arch=resnet20&epochs=5&lr=0.05`),
architecture hyperparameters as `hp.NAME`, and optionally `preset=NAME` to start from a preset.

`config_params` writes them, `config_from_params` reads them back, keeping every setting it can
and naming each one it cannot use, so that a mistyped link still fills in the rest.
"""
from dataclasses import fields
from urllib.parse import parse_qsl, urlsplit

from ..training.config import TrainConfig, parse_value
from ..training.presets import PRESETS, preset_config
from ..validation import InvalidArgument, check_bool

HP_PREFIX = "hp."
PRESET_PARAM = "preset"
DEFAULTS = TrainConfig()
FIELDS = tuple(f.name for f in fields(TrainConfig) if f.name != "arch_params")


def config_params(config):
    """Query parameters (text) for `config`: the architecture, and every setting not at its default."""
    params = {"arch": config.arch}
    for name in FIELDS:
        value = getattr(config, name)
        if name != "arch" and value != getattr(DEFAULTS, name):
            params[name] = _text(value)
    for name, value in sorted(config.arch_params.items()):
        params[HP_PREFIX + name] = _text(value)
    return params


def is_config_param(key):
    return key in FIELDS or key == PRESET_PARAM or key.startswith(HP_PREFIX)


def config_from_params(params):
    """`(config, problems)`: the checked TrainConfig a link's parameters describe (None when they
    describe none) and a sentence for each parameter that could not be used."""
    params = {key: str(value) for key, value in params.items() if is_config_param(key)}
    if not params:
        return None, []
    problems = []
    start = DEFAULTS
    preset = params.pop(PRESET_PARAM, None)
    if preset is not None:
        if preset in PRESETS:
            start = preset_config(preset)
        else:
            problems.append(f"preset={preset!r}: no such preset (there are {', '.join(PRESETS)})")
    values = start.to_dict()
    for key, text in params.items():
        if key.startswith(HP_PREFIX):
            values["arch_params"][key[len(HP_PREFIX):]] = parse_value(text)
            continue
        try:
            values[key] = _parse(key, text)
        except InvalidArgument as invalid:
            problems.append(_sentence(invalid))
    if "arch" in params and params["arch"] != start.arch and not any(k.startswith(HP_PREFIX) for k in params):
        values["arch_params"] = {}  # another architecture than the preset's: its own defaults
    for _ in range(len(FIELDS) + len(values["arch_params"]) + 1):  # drop what fails, one at a time
        try:
            return TrainConfig(**values).checked(build=False), problems
        except InvalidArgument as invalid:
            problems.append(_sentence(invalid))
            if invalid.name == "arch_params" and invalid.value in values["arch_params"]:
                del values["arch_params"][invalid.value]
            elif invalid.name in FIELDS and invalid.name != "arch":
                values[invalid.name] = getattr(start, invalid.name)
            else:  # the architecture itself: the start's, with its own hyperparameters
                values["arch"], values["arch_params"] = start.arch, dict(start.arch_params)
    return None, problems


def config_from_link(text):
    """`config_from_params` of a pasted link (or just its `?...` part)."""
    text = str(text or "").strip()
    query = urlsplit(text).query if "?" in text else text
    return config_from_params(dict(parse_qsl(query)))


def _parse(name, text):
    default = getattr(DEFAULTS, name)
    if name == "dropout":
        return None if text.strip().lower() in ("", "none") else _number(name, text, float)
    if isinstance(default, bool):
        return check_bool(name, text)
    if isinstance(default, (int, float)):
        return _number(name, text, type(default))
    return text.strip()


def _number(name, text, kind):
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgument(name, text, "a number") from None
    if kind is int:
        if not value.is_integer():
            raise InvalidArgument(name, text, "a whole number")
        return int(value)
    return value


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(item) for item in value)
    if value is None:
        return "none"
    return f"{value:.12g}" if isinstance(value, float) else str(value)


def _sentence(invalid):
    return f"{invalid.name}={invalid.value!r} is not valid: expected {invalid.allowed}"
