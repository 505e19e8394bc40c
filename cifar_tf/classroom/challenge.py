"""A challenge: what the teacher lets students change, like TensorFlow Playground's hidden controls.

The teacher picks a configuration to start from (a preset or a link), which groups of settings stay
editable, and limits: most epochs, most training images, the architectures allowed, a time budget.
A starting configuration over a limit is fitted to it (`clamp`, which says what it changed), as is
a link a student opens under the challenge. The Train page then shows only what is open
(`views.class_form`), and every submission is checked here on the server: a fixed setting must keep
the starting value, a limit must hold, or the run is refused with a message naming the setting (a
button whose run can never pass says so beforehand, `refusal`). Runs admitted under a challenge
carry its id, which is what the leaderboard ranks. A new challenge gets a new id, so changing the
rules starts a new leaderboard.
"""
import json
import math
import secrets
from dataclasses import asdict, dataclass, fields, replace

from ..models.registry import ARCHITECTURES
from ..runs.files import now
from ..training.config import FIELD_NAMES, LIMITS, TrainConfig
from ..validation import InvalidArgument, Limit
from .folder import NotAllowed

CHALLENGE_FILE = "challenge.json"
CHALLENGE_TAG = "challenge"
BUDGET_TAG = "time_budget_s"
MAX_TITLE_LENGTH = 80

# What a teacher may leave open, in words, and the settings each one covers. The recipe, logging,
# precision and XLA always stay as the starting configuration has them.
EDITABLE = {
    "architecture": ("arch",),
    "architecture hyperparameters": ("arch_params",),
    "epochs": ("epochs",),
    "batch size": ("batch_size",),
    "training images": ("train_limit",),
    "optimizer": ("optimizer", "momentum", "nesterov"),
    "learning rate": ("lr",),
    "schedule": ("schedule", "warmup_epochs", "decay_every", "decay_factor"),
    "weight decay": ("weight_decay",),
    "label smoothing": ("label_smoothing",),
    "dropout": ("dropout",),
    "augmentation": ("augment",),
    "SAM": ("sam_rho",),
    "early stopping": ("early_stopping",),
    "fine-tuning": ("fine_tune_epochs", "fine_tune_lr_factor"),
    "validation images": ("val_size",),
    "seed": ("seed",),
}
# What a challenge's limits may hold (0 or None: no limit); the Teacher page's widgets read them too.
CHALLENGE_LIMITS = {
    "max_epochs": LIMITS["epochs"],
    "max_train_images": Limit(int, 100, None),
    "time_budget_s": Limit(int, 10, 24 * 3600),   # a lesson's worth at most
}


@dataclass(frozen=True)
class Challenge:
    id: str
    title: str
    base: dict                    # the starting TrainConfig, as a dict
    editable: tuple = ()          # keys of EDITABLE
    max_epochs: int = None        # epochs plus fine-tuning epochs
    max_train_images: int = None
    archs: tuple = None           # None: any architecture (when the architecture is editable)
    time_budget_s: int = None     # a run is stopped (and scored) once it has trained this long
    preset: str = None            # the preset the base came from, to say so
    created_at: str = None
    adjusted: tuple = ()          # what fitting the starting configuration to the limits changed (`clamp`)

    def open_fields(self):
        """The TrainConfig fields students may change."""
        return {name for group in self.editable for name in EDITABLE.get(group, ())}

    def base_config(self):
        return TrainConfig.from_dict(self.base)

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, value):
        known = {f.name for f in fields(cls)}
        value = {key: item for key, item in value.items() if key in known}
        value["editable"] = tuple(value.get("editable") or ())
        value["archs"] = tuple(value["archs"]) if value.get("archs") else None
        value["adjusted"] = tuple(str(change) for change in value.get("adjusted") or ())
        return cls(**value)


