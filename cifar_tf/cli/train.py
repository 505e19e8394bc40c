"""`archs`, `train`, `submit` (a run for the run manager) and the `worker` the run manager starts."""
import sys

from ..validation import InvalidArgument
from ..runs.repeats import REPEATS, check_repeats, submit_repeats
from .common import command, data_flags, print_json, ray_flag, runs_flag, table


def cmd_archs(args):
    from ..models.registry import ARCHITECTURES, count_params

    rows = [{"name": name, "params": count_params(name), "description": arch.description,
             "source": arch.source} for name, arch in ARCHITECTURES.items()]
    if args.json:
        return print_json(rows)
    for row in rows:
        row["params"] = f"{row['params']:,}"
    print(table(rows, ["name", "params", "description"]))


# --- training -----------------------------------------------------------------------------------

TRAIN_FLAGS = {  # flag → (TrainConfig field, help)
    "--arch": ("arch", "architecture (see `archs`)"),
    "--epochs": ("epochs", "epochs to train"),
    "--batch-size": ("batch_size", "images per batch"),
    "--optimizer": ("optimizer", "sgd, adam, adamw or rmsprop"),
    "--lr": ("lr", "peak learning rate"),
    "--momentum": ("momentum", "momentum of SGD and RMSprop"),
    "--nesterov": ("nesterov", "Nesterov momentum for SGD (true/false)"),
    "--schedule": ("schedule", "constant, step, exponential, cosine or onecycle"),
    "--warmup-epochs": ("warmup_epochs", "linear warm-up (cosine, onecycle)"),
    "--decay-every": ("decay_every", "epochs per decay (step, exponential)"),
    "--decay-factor": ("decay_factor", "learning-rate factor per decay (step, exponential)"),
    "--weight-decay": ("weight_decay", "decoupled weight decay"),
    "--dropout": ("dropout", "dropout rate of the architecture"),
    "--label-smoothing": ("label_smoothing", "label smoothing"),
    "--augment": ("augment", "augmentation: none, flip, standard, strong, seed001 or settings "
                             "like flip,crop=4,rotation=15,cutout=8"),
    "--sam-rho": ("sam_rho", "SAM neighbourhood radius; 0 trains without SAM"),
    "--fine-tune-epochs": ("fine_tune_epochs", "pretrained bases: epochs of fine-tuning after the frozen phase"),
    "--fine-tune-lr-factor": ("fine_tune_lr_factor", "learning-rate factor for fine-tuning"),
    "--early-stopping": ("early_stopping", "patience in epochs on validation accuracy; 0 is off"),
    "--train-limit": ("train_limit", "train on a stratified subset of this many images; 0 is all"),
    "--val-size": ("val_size", "validation images taken from the training set (default 5,000, or a tenth "
                               "of the training images if fewer)"),
    "--seed": ("seed", "random seed"),
    "--mixed-precision": ("mixed_precision", "auto, off, bf16 or fp16"),
    "--xla": ("xla", "auto, on or off"),
    "--log-every": ("log_every", "batches between two live step records"),
    "--recipe": ("recipe", "keras (fit with the settings above) or airbench (the fast preset's own train step)"),
    "--backend": ("backend", "the Keras backend to train with: tensorflow, jax or auto (CIFAR_TF_BACKEND, "
                             "else KERAS_BACKEND, else tensorflow)"),
}


def config_from_args(args):
    from ..training.config import TrainConfig
    from ..training.presets import preset_with

    values = {}
    for flag, (field, _) in TRAIN_FLAGS.items():
        value = getattr(args, field)
        if value is not None:
            values[field] = value
    if args.arch_param:
        values["arch_params"] = parse_key_values(args.arch_param, "arch-param")
    if args.preset:
        return preset_with(args.preset, **values).validated()
    return TrainConfig(**values).validated()


def parse_key_values(items, flag):
    from ..training.config import parse_value

    params = {}
    for item in items:
        if "=" not in item:
            raise InvalidArgument(flag, item, "KEY=VALUE, e.g. depth=4")
        key, value = item.split("=", 1)
        params[key.strip()] = parse_value(value)
    return params


