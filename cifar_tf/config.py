"""Every hyperparameter of a training run in one place, with its checks and the named recipes.

A `TrainConfig` is what the command line's flags, the Train page's widgets, a search trial and
`run.json` all speak. `validated()` checks every field at the boundary and names the field in its
message; the command line turns `batch_size` into `--batch-size` when it reports one.
"""
import functools
from dataclasses import asdict, dataclass, field, fields, replace

from .augment import parse_augmentation
from .validation import InvalidArgument, check_bool, check_choice, check_float, check_int

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "exponential", "cosine", "onecycle")
PRECISIONS = ("auto", "off", "bf16", "fp16")
SWITCHES = ("auto", "on", "off")
# How a run trains: Keras' fit with the settings above, or airbench94's own train step
# (cifar_tf/airbench.py: whitening, summed loss, coupled L2, lookahead, TTA).
RECIPES = ("keras", "airbench")


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
    decay_every: float = 10.0      # step and exponential: epochs per decay by decay_factor
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
    val_size: int = 5000
    seed: int = 0
    mixed_precision: str = "auto"
    xla: str = "auto"
    log_every: int = 10            # batches between two step records
    recipe: str = "keras"          # "airbench": lr is on the summed loss, weight_decay coupled L2

    def validated(self):
        """A checked copy: numbers coerced, every bad value reported by field name."""
        if not isinstance(self.arch, str) or not self.arch.strip():
            raise InvalidArgument("arch", self.arch, "an architecture name")
        if not isinstance(self.arch_params, dict):
            raise InvalidArgument("arch_params", self.arch_params, "a dict of keyword hyperparameters")
        epochs = check_int("epochs", self.epochs, low=1, high=1000)
        return replace(
            self,
            arch=self.arch.strip(),
            epochs=epochs,
            batch_size=check_int("batch_size", self.batch_size, low=1, high=8192),
            optimizer=check_choice("optimizer", self.optimizer, OPTIMIZERS),
            lr=check_float("lr", self.lr, low=0, high=10, low_open=True),
            momentum=check_float("momentum", self.momentum, low=0, high=0.999),
            nesterov=check_bool("nesterov", self.nesterov),
            schedule=check_choice("schedule", self.schedule, SCHEDULES),
            warmup_epochs=check_float("warmup_epochs", self.warmup_epochs, low=0, high=epochs),
            decay_every=check_float("decay_every", self.decay_every, low=0, high=1000, low_open=True),
            decay_factor=check_float("decay_factor", self.decay_factor, low=0, high=1, low_open=True),
            weight_decay=check_float("weight_decay", self.weight_decay, low=0, high=1),
            dropout=None if self.dropout is None else check_float("dropout", self.dropout, low=0, high=0.95),
            label_smoothing=check_float("label_smoothing", self.label_smoothing, low=0, high=0.5),
            augment=_checked_augment(self.augment),
            sam_rho=check_float("sam_rho", self.sam_rho, low=0, high=5),
            fine_tune_epochs=check_int("fine_tune_epochs", self.fine_tune_epochs, low=0, high=1000),
            fine_tune_lr_factor=check_float("fine_tune_lr_factor", self.fine_tune_lr_factor, low=0, high=1,
                                            low_open=True),
            early_stopping=check_int("early_stopping", self.early_stopping, low=0, high=1000),
            train_limit=check_int("train_limit", self.train_limit, low=0),
            val_size=check_int("val_size", self.val_size, low=0),
            seed=check_int("seed", self.seed, low=0, high=2**31 - 1),
            mixed_precision=check_choice("mixed_precision", self.mixed_precision, PRECISIONS),
            xla=check_choice("xla", self.xla, SWITCHES),
            log_every=check_int("log_every", self.log_every, low=1, high=100000),
            recipe=check_choice("recipe", self.recipe, RECIPES),
        )

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidArgument(unknown[0], values[unknown[0]], "a training setting among " + ", ".join(sorted(known)))
        return cls(**values)


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


# airbench94 as published: 64/256/256 wide, 10 epochs of 1024 (see airbench.py). Its lr (11.5 per
# 1024 examples) and weight decay (0.0153) in Keras terms, see airbench.sgd_hyperparameters: an SGD
# rate on the summed loss and an L2 coefficient per image.
_AIRBENCH94 = dict(recipe="airbench", arch="fast_cnn", epochs=10, batch_size=1024, optimizer="sgd",
                   lr=11.5 / (1024 * (1 + 1 / (1 - 0.85))), momentum=0.85, nesterov=True,
                   schedule="onecycle", warmup_epochs=0.23 * 10, weight_decay=0.0153 / 11.5,
                   label_smoothing=0.2, augment="flip,crop=2")

