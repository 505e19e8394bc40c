"""The learning-rate range test: which learning rate to train with, found in a few hundred steps.

Leslie Smith's test ("Cyclical Learning Rates for Training Neural Networks", arXiv 1506.01186,
section 3.3), as fastai's `lr_find` runs it: a fresh network trains with the run's architecture,
optimizer, batch size, augmentation and regularisation while its learning rate rises
exponentially from `start_lr` to `end_lr` over `steps` steps; the loss of every step is recorded
with an exponentially smoothed copy (bias-corrected, as fastai's), and the test stops early once
the smoothed loss passes `divergence` times its best. Two rules read a rate off the curve, as
fastai offers them:

- **valley** (fastai's default since 2.5): the longest stretch over which the smoothed loss keeps
  falling; the rate a little past its first third. The suggestion.
- **steepest**: where the smoothed loss falls fastest against the log of the rate.

A range test is a run of its own kind (`kind: "lrfind"` in run.json, its settings under `lrfind`):
queued, owned and stopped like any run, trained by the Keras-fit path for every architecture; its
points go to `lrfind.jsonl` in its folder and its suggestions to its record and metrics. It saves
no model. This module is the test's settings and its reading (no Keras: pages import it);
`range_test` runs one. The airbench recipe's rate is on a summed loss with a schedule of its own, so a range
test of it is refused.
"""
import math
from dataclasses import asdict, dataclass, fields

from ..runs.files import read_jsonl
from ..validation import InvalidArgument, Limit

KIND = "lrfind"
POINTS_FILE = "lrfind.jsonl"
RULES = {
    "valley": "valley (fastai's default): the longest stretch over which the smoothed loss keeps falling, "
              "a little past its first third",
    "steepest": "steepest descent: where the smoothed loss falls fastest against log learning rate",
}
SUGGESTED_RULE = "valley"
MIN_POINTS = 8   # fewer finite points than this suggest nothing
# What each setting of a range test may hold: read by the check, the command line and the Train page.
LIMITS = {
    "start_lr": Limit(float, 0, 100, low_open=True),
    "end_lr": Limit(float, 0, 100, low_open=True),   # and above start_lr
    "steps": Limit(int, MIN_POINTS + 2, 2000),
    "divergence": Limit(float, 1, 1000, low_open=True),
    "smoothing": Limit(float, 0, 0.999),
}


@dataclass(frozen=True)
class RangeTest:
    start_lr: float = 1e-7
    end_lr: float = 10.0
    steps: int = 100
    divergence: float = 4.0    # stop once the smoothed loss is this many times its best
    smoothing: float = 0.98    # the smoothed loss's exponential moving average (fastai's beta)

    def validated(self):
        checked = RangeTest(**{name: limit.check(name, getattr(self, name)) for name, limit in LIMITS.items()})
        if checked.end_lr <= checked.start_lr:
            raise InvalidArgument("end_lr", self.end_lr, f"more than start_lr ({checked.start_lr:g})")
        return checked

    def lr_at(self, step):
        """The rate of step `step` (0 first): start_lr, rising exponentially to end_lr at the last."""
        return self.start_lr * (self.end_lr / self.start_lr) ** (step / max(1, self.steps - 1))

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in (values or {}).items() if key in known}).validated()


def check_range_config(config):
    """`config` validated for a range test: the Keras recipe only."""
    config = config.validated()
    if config.recipe != "keras":
        raise InvalidArgument("recipe", config.recipe, "keras for a learning-rate range test (the airbench recipe's "
                                                       "rate is on a summed loss, with a schedule of its own)")
    return config


def default_name(config):
    return f"lr range test · {config.arch} · {config.optimizer}"


def is_range_test(run):
    return run.record.get("kind") == KIND


# --- the suggestions ---------------------------------------------------------------------------

def suggest(points):
    """`{"valley", "steepest", "suggested", "rule"}` (rates, or None) from recorded points."""
    usable = [p for p in points if _finite(p.get("lr")) and _finite(p.get("smoothed")) and p["lr"] > 0]
    found = {"valley": None, "steepest": None, "suggested": None, "rule": SUGGESTED_RULE}
    if len(usable) < MIN_POINTS:
        return found
    # As fastai: leave out the first tenth (the average warming up) and the last few (divergence).
    usable = usable[len(usable) // 10:len(usable) - min(5, len(usable) // 10)] or usable
    lrs = [p["lr"] for p in usable]
    losses = [p["smoothed"] for p in usable]
    found["valley"] = lrs[valley_index(losses)]
    slopes = [(losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
              for i in range(len(lrs) - 1) if lrs[i + 1] > lrs[i]]
    if slopes:
        found["steepest"] = lrs[min(range(len(slopes)), key=slopes.__getitem__)]
    found["suggested"] = found[SUGGESTED_RULE] or found["steepest"]
    return found


def valley_index(losses):
    """fastai's valley: the longest decreasing subsequence of the losses, and an index a little
    past the first third of the stretch it spans (start + 1/3 + 1/6 of its length)."""
    n = len(losses)
    longest = [1] * n
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
        if longest[end] < longest[i]:
            end, start = i, i - longest[i]
    third = (end - start) / 3
    return min(n - 1, max(0, start + int(third) + int(third / 2)))


def points_of(run):
    """The points a range test recorded, in order."""
    return [p for p in read_jsonl(run.path / POINTS_FILE) if _finite(p.get("lr")) and isinstance(p.get("step"), int)]


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def submit_range_test(manager, config, test=None, *, name=None):
    """Queue a range test with the run manager (or a class's SeatedManager, which makes it the
    viewer's): a worker runs it (training/range_test.py), as it trains a run."""
    config = check_range_config(config)
    test = (test or RangeTest()).validated()
    return manager.submit(config, name=name or default_name(config), record={"kind": KIND, "lrfind": test.to_dict()})