def cmd_train(args):
    from ..data.cifar10 import find_dataset
    from ..training.config import check_config

    # The cheap checks first: a typo is refused before TensorFlow loads and a missing dataset
    # before a run folder is made; train() checks the architecture's values before it makes one.
    config = check_config(config_from_args(args), build=False)
    check_repeats(args.repeat)
    find_dataset(args.data_dir, args.cache_dir)

    # With --json, stdout carries the JSON alone: progress goes to stderr.
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    runs = submit_repeats(_Trainer(args, log), config, args.repeat, name=args.name)
    if args.json:
        return print_json(runs[0].record if len(runs) == 1 else {"runs": [run.record for run in runs]})
    for run in runs:
        metrics = run.record["metrics"]
        print(f"run {run.id} {run.status}: test accuracy {metrics['test_accuracy']:.4f}, "
              f"weighted F1 {metrics['weighted_f1']:.4f}, {metrics['train_seconds']:.1f} s of training")
        print(f"saved in {run.path}")


class _Trainer:
    """Trains each run it is given here and now: `submit_repeats` on the command line."""

    def __init__(self, args, log):
        self.args, self.log = args, log

    def submit(self, config, *, name=None, tags=None):
        from ..training.run import train

        return train(config, runs_dir=self.args.runs_dir, data_dir=self.args.data_dir,
                     cache_dir=self.args.cache_dir, name=name, tags=tags, log=self.log)


def cmd_submit(args):
    """Queue a run through the run manager the app uses (local processes or a Ray cluster)."""
    from ..data.cifar10 import find_dataset
    from ..runs.manager import RunManager
    from ..training.config import check_config
    from .runs import check_ray_flag, wait_for_runs

    config = check_config(config_from_args(args), build=False)
    check_repeats(args.repeat)
    check_ray_flag(args)
    data_dir = find_dataset(args.data_dir, args.cache_dir).resolve()
    manager = RunManager(args.runs_dir, data_dir=data_dir, ray_address=args.ray)
    runs = submit_repeats(manager, config, args.repeat, name=args.name)
    for run in runs:
        print(run.id, flush=True)
    return wait_for_runs(manager, [run.id for run in runs]) if args.wait else 0


def cmd_worker(args):
    from ..training.worker import run_worker, wait_as_standby

    run_path = wait_as_standby(args.data_dir) if args.standby else args.run_path
    return run_worker(run_path) if run_path else 0



def train_flags(sub):
    sub.add_argument("--preset", help="a named recipe (seed001, seed002, fast, transfer, quick); "
                                      "flags override it")
    for flag, (field, help_text) in TRAIN_FLAGS.items():
        sub.add_argument(flag, dest=field, metavar=field.upper(), help=help_text)
    sub.add_argument("--arch-param", action="append", metavar="KEY=VALUE",
                     help="an architecture hyperparameter, e.g. depth=4 (repeatable)")
    sub.add_argument("--name", help="a display name for the run")
    sub.add_argument("--repeat", type=int, default=1, metavar="N",
                     help=f"train the configuration N times with seeds SEED, SEED+1, ... as one group "
                          f"({REPEATS.low}-{REPEATS.high}), so that its spread shows")
    data_flags(sub)
    runs_flag(sub)


def add_commands(commands):
    archs = command(commands, "archs", cmd_archs, "list the architectures with their parameter counts")
    archs.add_argument("--json", action="store_true")

    train = command(commands, "train", cmd_train, "train a network and save the run")
    train_flags(train)
    train.add_argument("--json", action="store_true", help="print run.json at the end")

    submit = command(commands, "submit", cmd_submit, "queue a run as the app does (on this machine or a Ray "
                                                     "cluster) and print its id")
    train_flags(submit)
    submit.add_argument("--wait", action="store_true", help="wait until it ends; exit 0 if it completed")
    ray_flag(submit)

    # Started by the app's run manager; not for people.
    worker = commands.add_parser("worker")
    worker.set_defaults(handler=cmd_worker)
    worker.add_argument("run_path", nargs="?")
    worker.add_argument("--standby", action="store_true", help="import TensorFlow, then train the run folder "
                                                               "given on stdin")
    worker.add_argument("--data-dir", help="with --standby: the dataset to read while waiting")
