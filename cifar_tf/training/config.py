"""Every hyperparameter of a training run in one place, and every check of one, in one place.

A `TrainConfig` is what the command line's flags, the Train page's widgets, a search trial and
`run.json` all speak. `LIMITS` and `CHOICES` say what each field may hold; `validated()` checks
each field against them and `check_config()` adds what involves several fields, the architecture
and the recipe. Every message names the field, so the command line can say `--batch-size` and the
Train page can put it beside the widget.
"""
from dataclasses import asdict, dataclass, field, fields, replace

from ..data.augment import parse_augmentation
from ..models import limits as architecture_limits
from ..models.registry import ARCHITECTURES, check_hyperparameter_names, pretrained
from ..validation import InvalidArgument, Limit, check_bool, check_choice

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
# "drop": one drop, the rate times decay_factor from epoch decay_every on (report 001's schedule).
SCHEDULES = ("constant", "step", "exponential", "cosine", "onecycle", "drop")
PRECISIONS = ("auto", "off", "bf16", "fp16")
SWITCHES = ("auto", "on", "off")
# How a run trains: Keras' fit with the settings above, or airbench94's own train step
# (cifar_tf/training/airbench.py: whitening, summed loss, coupled L2, lookahead, TTA).
RECIPES = ("keras", "airbench")
# The Keras backend a run trains with; "auto" is the lab's default (CIFAR_TF_BACKEND, KERAS_BACKEND).
BACKENDS = ("auto", "tensorflow", "jax")


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "simple_cnn"
    arch_params: dict = field(default_factory=dict)  # the builder's own keyword hyperparameters
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9          # SGD and RMSprop
    nesterov: bool = False
    schedule: str = "constant"
    warmup_epochs: float = 0.0     # cosine and one-cycle: linear warm-up first
    decay_every: float = 10.0      # step and exponential: epochs per decay by decay_factor; drop: when
    decay_factor: float = 0.1
    weight_decay: float = 0.0      # decoupled (AdamW style); L2 is an architecture parameter
    dropout: float | None = None   # None keeps the architecture's own default
    label_smoothing: float = 0.0
    augment: str = "none"
    sam_rho: float = 0.0           # 0 trains without SAM
    fine_tune_epochs: int = 0      # pretrained bases: after `epochs` with the base frozen, unfreeze it
    fine_tune_lr_factor: float = 0.1
    early_stopping: int = 0        # patience in epochs on validation accuracy; 0 is off
    train_limit: int = 0           # 0 trains on the whole training split
    val_size: int | None = None   # None: 5,000, or a tenth of the training images if fewer
    seed: int = 0
    mixed_precision: str = "auto"
    xla: str = "auto"
    log_every: int = 10            # batches between two step records
    recipe: str = "keras"          # "airbench": lr is on the summed loss, weight_decay coupled L2
    backend: str = "auto"          # the Keras backend: tensorflow, jax, or auto (the lab's default)

    def validated(self):
        """A checked copy: numbers coerced, every bad value reported by field name."""
        if not isinstance(self.arch, str) or not self.arch.strip():
            raise InvalidArgument("arch", self.arch, "an architecture name")
        if not isinstance(self.arch_params, dict):
            raise InvalidArgument("arch_params", self.arch_params, "a dict of keyword hyperparameters")
        values = {"arch": self.arch.strip(), "augment": _checked_augment(self.augment),
                  "nesterov": check_bool("nesterov", self.nesterov)}
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            if value is None and name in OPTIONAL:
                continue
            if name == "warmup_epochs":  # the warm-up fits in the run
                limit = limit._replace(high=values["epochs"])
            values[name] = limit.check(name, value)
        for name, choices in CHOICES.items():
            values[name] = check_choice(name, getattr(self, name), choices)
        return replace(self, **values)

    def checked(self, *, build=True):
        """This config checked completely (see `check_config`)."""
        return check_config(self, build=build)

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        if not isinstance(values, dict):
            raise InvalidArgument("config", values, "a dict of training settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidArgument(unknown[0], values[unknown[0]], "a training setting among " + ", ".join(sorted(known)))
        return cls(**values)


# The names of a TrainConfig's fields, in order: what a search space or a challenge may name.
FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))
# What each numeric field may hold: the one table the checks, the command line's flags, a search's
# budget, a challenge's limits and the pages' widgets all read.
LIMITS = {
    "epochs": Limit(int, 1, 1000),
    "batch_size": Limit(int, 1, 8192),
    "lr": Limit(float, 0, 10, low_open=True),
    "momentum": Limit(float, 0, 0.999),
    "warmup_epochs": Limit(float, 0, None),          # at most `epochs`
    "decay_every": Limit(float, 0, 1000, low_open=True),
    "decay_factor": Limit(float, 0, 1, low_open=True),
    "weight_decay": Limit(float, 0, 1),
    "dropout": architecture_limits.DROPOUT,    # the builders' own limit: what they can build
    "label_smoothing": Limit(float, 0, 0.5),
    "sam_rho": Limit(float, 0, 5),
    "fine_tune_epochs": Limit(int, 0, 1000),
    "fine_tune_lr_factor": Limit(float, 0, 1, low_open=True),
    "early_stopping": Limit(int, 0, 1000),
    "train_limit": Limit(int, 0, None),
    "val_size": Limit(int, 0, None),
    "seed": Limit(int, 0, 2**31 - 1),
    "log_every": Limit(int, 1, 100000),
}
OPTIONAL = ("dropout", "val_size")   # None: the architecture's own dropout, the default validation split
CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "mixed_precision": PRECISIONS,
           "xla": SWITCHES, "recipe": RECIPES, "backend": BACKENDS}


