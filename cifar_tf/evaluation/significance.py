"""Whether a difference between two sets of runs is larger than seed noise.

Two runs of one configuration with different seeds differ by 0.1-0.2 points at 94 % (airbench's
n=200 figures) and by far more in a short run on a subset, so one run against one run says
nothing about which setting is better. With repeats on both sides, Welch's t-test (scipy; it does
not assume both sides spread alike) gives a 95 % interval for the difference of the means: when it
excludes zero, the gap is larger than what seeds alone make.
"""
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
MIN_REPEATS = 2      # a spread needs two runs on each side
SUGGESTED_REPEATS = 3


@dataclass(frozen=True)
class Difference:
    """`b` minus `a` (in the values' unit), its interval and how many runs each side had."""
    mean_a: float
    mean_b: float
    n_a: int
    n_b: int
    difference: float
    low: float = float("nan")     # the interval for the difference; NaN when it cannot be had
    high: float = float("nan")
    confidence: float = CONFIDENCE
    p_value: float = float("nan")

    @property
    def known(self):
        """Whether there were enough runs on both sides to judge."""
        return not np.isnan(self.low)

    @property
    def real(self):
        """Whether the difference is larger than seed noise: its interval excludes zero."""
        return self.known and (self.low > 0 or self.high < 0)


def compare_means(a, b, *, confidence=CONFIDENCE):
    """The difference mean(b) - mean(a) of two samples (one value per run) with its Welch interval.

    NaN values (runs without the number) are left out. A side with fewer than MIN_REPEATS runs
    gives a Difference whose interval is unknown."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must lie strictly between 0 and 1")
    a, b = _values(a), _values(b)
    if not len(a) or not len(b):
        raise ValueError(f"each side needs at least one run with a value (got {len(a)} and {len(b)})")
    difference = Difference(mean_a=float(a.mean()), mean_b=float(b.mean()), n_a=len(a), n_b=len(b),
                            difference=float(b.mean() - a.mean()), confidence=confidence)
    if len(a) < MIN_REPEATS or len(b) < MIN_REPEATS:
        return difference
    if a.std() == 0 and b.std() == 0:   # identical repeats (a deterministic run): the gap is exact
        return Difference(**{**difference.__dict__, "low": difference.difference, "high": difference.difference,
                             "p_value": 0.0 if difference.difference else 1.0})
    test = stats.ttest_ind(b, a, equal_var=False)
    interval = test.confidence_interval(confidence)
    return Difference(**{**difference.__dict__, "low": float(interval.low), "high": float(interval.high),
                         "p_value": float(test.pvalue)})


def verdict(difference, *, names=("A", "B"), unit=100.0, unit_name="points"):
    """A sentence a student can read about `difference` (of accuracies, shown ×`unit` in `unit_name`)."""
    name_a, name_b = names
    if not difference.known:
        few = [name for name, n in ((name_a, difference.n_a), (name_b, difference.n_b)) if n < MIN_REPEATS]
        return (f"{' and '.join(few)} {'has' if len(few) == 1 else 'have'} one run only, and one run cannot tell a "
                f"real difference from seed noise: repeat {'it' if len(few) == 1 else 'each'} ×{SUGGESTED_REPEATS} "
                "(same settings, other seeds) and compare again.")
    ahead, behind = (name_b, name_a) if difference.difference >= 0 else (name_a, name_b)
    size = abs(difference.difference) * unit
    half_width = (difference.high - difference.low) / 2 * unit
    interval = (f"{difference.confidence:.0%} interval for {name_b} − {name_a}: "
                f"{difference.low * unit:+.2f} to {difference.high * unit:+.2f} {unit_name}; Welch's t-test, "
                f"n = {difference.n_a} and {difference.n_b}")
    if difference.real:
        return (f"{ahead} is ahead of {behind} by {size:.2f} ± {half_width:.2f} {unit_name}: more than the "
                f"seed-to-seed spread ({interval}).")
    return (f"Within noise: {ahead} is ahead by {size:.2f} {unit_name}, but seeds alone make gaps that large "
            f"({interval}). Run more repeats to tell.")


def _values(sample):
    values = np.asarray([value for value in sample], dtype="float64").ravel()
    return values[~np.isnan(values)]
