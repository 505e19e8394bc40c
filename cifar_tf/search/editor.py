"""What the Search page's space editor offers: a starting range for every setting a student may
vary, and a range in words."""
from ..data.augment import AUGMENT_PRESETS
from ..models.limits import limit as architecture_limit
from ..models.registry import editable_hyperparameters
from ..training.config import LIMITS, OPTIMIZERS, SCHEDULES

# What a custom space offers for the training settings: a range a student can start from.
TRAINING_RANGES = {
    "lr": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"},
    "batch_size": {"type": "choice", "values": [32, 64, 128, 256]},
    "optimizer": {"type": "choice", "values": ["adam", "sgd"]},
    "momentum": {"type": "float", "min": 0.8, "max": 0.99, "sampling": "linear"},
    "schedule": {"type": "choice", "values": ["constant", "cosine"]},
    "weight_decay": {"type": "float", "min": 1e-5, "max": 1e-2, "sampling": "log"},
    "dropout": {"type": "float", "min": 0.0, "max": 0.5, "sampling": "linear", "step": 0.1},
    "label_smoothing": {"type": "float", "min": 0.0, "max": 0.2, "sampling": "linear", "step": 0.05},
    "augment": {"type": "choice", "values": ["none", "flip"]},
}
# The options offered for the choice settings.
CHOICES = {"batch_size": [16, 32, 64, 128, 256, 512], "optimizer": list(OPTIMIZERS), "schedule": list(SCHEDULES),
           "augment": [name for name in AUGMENT_PRESETS if not name.startswith("seed")]}


def range_limit(arch, name):
    """The Limit a range's ends must keep for setting `name` (a TrainConfig field or one of `arch`'s
    hyperparameters): the same table a run's settings are checked against."""
    return LIMITS[name] if name in LIMITS else architecture_limit(arch, name)


def architecture_ranges(arch):
    """A starting range for each numeric hyperparameter of an architecture, within its limit."""
    ranges = {}
    for key, default in editable_hyperparameters(arch).items():
        if key == "dropout" or isinstance(default, bool) or not isinstance(default, (int, float)):
            continue  # dropout is a training setting; tuples and switches are not ranges
        if isinstance(default, int):
            top = range_limit(arch, key).high   # deep_cnn's 3 blocks may double only to 5
            ranges[key] = {"type": "int", "min": max(1, default // 2), "max": min(top, max(2, default * 2)),
                           "sampling": "linear"}
        elif key == "l2" or default == 0:
            ranges[key] = {"type": "float", "min": 1e-5, "max": 1e-2, "sampling": "log"}
        else:
            ranges[key] = {"type": "float", "min": default / 2, "max": default * 2, "sampling": "linear"}
    return ranges


def describe_range(spec):
    """A hyperparameter's range in words: '32 to 64 (step 16)', '0.0001 to 0.001 (log)', 'adam, sgd'."""
    if spec["type"] == "choice":
        return ", ".join(map(str, spec["values"]))
    notes = [f"step {spec['step']:g}"] if spec.get("step") else []
    notes += ["log"] if spec["sampling"] == "log" else []
    return f"{spec['min']:g} to {spec['max']:g}" + (f" ({', '.join(notes)})" if notes else "")