# Named recipes. Each reproduces a reference report (../shared/seeds) or serves a classroom need.
PRESETS = {
    "seed001": dict(
        description="Report 001: simple_cnn, ImageDataGenerator-style augmentation, Adam, lr/10 after "
                    "epoch 10, batch 64, 30 epochs.",
        config=dict(arch="simple_cnn", epochs=30, batch_size=64, optimizer="adam", lr=1e-3,
                    schedule="step", decay_every=10, decay_factor=0.1, augment="seed001")),
    "seed002": dict(
        description="Report 002's best ResNet-style net: depth 4, 1024 dense units, Adam 2.9e-4 with "
                    "exponential decay, L2 5e-4, dropout 0.3, batch 128, 40 epochs.",
        config=dict(arch="resnet_style", arch_params={"depth": 4, "dense_units": 1024, "l2": 5e-4},
                    dropout=0.3, epochs=40, batch_size=128, optimizer="adam", lr=2.92e-4,
                    schedule="exponential", decay_every=10, decay_factor=0.5, augment="standard")),
    "fast": dict(
        description="airbench94, the fastest published CIFAR-10 recipe, in Keras: whitening, identity-"
                    "initialised convs, Nesterov SGD on the summed loss, lookahead, test-time augmentation. "
                    "On a GPU the published net for 10 epochs (~94 %); on a CPU a narrower one for 3 "
                    "(~80 % in about a minute and a half on 2 cores).",
        config=_AIRBENCH94,
        # A CPU session must end in minutes: ReLU for GELU (8x cheaper here in bfloat16), half the
        # widths in block 1 and a quarter after, 3 epochs, smaller batches for more steps and a
        # 1.6x rate. On 2 cores: 79.7 % test accuracy after 75 s of training, 80.9 % with TTA at 90 s.
        per_device={"cpu": dict(arch_params={"widths": (32, 64, 64), "activation": "relu"}, epochs=3,
                                batch_size=256, warmup_epochs=0.23 * 3, lr=1.6 * _AIRBENCH94["lr"])}),
    "fast10": dict(
        description="The fast preset for a ten-minute session: on a CPU a wider net for 9 epochs (~88.6 % "
                    "in about ten minutes on 2 cores); on a GPU the same as fast.",
        config=_AIRBENCH94,
        # Measured on 2 cores (ReLU, bfloat16): 9 epochs 88.6 % with TTA at 614 s, 10 epochs 88.8 %;
        # the full 64/256/256 for 6 epochs 88.7 % at 729 s. 90 % did not fit in 10 minutes, and a
        # PyTorch airbench94 on the same files scores the same (README, Speed).
        per_device={"cpu": dict(arch_params={"widths": (64, 128, 128), "activation": "relu"}, epochs=9,
                                batch_size=512, warmup_epochs=0.23 * 9)}),
    "transfer": dict(
        description="Report 000's transfer learning: an ImageNet MobileNetV2 (images upsampled to 96 px), "
                    "its base frozen for 3 epochs, then fine-tuned for 2 at a tenth of the rate.",
        config=dict(arch="mobilenetv2", arch_params={"weights": "imagenet", "image_size": 96}, epochs=3,
                    fine_tune_epochs=2, fine_tune_lr_factor=0.1, batch_size=64, optimizer="adam", lr=1e-3,
                    train_limit=10000, augment="flip")),
    "quick": dict(
        description="A two-minute look on a CPU: simple_cnn on 10,000 images for 3 epochs.",
        config=dict(arch="simple_cnn", epochs=3, batch_size=64, optimizer="adam", lr=1e-3,
                    train_limit=10000, augment="flip")),
}


def preset_config(name, **overrides):
    """The TrainConfig of a named preset for this machine, with any fields overridden."""
    check_choice("preset", name, tuple(PRESETS))
    values = dict(PRESETS[name]["config"])
    values.update(PRESETS[name].get("per_device", {}).get(_device_kind(), {}))
    values.update(overrides)
    return TrainConfig.from_dict(values)


@functools.lru_cache(maxsize=1)
def _device_kind():
    """"gpu" or "cpu", without importing TensorFlow (nvidia-smi), once per process."""
    from .device import gpu_names

    return "gpu" if gpu_names() else "cpu"