def new_challenge(title, base, *, editable=(), max_epochs=None, max_train_images=None, archs=None,
                  time_budget_s=None, preset=None):
    """A checked challenge; InvalidArgument names the setting that is wrong. A starting configuration
    over a limit (the quick preset's 3 epochs under at most 2) is fitted to it, and the challenge's
    `adjusted` says what changed."""
    title = " ".join(str(title or "").split())
    if not title or len(title) > MAX_TITLE_LENGTH:
        raise InvalidArgument("title", title, f"a title of 1 to {MAX_TITLE_LENGTH} characters")
    unknown = [group for group in editable if group not in EDITABLE]
    if unknown:
        raise InvalidArgument("editable", unknown[0], "one of " + ", ".join(EDITABLE))
    given = {"max_epochs": max_epochs, "max_train_images": max_train_images, "time_budget_s": time_budget_s}
    limits = {name: None if value in (None, 0) else CHALLENGE_LIMITS[name].check(name, value)
              for name, value in given.items()}
    if archs:
        bad = [name for name in archs if name not in ARCHITECTURES]
        if bad:
            raise InvalidArgument("archs", bad[0], "architectures among " + ", ".join(ARCHITECTURES))
    base = base.checked(build=False)
    challenge = Challenge(id=secrets.token_hex(4), title=title, base=base.to_dict(),
                          editable=tuple(g for g in EDITABLE if g in editable),
                          archs=tuple(archs) if archs else None, preset=preset, created_at=now(), **limits)
    base, changes = clamp(challenge, base)
    base = base.checked(build=False)
    challenge = replace(challenge, base=base.to_dict(), adjusted=tuple(changes))
    problem = next(iter(problems(challenge, base)), None)
    if problem:
        raise InvalidArgument("base", preset or base.arch, f"a starting configuration within the limits ({problem})")
    return challenge


# --- stored -------------------------------------------------------------------------------------

def current(folder):
    """The class's challenge, or None (none set, or a damaged file)."""
    value = folder.read(CHALLENGE_FILE)
    if not value or not value.get("id"):
        return None
    try:
        return Challenge.from_dict(value)
    except (TypeError, ValueError):
        return None


def set_challenge(folder, challenge):
    with folder.locked():
        folder.write(CHALLENGE_FILE, challenge.to_dict())
    return challenge


def end_challenge(folder):
    with folder.locked():
        (folder.path / CHALLENGE_FILE).unlink(missing_ok=True)


# --- the rules ------------------------------------------------------------------------------------

def apply(challenge, config):
    """`config` with every setting the challenge fixes put back to its starting value."""
    base, open_fields = challenge.base, challenge.open_fields()
    values = config.to_dict()
    for name in FIELD_NAMES:
        if name not in open_fields and name != "arch_params":
            values[name] = base[name]
    if "arch_params" not in open_fields:
        values["arch_params"] = dict(base["arch_params"]) if values["arch"] == base["arch"] else {}
    return TrainConfig(**values)


def clamp(challenge, config):
    """`(config, changes)`: `config` fitted to the challenge (its fixed settings put back, its limits
    applied) and one line per setting that changed, e.g. "epochs 3 -> 2 (the challenge allows at
    most 2)". Both a teacher's starting preset and a student's configuration link go through here;
    the server still checks every submission (`admit`)."""
    before = config.to_dict()
    values = apply(challenge, config).to_dict()
    reasons = {name: "the challenge fixes it" for name in FIELD_NAMES if not _same(before[name], values[name])}
    if challenge.archs and values["arch"] not in challenge.archs:
        base_arch = challenge.base["arch"]
        values["arch"] = base_arch if base_arch in challenge.archs else challenge.archs[0]
        values["arch_params"] = dict(challenge.base["arch_params"]) if values["arch"] == base_arch else {}
        reasons["arch"] = f"the challenge allows {', '.join(challenge.archs)} only"
        reasons["arch_params"] = "the architecture changed"
    most = challenge.max_epochs
    if most and values["epochs"] > most:
        values["epochs"] = most
        reasons["epochs"] = f"the challenge allows at most {most}"
    if most and values["fine_tune_epochs"] > most - values["epochs"]:
        values["fine_tune_epochs"] = most - values["epochs"]
        reasons["fine_tune_epochs"] = f"the challenge allows at most {most} epochs, fine-tuning included"
    images = challenge.max_train_images
    if images and not 0 < values["train_limit"] <= images:
        values["train_limit"] = images
        reasons["train_limit"] = f"the challenge allows at most {images:,} training images"
    if values["warmup_epochs"] > values["epochs"]:
        values["warmup_epochs"] = values["epochs"]
        reasons["warmup_epochs"] = "no longer than the epochs"
    changes = [f"{name} {_shown_setting(name, before[name])} -> {_shown_setting(name, values[name])} "
               f"({reasons[name]})" for name in FIELD_NAMES
               if name in reasons and not _same(before[name], values[name])]
    return TrainConfig(**values), changes


