"""The Sharpness lab's experiment: one configuration trained twice, without and with SAM, and the
two runs side by side."""
import secrets
import time
from dataclasses import replace

from ..runs.store import clean_name
from ..training.config import LIMITS
from ..training.presets import preset_config
from ..validation import Limit
from .measures import cached

# The "Train a pair" form: where it starts, and what it offers. A pair of short runs on a subset,
# so that both finish in a few minutes on a CPU.
PAIR_DEFAULTS = dict(arch="simple_cnn", epochs=3, train_limit=5000, val_size=1000, optimizer="adam", lr=1e-3,
                     seed=0, rho=0.05)
PAIR_CHOICES = dict(train_limit=(1000, 2000, 5000, 10000, 20000, 45000), val_size=(500, 1000, 2000, 5000),
                    lr=(1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1))
# What the form offers and `pair_configs` accepts: a run's limits, but short, and SAM's radius around
# the paper's 0.05 (a pair with rho far above 0.5 only shows SAM failing to train).
PAIR_LIMITS = {"epochs": LIMITS["epochs"]._replace(high=200), "seed": LIMITS["seed"],
               "rho": Limit(float, 0, 0.5, low_open=True)}
PAIR_TAG = "sam_pair"
# The settings the form chooses, and the values it offers for each (None: any): under a class
# challenge, "Train both" is disabled only when no choice of these could pass (`challenge.refusal`).
PAIR_FORM_FIELDS = dict(arch=None, arch_params=None, epochs=None, train_limit=PAIR_CHOICES["train_limit"],
                        val_size=PAIR_CHOICES["val_size"], optimizer=None, lr=PAIR_CHOICES["lr"], seed=None)


def pair_config(**settings):
    """The configuration both runs of a pair share: the quick preset with the form's settings."""
    return preset_config("quick", **settings)


def pair_configs(config, rho):
    """The same validated TrainConfig twice: without SAM and with SAM of radius `rho`."""
    PAIR_LIMITS["epochs"].check("epochs", config.epochs)
    rho = PAIR_LIMITS["rho"].check("sam_rho", rho)
    return replace(config, sam_rho=0.0).validated(), replace(config, sam_rho=rho).validated()


def submit_pair(manager, config, rho, *, name=None):
    """Queue a plain run and a SAM run of one configuration (same seed, same data) on a RunManager.

    Both carry the tag `sam_pair` with a shared id; returns `(pair_id, plain_run, sam_run)`.
    """
    plain, sam = pair_configs(config, rho)
    pair_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    label = clean_name(name) or f"{config.arch} · SAM pair · {time.strftime('%H:%M')}"
    plain_run = manager.submit(plain, name=f"{label} · plain", tags={PAIR_TAG: pair_id, "sam": "plain"})
    sam_run = manager.submit(sam, name=f"{label} · SAM rho={rho:g}", tags={PAIR_TAG: pair_id, "sam": "sam"})
    return pair_id, plain_run, sam_run


def sam_pairs(runs):
    """Runs grouped by their `sam_pair` tag, newest pair first: dicts with `id`, `plain`, `sam`."""
    pairs = {}
    for run in runs:
        pair_id = (run.record.get("tags") or {}).get(PAIR_TAG)
        if not pair_id:
            continue
        role = "sam" if (run.record.get("config") or {}).get("sam_rho") else "plain"
        pairs.setdefault(pair_id, {"id": pair_id, "plain": None, "sam": None})[role] = run
    return sorted(pairs.values(), key=lambda pair: pair["id"], reverse=True)


def pair_active(pair):
    """Whether either run of a pair is still queued or training."""
    return any(run is not None and run.is_active() for run in (pair["plain"], pair["sam"]))


def pair_label(pair):
    """A pair in a picker: its two runs' names."""
    return " vs ".join(run.name for run in (pair["plain"], pair["sam"]) if run is not None) or pair["id"]


def comparison_rows(runs, **settings):
    """A row per run for a side-by-side table: SAM radius, accuracy, and the cached measures (or None)."""
    rows = []
    for run in runs:
        measured = cached(run, "sharpness", **settings) or {}
        metrics = run.record.get("metrics") or {}
        rows.append({"run": run.name, "SAM ρ": (run.record.get("config") or {}).get("sam_rho") or 0.0,
                     "status": run.status, "test accuracy": metrics.get("test_accuracy"),
                     "training loss": measured.get("loss"), "sharpness": measured.get("sharpness"),
                     "λ max": measured.get("hessian_eigenvalue")})
    return rows
