"""The Train form under a challenge: which widgets a student gets, their bounds, their values.

Widgets are known by their keys (`views.train_form`); each stands for a TrainConfig field, and
the challenge says which fields are open. What a student submits is the form's config with the
fixed fields put back (`challenge.apply`), and the server checks it again on submission.
Without a challenge (or for the teacher) every widget shows, as it always did.
"""
from ..classroom import challenge as rules
from . import train_form as form

STATE_KEY = "cfg_challenge"   # the challenge the form's values were set for
_WIDGET_FIELDS = {"dropout_on": "dropout", "sam": "sam_rho"}
# The form's folding sections and the fields in them: a section with nothing open is left out.
SECTIONS = {"regularisation": ("weight_decay", "label_smoothing", "dropout", "augment", "sam_rho", "early_stopping",
                               "fine_tune_epochs"),
            "advanced": ("val_size", "seed", "log_every", "mixed_precision", "xla", "backend")}


class FormRules:
    def __init__(self, challenge=None):
        self.challenge = challenge

    def opens(self, field):
        """Whether students may change the TrainConfig field `field`."""
        return self.challenge is None or field in self.challenge.open_fields()

    def shows(self, key):
        """Whether the widget keyed `key` is on the form."""
        return self.opens(field_of(key))

    def shows_section(self, section):
        return self.challenge is None or bool(set(SECTIONS[section]) & self.challenge.open_fields())

    def number_bounds(self, field):
        most = self.challenge.max_epochs if self.challenge and field == "epochs" else None
        return form.number_bounds(field, high=most)

    def archs(self, names):
        allowed = self.challenge.archs if self.challenge else None
        return [name for name in names if not allowed or name in allowed]

    def train_limits(self, options):
        most = self.challenge.max_train_images if self.challenge else None
        return [n for n in options if 0 < n <= most] if most else list(options)

    def fit(self, config):
        """`(config, changes)`: `config` as far as the challenge allows, fixed settings put back and
        limits applied (for a link, or the form's first values), and a line per setting changed
        (`challenge.clamp`). The server still checks what is submitted."""
        if self.challenge is None:
            return config, []
        return rules.clamp(self.challenge, config)

    def initial_state(self):
        return form.form_state(self.fit(self.challenge.base_config())[0]) if self.challenge else form.initial_state()

    def prepare(self, state):
        """Give the form its values: a fresh session's, or the challenge's when it changed (then
        True: a Start pressed on the old form must not train the new values unseen)."""
        wanted = self.challenge.id if self.challenge else None
        changed = state.get(STATE_KEY, None) != wanted
        if changed:
            state.update(self.initial_state())
            state[STATE_KEY] = wanted
        for key, value in self.initial_state().items():
            state.setdefault(key, value)
        return changed

    def config(self, state):
        """`(config, problem)` the form stands for, with the challenge's fixed settings."""
        config, problem = form.config_from_form(state)
        if config is None or self.challenge is None:
            return config, problem
        return rules.apply(self.challenge, config), None

    def summary(self):
        """The challenge in one paragraph, for the top of the form (None without one)."""
        challenge = self.challenge
        if challenge is None:
            return None
        start = f"the {challenge.preset} preset" if challenge.preset else "the teacher's settings"
        if challenge.adjusted:
            start += " fitted to the limits"
        open_groups = ", ".join(challenge.editable) or "nothing: press Start"
        limits = []
        if challenge.max_epochs:
            limits.append(f"at most {challenge.max_epochs} epochs")
        if challenge.max_train_images:
            limits.append(f"at most {challenge.max_train_images:,} training images")
        if challenge.archs and "architecture" in challenge.editable:
            limits.append("architectures " + ", ".join(challenge.archs))
        if challenge.time_budget_s:
            limits.append(f"{_minutes(challenge.time_budget_s)} of training per run, then it stops and is scored")
        text = f"Challenge “{challenge.title}”: start from {start}; you may change {open_groups}."
        return text + (" Limits: " + "; ".join(limits) + "." if limits else "")


def field_of(key):
    """The TrainConfig field a Train form widget stands for."""
    if key.startswith("hp_"):
        return "arch_params"
    name = key.removeprefix("cfg_")
    return _WIDGET_FIELDS.get(name, name)


def _minutes(seconds):
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds} s"
