"""What every command shares: error messages that name the flag, tables, JSON, the common flags."""
import json

EXIT_ERROR, EXIT_USAGE = 1, 2
# Argument names of commands other than `train`, so that `flag_name` reports them as their flags.
OTHER_FLAGS = {"preset", "top_k", "arch-param", "augment", "ray",
               "tuner", "space", "max_trials", "time_limit", "search_id", "workers",
               "function", "start", "steps", "rho", "iterations", "batches", "dims", "points", "span",
               "report", "lesson", "bins", "severity", "images", "corruption", "repeat",
               "start_lr", "end_lr", "divergence", "smoothing", "epoch"}


def flag_name(field):
    """`batch_size` → `--batch-size`; `augment crop` → `--augment`; `depth` → `--arch-param depth`."""
    from ..training.config import TrainConfig

    name = str(field).split()[0]
    if name.isupper() and "_" in name:  # an environment variable, such as CIFAR_TF_RAY_ADDRESS
        return name
    if name == "arch_params":
        return "--arch-param"
    if name in set(TrainConfig.__dataclass_fields__) | OTHER_FLAGS:
        return "--" + name.replace("_", "-")
    return f"--arch-param {name}"


def message(error):
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return text.strip() or type(error).__name__


def print_json(obj):
    print(json.dumps(obj, indent=2, default=str))


def table(rows, columns):
    """Plain aligned text columns."""
    cells = [[str(c) for c in columns]] + [["" if row.get(c) is None else str(row.get(c)) for c in columns]
                                           for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(r, widths)).rstrip() for r in cells)


def fmt(value, digits=4):
    return None if value is None else f"{value:.{digits}f}"


def data_flags(sub):
    sub.add_argument("--data-dir", help="folder holding cifar-10-batches-py (or that folder); "
                                        "default: $CIFAR10_DIR, then the caches")
    sub.add_argument("--cache-dir", help="download cache (default: $CIFAR_TF_CACHE or ~/.cache/cifar_tf)")


def runs_flag(sub):
    sub.add_argument("--runs-dir", help="runs folder (default: $CIFAR_TF_RUNS_DIR or models/)")


def ray_flag(sub):
    sub.add_argument("--ray", metavar="HOST:PORT", help="train on the Ray cluster whose head is at HOST:PORT "
                                                       "(default: $CIFAR_TF_RAY_ADDRESS; none: this machine)")


def command(parent, name, handler, help_text):
    """A subcommand that runs `handler(args)`."""
    sub = parent.add_parser(name, help=help_text, description=help_text)
    sub.set_defaults(handler=handler)
    return sub
