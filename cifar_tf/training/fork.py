"""A fork: a new run that starts from a saved epoch of another, with one setting changed.

Runs of the Keras recipe keep the weights of their latest whole epochs
(`control.EpochCheckpoints`, `runs.control.KEEP_CHECKPOINTS` of them). A fork from epoch E of a
run is queued like any run, with `fork: {"parent", "epoch", "changes"}` in its record; before any
manager may start it, its folder gets a copy of the parent's weights at E, and its histories
begin with the parent's step and epoch records up to E (and the parent's events), each marked
`"inherited": PARENT_ID`, then a `fork` event at E. The two runs therefore share their curves up
to the fork. Its worker loads those weights and trains epochs E+1 to `epochs` with its own
settings, the step count and schedule going on from where the parent was; the optimizer's own
state (momentum, Adam's moments) starts afresh.

What a fork may change are the training settings in FORK_SETTINGS: the architecture, the data
(training images, validation split, seed) and the batch size (the steps of an epoch) stay the
parent's. Runs of the airbench recipe (whitening, lookahead and a schedule tied to the whole run)
and runs that fine-tune a pretrained base (two phases) keep no checkpoints and cannot be forked.
"""
import shutil

from ..runs import control, store
from ..runs.files import atomic_write_bytes, check_regular
from ..validation import InvalidArgument
from .config import TrainConfig, parse_value

FORK_WEIGHTS = "fork-start.weights.h5"
FORK_SETTINGS = ("lr", "optimizer", "momentum", "nesterov", "schedule", "warmup_epochs", "decay_every",
                 "decay_factor", "weight_decay", "label_smoothing", "dropout", "augment", "sam_rho", "epochs",
                 "early_stopping", "log_every")


def unforkable_reason(config):
    """Why runs of `config` (a TrainConfig's dict) keep no checkpoints to fork from, or None."""
    config = config or {}
    if config.get("recipe", "keras") != "keras":
        return ("runs of the airbench recipe cannot be forked: its whitening, lookahead and schedule belong to one "
                "run from its first step")
    if config.get("fine_tune_epochs"):
        return "runs that fine-tune a pretrained base train in two phases and cannot be forked"
    return None


def fork_config(parent, changes):
    """The parent's config with `changes` ({setting: value}, values typed or as text)."""
    for key, value in changes.items():
        if key not in FORK_SETTINGS:
            raise InvalidArgument(key, value, "a setting a fork may change: " + ", ".join(FORK_SETTINGS)
                                  + " (a fork keeps the architecture, the data and the batch size)")
    values = {key: parse_value(value) if isinstance(value, str) and key != "augment" else value
              for key, value in changes.items()}
    return TrainConfig.from_dict({**parent.record.get("config", {}), **values}).checked(build=False)


def fork_run(manager, parent, changes, *, epoch=None, name=None, by=None):
    """Queue a fork of the run `parent` from its saved `epoch` (default: the latest saved) with
    `changes`; the new run, owned by whoever `manager` submits for."""
    reason = unforkable_reason(parent.record.get("config"))
    if reason:
        raise ValueError(reason)
    saved = control.saved_epochs(parent.path)
    if not saved:
        raise ValueError(f"run {parent.id} kept no weights to fork from: a run keeps those of its latest "
                         f"{control.KEEP_CHECKPOINTS} whole epochs once it has trained one")
    epoch = saved[-1] if epoch is None else epoch
    if epoch not in saved:
        raise InvalidArgument("epoch", epoch, "an epoch whose weights the run kept: " + ", ".join(map(str, saved)))
    if not changes:
        raise ValueError("a fork changes a setting: name one (lr=0.01)")
    config = fork_config(parent, changes)
    if config.epochs <= epoch:
        raise InvalidArgument("epochs", config.epochs, f"more than {epoch}, the epoch the fork starts from")
    per_epoch = parent.record.get("steps_per_epoch")
    if not isinstance(per_epoch, int) or per_epoch < 1:
        raise ValueError(f"run {parent.id} does not say how many steps its epochs have")
    fork = {"parent": parent.id, "parent_name": parent.name, "epoch": epoch, "changes": dict(changes)}
    return manager.submit(config, name=name or f"{parent.name} · fork at epoch {epoch}", record={"fork": fork},
                          prepare=lambda run: _prepare(run, parent, epoch, per_epoch, fork, by))


def _prepare(run, parent, epoch, per_epoch, fork, by):
    """The fork's folder before it can start: the parent's weights at `epoch`, and its histories up to there."""
    source = check_regular(control.checkpoint_path(parent.path, epoch), store.MODEL_MAX_BYTES)
    shutil.copyfile(source, run.file(FORK_WEIGHTS))
    inherited = {"inherited": parent.id}
    steps = [{**r, **inherited} for r in parent.steps() if isinstance(r.get("step"), int)
             and r["step"] <= epoch * per_epoch]
    epochs = [{**r, **inherited} for r in parent.epochs() if not r.get("partial")
              and isinstance(r.get("epoch"), (int, float)) and r["epoch"] <= epoch]
    events = [{**e, **inherited} for e in control.read_events(parent.path) if e["epoch"] <= epoch]
    for name, records in ((store.STEPS_FILE, steps), (store.EPOCHS_FILE, epochs), (control.EVENTS_FILE, events)):
        if records:
            atomic_write_bytes(run.file(name), _lines(records))
    control.record_event(run.path, {"step": epoch * per_epoch, "epoch": epoch, "what": "fork", "from_run": parent.id,
                                    "changes": fork["changes"], "by": by})
    run.update(steps_per_epoch=per_epoch, epochs_completed=epoch)


def start_of(run, model):
    """The epoch a run starts training at: 0, or for a fork the parent's epoch, its weights loaded into `model`."""
    fork = run.record.get("fork")
    if not isinstance(fork, dict):
        return 0
    model.load_weights(check_regular(run.file(FORK_WEIGHTS), store.MODEL_MAX_BYTES))
    return int(fork["epoch"])


def _lines(records):
    import json

    return "".join(json.dumps(record) + "\n" for record in records).encode()
