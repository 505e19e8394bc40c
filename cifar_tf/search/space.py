"""Hyperparameter search spaces: their schema, the reference reports' spaces, and trial configs.

A search space is data: the architecture, the fixed training settings (`base`), and for each
hyperparameter that varies its type and range, for example

    {"arch": "simple_cnn", "base": {"batch_size": 32},
     "hyperparameters": {"lr": {"type": "float", "min": 1e-4, "max": 1e-3, "sampling": "log"},
                         "optimizer": {"type": "choice", "values": ["adam", "sgd"]}}}

A hyperparameter named like a `TrainConfig` field sets that field; any other name is a keyword
of the architecture's builder (`filters1`, `depth`, `l2`...). `SPACES` holds the reference
reports' searches; a JSON file in the same form is accepted anywhere a space name is.
"""
import json
import math
from pathlib import Path

from ..training.config import FIELD_NAMES, LIMITS, TrainConfig, check_config
from ..validation import InvalidArgument

TUNERS = ("random", "hyperband", "bayesian")
TUNER_LABELS = {"random": "Random search", "hyperband": "Hyperband", "bayesian": "Bayesian optimisation"}
HP_TYPES = ("int", "float", "choice")
SAMPLINGS = ("linear", "log")
OBJECTIVE = "val_accuracy"

# Fields a search sets itself (budget) or that would change the data between trials: a space
# may not vary them, so every trial of a search sees the same training and validation images.
BUDGET_FIELDS = ("epochs", "train_limit", "val_size")
NOT_SEARCHABLE = ("arch", "arch_params", "seed", "mixed_precision", "xla", "backend", "log_every") + BUDGET_FIELDS
SPACE_KEYS = ("description", "arch", "base", "hyperparameters", "tuner", "epochs")

SPACES = {
    "seed001": {
        "description": "Report 001's Keras Tuner search: its two-conv hypermodel's filters and dense units, "
                       "the learning rate, Adam or SGD with momentum 0.9; Hyperband, two iterations of 10 "
                       "epochs at most, early stopping with patience 3.",
        "arch": "hyper_cnn",
        # The report compiled each candidate with a constant rate, no augmentation, Keras' default
        # batch of 32, and early stopping with patience 3 on validation accuracy.
        "base": {"batch_size": 32, "schedule": "constant", "augment": "none", "momentum": 0.9,
                 "early_stopping": 3},
        "tuner": "hyperband",
        "epochs": 10,
        "hyperparameters": {
            "filters1": {"type": "int", "min": 32, "max": 64, "step": 16},
            "filters2": {"type": "int", "min": 64, "max": 128, "step": 32},
            "dense_units": {"type": "int", "min": 64, "max": 128, "step": 32},
            "lr": {"type": "float", "min": 1e-4, "max": 1e-3, "sampling": "log"},
            "optimizer": {"type": "choice", "values": ["adam", "sgd"]},
        },
    },
    "seed002": {
        "description": "Report 002's random search over its ResNet-style net: learning rate, batch, "
                       "depth, dense units, Adam or AdamW, L2, dropout, cosine or exponential decay.",
        "arch": "resnet_style",
        "base": {"augment": "standard", "decay_every": 10, "decay_factor": 0.5},
        "tuner": "random",
        "epochs": 40,
        "hyperparameters": {
            "lr": {"type": "float", "min": 1e-4, "max": 5e-4, "sampling": "log"},
            "batch_size": {"type": "choice", "values": [128, 256]},
            "depth": {"type": "int", "min": 3, "max": 5},
            "dense_units": {"type": "choice", "values": [512, 768, 1024]},
            "optimizer": {"type": "choice", "values": ["adam", "adamw"]},
            "l2": {"type": "choice", "values": [1e-4, 5e-4, 1e-3]},
            "dropout": {"type": "choice", "values": [0.2, 0.3, 0.4, 0.5]},
            "schedule": {"type": "choice", "values": ["cosine", "exponential"]},
        },
    },
}


# Hyperband iterations a preset space's own search ran: report 001's tuner had hyperband_iterations=2.
HYPERBAND_ITERATIONS = {"seed001": 2}


# --- spaces -------------------------------------------------------------------------------------

def space_error(key, value, expected):
    """An InvalidArgument for `--space` that names the offending key of the space."""
    return InvalidArgument("space", value, f"{key} to be {expected}")