def problems(challenge, config):
    """What in `config` the challenge does not allow, one sentence each (empty: it is allowed)."""
    found = []
    config = config.to_dict()
    fixed = apply(challenge, TrainConfig(**config)).to_dict()
    for name in FIELD_NAMES:
        if not _same(config[name], fixed[name]):
            found.append(f"{name} is fixed at {_shown(fixed[name])} (this run asks for {_shown(config[name])})")
    total_epochs = config["epochs"] + config["fine_tune_epochs"]
    if challenge.max_epochs and total_epochs > challenge.max_epochs:
        found.append(f"epochs: at most {challenge.max_epochs}, fine-tuning included (this run asks for {total_epochs})")
    if challenge.max_train_images and not 0 < config["train_limit"] <= challenge.max_train_images:
        asked = "all of them" if config["train_limit"] == 0 else f"{config['train_limit']:,}"
        found.append(f"train_limit: at most {challenge.max_train_images:,} training images (this run asks for {asked})")
    if challenge.archs and config["arch"] not in challenge.archs:
        found.append(f"arch: {', '.join(challenge.archs)} only (this run asks for {config['arch']})")
    return found


def admit(challenge, config, *, teacher=False):
    """The tags a submission gets under `challenge`; NotAllowed when it breaks the rules. The
    teacher may train outside them (the run then does not count for the challenge)."""
    if challenge is None:
        return {}
    found = problems(challenge, config.checked(build=False))
    if found and not teacher:
        raise NotAllowed(_refused(challenge, found))
    if found:
        return {}
    tags = {CHALLENGE_TAG: challenge.id}
    if challenge.time_budget_s:
        tags[BUDGET_TAG] = challenge.time_budget_s
    return tags


def refusal(challenge, configs, *, free=()):
    """Why `admit` refuses a student's submission of each of `configs` whatever its `free` settings
    are (those a button's own widgets choose: names, or a dict of name -> the values offered, None
    for any), or None when some choice may pass. A button that can never work under the challenge
    is disabled with this as its help; without a challenge (or for the teacher: pass None) there
    is none."""
    if challenge is None:
        return None
    offered = free if isinstance(free, dict) else dict.fromkeys(free)
    for config in configs:
        config = config.checked(build=False)
        fitted = clamp(challenge, config)[0].to_dict()
        chosen = {name: fitted[name] for name, values in offered.items()
                  if values is None or any(_same(fitted[name], value) for value in values)}
        found = problems(challenge, replace(config, **chosen))
        if found:
            return _refused(challenge, found)
    return None


def _refused(challenge, found):
    return f"The challenge “{challenge.title}” does not allow this run: " + "; ".join(found) + "."


def in_challenge(run, challenge):
    return challenge is not None and (run.record.get("tags") or {}).get(CHALLENGE_TAG) == challenge.id


def _plain(value):
    """Values as a form and a preset both write them: (64, 128) and "64,128" alike."""
    if isinstance(value, (list, tuple)):
        return ",".join(f"{item:.12g}" if isinstance(item, float) else str(item) for item in value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in sorted(value.items())}
    if isinstance(value, str):
        return value.replace(" ", "")
    if isinstance(value, bool) or value is None:
        return value
    return float(value) if isinstance(value, (int, float)) else str(value)


def _same(a, b):
    """Equal settings, floats to 9 significant digits (a link writes them with 12)."""
    a, b = _plain(a), _plain(b)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    return a == b


def _shown_setting(name, value):
    return "all" if name == "train_limit" and value == 0 else _shown(value)


def _shown(value):
    plain = _plain(value)
    if isinstance(plain, float) and plain.is_integer():
        return str(int(plain))
    if isinstance(plain, dict):
        return json.dumps(plain) if plain else "the defaults"
    return "none" if plain is None else f"{plain:g}" if isinstance(plain, float) else str(plain)