def check_config(config, *, build=True):
    """`config` checked completely: its fields, how they fit together, its architecture and its
    recipe. With `build`, the architecture is built once to check every hyperparameter's value
    (that imports TensorFlow); without, only their names are checked."""
    config = config.validated()
    check_choice("arch", config.arch, tuple(ARCHITECTURES))
    check_hyperparameter_names(config.arch, config.arch_params)
    if config.fine_tune_epochs and not pretrained(config.arch):
        raise InvalidArgument("fine_tune_epochs", config.fine_tune_epochs,
                              "0 for an architecture without a pretrained base (fine-tuning applies to "
                              + ", ".join(name for name in ARCHITECTURES if pretrained(name)) + ")")
    if config.early_stopping and config.val_size == 0:
        raise InvalidArgument("early_stopping", config.early_stopping, "0 when val_size is 0 (nothing to watch)")
    if config.recipe == "airbench":
        _check_airbench(config)
    if build:
        from ..models.registry import build_model

        build_model(config.arch, **architecture_params(config))
    return config


def _check_airbench(config):
    """Refuse the fields the airbench recipe cannot honour, by name."""
    if config.optimizer != "sgd":
        raise InvalidArgument("optimizer", config.optimizer, "sgd with the airbench recipe (Nesterov SGD)")
    if config.schedule != "onecycle":
        raise InvalidArgument("schedule", config.schedule,
                              "onecycle with the airbench recipe (linear warm-up, then linear decay)")
    aug = parse_augmentation(config.augment)
    if aug.shift or aug.rotation or aug.zoom or aug.shear or aug.cutout:
        raise InvalidArgument("augment", config.augment,
                              "flip and/or crop=N with the airbench recipe (alternating flips, N-pixel translation)")
    for name in ("sam_rho", "fine_tune_epochs"):
        if getattr(config, name):
            raise InvalidArgument(name, getattr(config, name), "0 with the airbench recipe")


def unused_settings(values):
    """The fields of a config (a TrainConfig's dict) that do nothing for its run: momentum for
    Adam, the decay of a constant schedule... Tables of settings leave them out."""
    unused = set()
    optimizer, schedule = values.get("optimizer"), values.get("schedule")
    if optimizer is not None and optimizer not in ("sgd", "rmsprop"):
        unused.add("momentum")
    if optimizer is not None and optimizer != "sgd":
        unused.add("nesterov")
    if schedule is not None and schedule not in ("step", "exponential", "drop"):
        unused |= {"decay_every", "decay_factor"}
    if schedule is not None and schedule not in ("cosine", "onecycle"):
        unused.add("warmup_epochs")
    if "fine_tune_epochs" in values and not values["fine_tune_epochs"]:
        unused.add("fine_tune_lr_factor")
    return unused


def architecture_params(config):
    """The keyword arguments the architecture's builder gets for this run."""
    params = dict(config.arch_params)
    if config.dropout is not None:
        params["dropout"] = config.dropout
    if config.fine_tune_epochs:
        params["freeze_base"] = True  # the first phase trains only the new head
    return params


def parse_value(text):
    """A hyperparameter typed as text: JSON when it parses (4, 0.5, true, null), else the text."""
    import json

    text = str(text).strip()
    try:
        return json.loads(text)
    except ValueError:
        return text


def _checked_augment(spec):
    parse_augmentation(spec)  # raises with the reason
    return str(spec).strip() or "none"