def load_space(spec):
    """A checked space from a name in SPACES, a path to a JSON file, or a dict."""
    if isinstance(spec, dict):
        return check_space(spec)
    text = str(spec or "").strip()
    if text in SPACES:
        return check_space(SPACES[text])
    path = Path(text).expanduser()
    if not text.endswith(".json") and not path.is_file():
        raise InvalidArgument("space", spec, ", ".join(SPACES) + " or a JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidArgument("space", spec, "an existing JSON file") from None
    except (OSError, ValueError) as error:
        raise InvalidArgument("space", spec, f"a readable JSON file ({error})") from None
    return check_space(data)


def space_label(spec):
    """How a space is called in listings: its preset name, else the file name, else 'custom'."""
    if isinstance(spec, dict):
        return "custom"
    text = str(spec)
    return text if text in SPACES else Path(text).name


def check_space(space):
    """A normalised copy of `space`; every problem is an InvalidArgument naming the key."""
    if not isinstance(space, dict):
        raise space_error("the space", space, "a JSON object")
    for key in space:
        if key not in SPACE_KEYS:
            raise space_error(key, space[key], "absent: a space has only " + ", ".join(SPACE_KEYS))
    arch = space.get("arch")
    if not isinstance(arch, str) or not arch.strip():
        raise space_error("arch", arch, "an architecture name")
    base = space.get("base", {})
    if not isinstance(base, dict):
        raise space_error("base", base, "an object of fixed training settings")
    for key, value in base.items():
        if key not in FIELD_NAMES or key in ("arch",) + BUDGET_FIELDS:
            allowed = [f for f in FIELD_NAMES if f not in ("arch",) + BUDGET_FIELDS]
            raise space_error(f"base.{key}", value, "absent: base holds " + ", ".join(allowed)
                              + " (epochs, train_limit and val_size are the search's budget)")
    hps = space.get("hyperparameters")
    if not isinstance(hps, dict) or not hps:
        raise space_error("hyperparameters", hps, "an object with at least one hyperparameter")
    checked = {name: _check_hyperparameter(name, spec) for name, spec in hps.items()}
    tuner = space.get("tuner", "random")
    if tuner not in TUNERS:
        raise space_error("tuner", tuner, "one of " + ", ".join(TUNERS))
    epochs = space.get("epochs", 10)
    try:
        epochs = LIMITS["epochs"].check("epochs", epochs)
    except InvalidArgument as bad:
        raise space_error("epochs", epochs, bad.allowed) from None
    return {"description": str(space.get("description", "")), "arch": arch.strip(), "base": dict(base),
            "hyperparameters": checked, "tuner": tuner, "epochs": epochs}


def _check_hyperparameter(name, spec):
    key = f"hyperparameters.{name}"
    if not isinstance(name, str) or not name or name.startswith("tuner/"):
        raise space_error(key, name, "a hyperparameter name")
    if name in NOT_SEARCHABLE:
        raise space_error(key, name, "a hyperparameter other than " + ", ".join(NOT_SEARCHABLE)
                          + " (the budget and the data stay fixed within a search)")
    if not isinstance(spec, dict):
        raise space_error(key, spec, 'an object like {"type": "int", "min": 1, "max": 4}')
    kind = spec.get("type")
    if kind not in HP_TYPES:
        raise space_error(f"{key}.type", kind, "one of " + ", ".join(HP_TYPES))
    allowed = {"int": ("type", "min", "max", "step", "sampling"),
               "float": ("type", "min", "max", "step", "sampling"),
               "choice": ("type", "values")}[kind]
    for field in spec:
        if field not in allowed:
            raise space_error(f"{key}.{field}", spec[field], f"absent: a {kind} has " + ", ".join(allowed))
    if kind == "choice":
        return {"type": "choice", "values": _check_choices(key, spec.get("values"))}
    number = _int_value if kind == "int" else _float_value
    low, high = number(f"{key}.min", spec.get("min")), number(f"{key}.max", spec.get("max"))
    if not low < high:
        raise space_error(f"{key}.max", spec.get("max"), f"above min ({low})")
    sampling = spec.get("sampling", "linear")
    if sampling not in SAMPLINGS:
        raise space_error(f"{key}.sampling", sampling, "linear or log")
    if sampling == "log" and low <= 0:
        raise space_error(f"{key}.min", low, "above 0 with log sampling")
    checked = {"type": kind, "min": low, "max": high, "sampling": sampling}
    if spec.get("step") is not None:
        step = number(f"{key}.step", spec["step"])
        if step <= 0 or (kind == "int" and sampling == "linear" and (high - low) % step):
            raise space_error(f"{key}.step", spec["step"],
                              "a positive step that divides max - min" if kind == "int" else "a positive number")
        checked["step"] = step
    return checked


def _int_value(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise space_error(key, value, "an integer")
    return int(value)


def _float_value(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise space_error(key, value, "a number")
    return float(value)


def _check_choices(key, values):
    if not isinstance(values, list) or not values:
        raise space_error(f"{key}.values", values, "a non-empty list")
    if all(isinstance(v, bool) for v in values):
        kinds = bool
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        # KerasTuner wants one type per Choice: a list mixing 1 and 0.5 becomes floats.
        kinds = int if all(isinstance(v, int) for v in values) else float
    elif all(isinstance(v, str) for v in values):
        kinds = str
    else:
        raise space_error(f"{key}.values", values, "all numbers, all strings or all true/false")
    values = [kinds(v) for v in values]
    if len(set(values)) != len(values):
        raise space_error(f"{key}.values", values, "distinct values")
    return values


def trial_config(space, values, *, epochs, train_limit=0, val_size=None):
    """The TrainConfig of one trial: the space's base, the trial's values, the budget."""
    settings = {"arch": space["arch"], **space["base"]}
    arch_params = dict(settings.pop("arch_params", {}) or {})
    for name, value in values.items():
        if name.startswith("tuner/"):  # Hyperband's bookkeeping, not a hyperparameter
            continue
        if name in FIELD_NAMES:
            settings[name] = value
        else:
            arch_params[name] = value
    return TrainConfig.from_dict({**settings, "arch_params": arch_params, "epochs": epochs,
                                  "train_limit": train_limit, "val_size": val_size})


def space_corners(space):
    """Two trials' values: every hyperparameter at its low end, then at its high end."""
    low, high = {}, {}
    for name, spec in space["hyperparameters"].items():
        if spec["type"] == "choice":
            low[name], high[name] = spec["values"][0], spec["values"][-1]
        else:
            low[name], high[name] = spec["min"], spec["max"]
    return low, high


def check_space_values(space, budget):
    """Build the configs at both corners of the space, so that a bad range fails now, not in trial 7.

    Imports TensorFlow (the models are built); errors name the space's key.
    """
    for values in space_corners(space):
        try:
            check_config(trial_config(space, values, epochs=budget["epochs"],
                                      train_limit=budget["train_limit"], val_size=budget["val_size"]))
        except InvalidArgument as error:
            name = error.value if error.name == "arch_params" else str(error.name).split()[0]
            if name in space["hyperparameters"]:
                raise space_error(f"hyperparameters.{name}", values[name], error.allowed) from None
            if name == "arch":
                raise space_error("arch", space["arch"], error.allowed) from None
            raise space_error(f"base.{name}", error.value, error.allowed) from None


def hyperband_rounds(max_epochs, factor=3):
    """(trials, epochs) of each round of each bracket in one Hyperband iteration, in KerasTuner's order.

    The same arithmetic as KerasTuner's HyperbandOracle (Li et al. 2018): most brackets start
    many short trials and give the best ones more epochs.
    """
    brackets, epochs = 0, max_epochs
    while epochs >= 1:
        epochs, brackets = epochs / factor, brackets + 1
    last_size = math.ceil(1 + math.log(max_epochs, factor))
    return [(math.ceil(last_size / (bracket + 1) * factor ** (bracket - rnd)),
             math.ceil(max_epochs / factor ** (bracket - rnd)))
            for bracket in reversed(range(brackets)) for rnd in range(bracket + 1)]


def hyperband_trials(max_epochs, iterations=1):
    """How many trials `iterations` Hyperband iterations of at most `max_epochs` epochs start."""
    return iterations * sum(trials for trials, _ in hyperband_rounds(max_epochs))


def default_max_trials(spec, space, tuner=None, epochs=None):
    """The trials a search runs unless told: for a Hyperband search, whole iterations (report 001's
    space: its two, 60 trials at 10 epochs), so that the longest trials train too; else 10."""
    if (tuner or space["tuner"]) != "hyperband":
        return 10
    iterations = HYPERBAND_ITERATIONS.get(spec, 1) if isinstance(spec, str) else 1
    return hyperband_trials(epochs or space["epochs"], iterations)
