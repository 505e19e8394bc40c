"""The Train page's form and the TrainConfig it stands for, both ways, without Streamlit.

Each TrainConfig field has a widget keyed `cfg_<field>`; each architecture hyperparameter one
keyed `hp_<arch>_<name>`, of the kind its default calls for (a number, a switch, a choice of
weights, or text for lists and words). `form_state(config)` is what the widgets show for a
config (a preset, a link); `config_from_form(state)` reads them back into a checked config.
A widget always gets a value of its own type: a text box is given text, an integer box an int.
"""
from ..models.limits import limit as architecture_limit
from ..models.registry import editable_hyperparameters, pretrained
from ..training.config import CHOICES, LIMITS, TrainConfig, parse_value
from ..training.presets import preset_config, preset_notes
from ..validation import InvalidArgument
from .bounds import widget_bounds

BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024)
TRAIN_LIMITS = (1000, 2000, 5000, 10000, 20000, 45000, 0)   # 0: all of them
WEIGHTS = (None, "imagenet")
DROPOUT_SHOWN = 0.3        # what the dropout slider shows before dropout is switched on
SAM_RHO_SHOWN = 0.05       # and the SAM radius, SAM's paper default
DEFAULTS = TrainConfig()
# The smallest value a box offers where a field must stay above its low end (a rate above 0), and
# SAM's radius, whose box shows only while SAM is on (0 is its off).
OPEN_LOW_STEP = {"lr": 1e-6, "decay_every": 0.1, "decay_factor": 0.001, "fine_tune_lr_factor": 0.001,
                 "sam_rho": 0.001}


def config_key(field):
    return f"cfg_{field}"


def hp_key(arch, name):
    return f"hp_{arch}_{name}"


def number_bounds(field, *, high=None):
    """`min_value` and `max_value` for the widget of a TrainConfig field, from its limits; `high`:
    a top the form sets (the warm-up fits in the epochs)."""
    return widget_bounds(LIMITS[field], smallest=OPEN_LOW_STEP.get(field), high=high)


def choices(field):
    return CHOICES[field]


def batch_size_options(current):
    """The batch sizes offered, with the current one among them (a link or a preset may hold 50)."""
    return sorted({*BATCH_SIZES, current}) if isinstance(current, int) and current > 0 else list(BATCH_SIZES)


def train_limit_options(current):
    """The training-set sizes offered, with the current one among them."""
    options = list(TRAIN_LIMITS)
    if current not in options:
        options.insert(-1, current)
    return options


# --- architecture hyperparameters ------------------------------------------------------------

def hp_bounds(arch, name):
    """`min_value` and `max_value` for the number box of `arch`'s hyperparameter `name`, from the
    builders' table (models/limits.py); none where the table has no single number for it."""
    found = architecture_limit(arch, name)
    return widget_bounds(found) if found else {}


def widget_kind(name, default):
    """How a hyperparameter is edited: "weights", "switch", "int", "float" or "text"."""
    if name == "weights":
        return "weights"
    if isinstance(default, bool):
        return "switch"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    return "text"


def widget_value(name, value, default):
    """`value` as the hyperparameter's widget holds it."""
    kind = widget_kind(name, default)
    if kind == "weights":
        return value if value in WEIGHTS else None
    if kind == "switch":
        return bool(value)
    if kind in ("int", "float"):
        try:
            return int(value) if kind == "int" else float(value)
        except (TypeError, ValueError):
            return default
    if value is None:
        return ""
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def hyperparameter_value(name, shown, default):
    """What a widget's value means for the builder: text parsed (4, relu, 64,128,256), "" is None."""
    if widget_kind(name, default) != "text":
        return shown
    return parse_value(shown) if str(shown).strip() else None


def arch_params_from_form(arch, state):
    """The hyperparameters of `arch` whose widgets differ from the builder's defaults."""
    params = {}
    for name, default in editable_hyperparameters(arch).items():
        key = hp_key(arch, name)
        if key not in state:
            continue
        value = hyperparameter_value(name, state[key], default)
        if value != default and value != widget_value(name, default, default):
            params[name] = value
    return params


# --- the whole form ---------------------------------------------------------------------------

def form_state(config):
    """Every widget's value (by key) that shows `config` in the form."""
    state = {config_key(field): value for field, value in config.to_dict().items() if field != "arch_params"}
    state.update({config_key("dropout_on"): config.dropout is not None,
                  config_key("dropout"): DROPOUT_SHOWN if config.dropout is None else config.dropout,
                  config_key("sam"): bool(config.sam_rho),
                  config_key("sam_rho"): config.sam_rho or SAM_RHO_SHOWN})
    for name, default in editable_hyperparameters(config.arch).items():
        state[hp_key(config.arch, name)] = widget_value(name, config.arch_params.get(name, default), default)
    return state


def preset_text(name, state=None):
    """What a page shows of a picked preset, as plain lines (text, not Markdown): its description,
    then each way it differs from its report; given the form's `state`, last the settings changed
    since it was picked (widgets the form does not show now are not counted)."""
    notes = preset_notes(name)
    lines = [f"Preset {name}: {notes['description']}"]
    lines += [f"Differs from the report: {line}" for line in notes["differences"]]
    config = preset_config(name)
    prefix = hp_key(config.arch, "")
    changed = [key.removeprefix(prefix).removeprefix("cfg_") for key, value in form_state(config).items()
               if state is not None and key in state and state[key] != value]
    if changed:
        lines.append("Changed since you picked it: " + ", ".join(changed) + ".")
    return lines


def initial_state():
    """The form of a fresh session: the defaults."""
    return form_state(DEFAULTS)


def config_from_form(state):
    """`(config, problem)`: the checked TrainConfig the widgets make, or why they make none."""
    values = {field: state[config_key(field)] for field in DEFAULTS.to_dict() if config_key(field) in state}
    arch = values.get("arch", DEFAULTS.arch)
    values["arch_params"] = arch_params_from_form(arch, state)
    values["dropout"] = state.get(config_key("dropout")) if state.get(config_key("dropout_on")) else None
    values["sam_rho"] = state.get(config_key("sam_rho")) if state.get(config_key("sam")) else 0.0
    if not pretrained(arch):
        values["fine_tune_epochs"] = 0
    try:
        return TrainConfig(**values).checked(build=False), None
    except InvalidArgument as invalid:
        return None, f"{invalid.name}: {invalid.value!r} is not valid, expected {invalid.allowed}"
