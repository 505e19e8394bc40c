"""Every setting the lab takes from the environment, and its default folders: read here only.

| variable | what it sets | default |
|---|---|---|
| `CIFAR10_DIR` | a CIFAR-10 copy: `cifar-10-batches-py/` or the folder holding it | none: the caches are searched |
| `CIFAR_TF_CACHE` | the lab's download cache | `~/.cache/cifar_tf` |
| `KERAS_HOME` | Keras' own cache (its datasets, pretrained weights) | `~/.keras` |
| `CIFAR10_URL`, `CIFAR10_MD5` | the archive `data download` fetches, and its checksum | the official archive |
| `CIFAR_TF_RUNS_DIR` | the runs folder | the project's `models/` |
| `CIFAR_TF_MAX_RUNS` | runs that train at once | `CIFAR_TF_RUNS_PER_GPU` per GPU, one on a CPU; on Ray, as many as the cluster fits |
| `CIFAR_TF_RUNS_PER_GPU` | runs that share one GPU, each pinned to it and given an equal share of its memory | 8 |
| `CIFAR_TF_BACKEND` | the Keras backend runs train with: `tensorflow` or `jax` (a run's `--backend` overrides it) | `KERAS_BACKEND`, else `tensorflow` |
| `CIFAR_TF_CLASS_MODE` | class mode: names, owners, a teacher, challenges (`1`, `on`, `true`) | off |
| `CIFAR_TF_TEACHER_CODE` | the code that unlocks teacher rights; setting it turns class mode on | one is made up and printed |
| `CIFAR_TF_CLASS_SEATS` | the most names (seats) a class holds; the teacher frees names on the Teacher page | 200 |
| `CIFAR_TF_CLASS_JOINS_PER_MINUTE` | the most new names a class takes in one minute | 60 |
| `CIFAR_TF_RAY_ADDRESS` | a Ray cluster (`HOST:PORT`) that trains the runs instead of this machine | off: local processes |
| `CIFAR_TF_RAY_CPUS` | CPUs a run asks of a Ray cluster without GPUs | 2 |
| `CIFAR_TF_STANDBY_WORKER` | the app keeps a worker waiting, TensorFlow imported, for the next run (`0`, `off` to stop) | on |
| `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`, `KERASTUNER_TUNER_ID` | KerasTuner's distributed mode | off |
| `TF_ENABLE_ONEDNN_OPTS` | TensorFlow's oneDNN kernels (read only to report them) | on |
| `CUDA_VISIBLE_DEVICES` | the GPUs runs may be placed on (the server then hides them from itself and passes them on as `CIFAR_TF_RUN_GPUS`) | all of them |

Set for training processes, before their backend starts (`set_training_environment`, and per run
`runs.placement`): `KERAS_BACKEND`, `TF_FORCE_GPU_ALLOW_GROWTH`, `XLA_PYTHON_CLIENT_PREALLOCATE`,
`XLA_PYTHON_CLIENT_MEM_FRACTION`, `JAX_COMPILATION_CACHE_DIR` (`$CIFAR_TF_CACHE/jax`), `JAX_PLATFORMS`.

Each function reads the environment when it is called, not at import, so a test or a command
that sets a variable is obeyed at once. A value a variable cannot hold is refused, never ignored:
`InvalidArgument` names the variable, the value and what is allowed, and `check_environment()`
(called as the app and the command line start) reads them all.
"""
import os
from pathlib import Path

from .validation import check_address, check_bool, check_choice, check_int

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_RUNS_DIR = PROJECT_DIR / "models"    # where the shipped demo run lives too
DEFAULT_CACHE_DIR = Path("~/.cache/cifar_tf")

DATASET_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
DATASET_MD5 = "c58f30108f718f92721af3b95e74349a"


def _env(name):
    """The variable's value, or None when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def data_dir():
    """`$CIFAR10_DIR`, or None to search the caches."""
    value = _env("CIFAR10_DIR")
    return Path(value).expanduser() if value else None


def cache_dir():
    return Path(_env("CIFAR_TF_CACHE") or DEFAULT_CACHE_DIR).expanduser()


def keras_home():
    """`$KERAS_HOME` as given, or None (Keras' own default, ~/.keras)."""
    value = _env("KERAS_HOME")
    return Path(value).expanduser() if value else None


def keras_datasets_dir():
    return (keras_home() or Path("~/.keras").expanduser()) / "datasets"


def dataset_url():
    return _env("CIFAR10_URL") or DATASET_URL


def dataset_md5():
    return (_env("CIFAR10_MD5") or DATASET_MD5).lower()


def runs_dir(given=None):
    """The runs folder: `given` if any, else `$CIFAR_TF_RUNS_DIR`, else the project's models/."""
    value = given or _env("CIFAR_TF_RUNS_DIR")
    return Path(value).expanduser() if value else DEFAULT_RUNS_DIR


def max_runs():
    """`$CIFAR_TF_MAX_RUNS`: how many runs train at once, or None when unset (the run manager's default)."""
    return _whole_number("CIFAR_TF_MAX_RUNS", None, 1, MAX_RUNS)


def runs_per_gpu():
    """`$CIFAR_TF_RUNS_PER_GPU`: how many runs share one GPU (default RUNS_PER_GPU)."""
    return _whole_number("CIFAR_TF_RUNS_PER_GPU", RUNS_PER_GPU, 1, MOST_RUNS_PER_GPU)


# Fast-preset runs of a class sharing one H200 (docs/benchmarks.md, "A class on one GPU"): the
# card's throughput flattens out above this many at once, and each run's memory share (1/8 of the
# card) is far more than a CIFAR-10 run holds.
RUNS_PER_GPU = 8
MOST_RUNS_PER_GPU = 64
# Far more runs at once than a lab of PCs holds; a typo (an extra zero or three) is refused.
MAX_RUNS = 1000
BACKENDS = ("tensorflow", "jax")


def train_backend():
    """The Keras backend training processes use: `$CIFAR_TF_BACKEND`, else `$KERAS_BACKEND`, else
    tensorflow. The app server itself always runs TensorFlow for its pages."""
    name = "CIFAR_TF_BACKEND" if _env("CIFAR_TF_BACKEND") else "KERAS_BACKEND"
    value = _env(name) or "tensorflow"
    check_choice(name, value.lower(), BACKENDS)
    return value.lower()


# Set by hide_gpus() for the processes this one starts: the GPUs they may be placed on.
RUN_GPUS_VARIABLE = "CIFAR_TF_RUN_GPUS"


def gpus_for_runs_setting():
    """The GPUs runs may use, as text ("0,1"): those a server had before it hid them from itself
    (`$CIFAR_TF_RUN_GPUS`), else `$CUDA_VISIBLE_DEVICES`; None when neither is set (all of them)."""
    for name in (RUN_GPUS_VARIABLE, "CUDA_VISIBLE_DEVICES"):
        if name in os.environ:
            return os.environ[name]
    return None


def cuda_visible_devices():
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def hide_gpus(gpus_for_runs):
    """This process sees no GPU from now on (read when TensorFlow or JAX start); the processes it
    starts are told `gpus_for_runs`, the GPUs it had."""
    os.environ.setdefault(RUN_GPUS_VARIABLE, ",".join(gpus_for_runs))
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ["JAX_PLATFORMS"] = "cpu"  # JAX: no GPU to look for, and no warning that there is none


def set_training_environment(backend):
    """What a training process sets before Keras starts: the backend, and GPU memory taken as it is
    needed rather than the whole card at once (several runs share a GPU; the run manager also
    gives each run a share, runs.placement). JAX keeps what it compiles on disk: the runs of a
    class share one network and one step, so every run after the first skips the compile."""
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache_dir() / "jax"))


def keep_tensorflow_for_pages():
    """The app server draws its pages with TensorFlow whatever backend runs train with: a
    KERAS_BACKEND it was started with becomes the runs' default (CIFAR_TF_BACKEND), and the
    server's own Keras runs TensorFlow. Call before Keras is imported."""
    if _env("KERAS_BACKEND") and not _env("CIFAR_TF_BACKEND"):
        os.environ["CIFAR_TF_BACKEND"] = _env("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = "tensorflow"


def standby_worker():
    """Whether the app keeps one worker process waiting, TensorFlow imported, for the next run:
    `$CIFAR_TF_STANDBY_WORKER`, on unless 0/off/false/no (another word is refused). A run started from a page then shows
    its first curve points about 7 s sooner, for about 1 GB of memory while nothing trains."""
    return _switch("CIFAR_TF_STANDBY_WORKER", True)


def teacher_code():
    """`$CIFAR_TF_TEACHER_CODE`, or None (class mode then makes one up, see cifar_tf.classroom)."""
    return _env("CIFAR_TF_TEACHER_CODE")


def class_mode():
    """Whether the app runs for a class: `$CIFAR_TF_CLASS_MODE` is on, or a teacher code is set."""
    return _switch("CIFAR_TF_CLASS_MODE", False) or teacher_code() is not None


# A class of thirty, several classes sharing a server, visitors: far below what slows a page
# (every page reads the seats); a script that makes names stops here, and the teacher frees names.
CLASS_SEATS = 200
# Thirty students joining in the first minute of a lesson, twice over.
CLASS_JOINS_PER_MINUTE = 60


def class_seats():
    """`$CIFAR_TF_CLASS_SEATS`: the most seats (names) one class holds (default CLASS_SEATS)."""
    return _whole_number("CIFAR_TF_CLASS_SEATS", CLASS_SEATS, 1, 100_000)


def class_joins_per_minute():
    """`$CIFAR_TF_CLASS_JOINS_PER_MINUTE`: the most new seats one class takes in a minute."""
    return _whole_number("CIFAR_TF_CLASS_JOINS_PER_MINUTE", CLASS_JOINS_PER_MINUTE, 1, 100_000)


def _whole_number(name, default, low, high):
    """The variable as a whole number from `low` to `high`, `default` when unset."""
    value = _env(name)
    return default if value is None else check_int(name, value, low=low, high=high)


def _switch(name, default):
    """The variable as on or off (1/0, on/off, true/false, yes/no), `default` when unset."""
    value = _env(name)
    return default if value is None else check_bool(name, value)


def ray_address():
    """`$CIFAR_TF_RAY_ADDRESS` (HOST:PORT of a Ray cluster's head), or None to train locally."""
    value = _env("CIFAR_TF_RAY_ADDRESS")
    if value is not None:
        check_address("CIFAR_TF_RAY_ADDRESS", value)
    return value


# Far more CPUs than one PC of a lab has: what one run asks of a Ray node.
MOST_RAY_CPUS = 1024


def ray_cpus_per_run():
    """`$CIFAR_TF_RAY_CPUS`: CPUs a run asks of a Ray node without GPUs, or None for the default."""
    return _whole_number("CIFAR_TF_RAY_CPUS", None, 1, MOST_RAY_CPUS)


def check_environment():
    """Read every setting above that can be wrong: the first bad one raises InvalidArgument naming
    its variable. The app and the command line call it as they start, so a typo in a variable is
    refused at once rather than when a page or a run first reads it."""
    for read in (max_runs, runs_per_gpu, train_backend, standby_worker, class_mode, class_seats,
                 class_joins_per_minute, ray_address, ray_cpus_per_run, bench_browser_cores):
        read()


def tuner_role():
    """'chief', 'worker' or 'local', from KerasTuner's distributed-mode variables."""
    if _env("KERASTUNER_ORACLE_IP") is None:
        return "local"
    return "chief" if "chief" in (_env("KERASTUNER_TUNER_ID") or "") else "worker"


def tuner_oracle_address():
    return f"{_env('KERASTUNER_ORACLE_IP')}:{_env('KERASTUNER_ORACLE_PORT')}"


BENCH_BROWSER_CORES = "CIFAR_TF_BENCH_BROWSER_CORES"


def bench_browser_cores():
    """The cores the benchmark's Chromium runs on (`bench --slow-cpu` names them for the processes it
    starts): `$CIFAR_TF_BENCH_BROWSER_CORES`, e.g. "0,1", as a set; None when unset."""
    value = _env(BENCH_BROWSER_CORES)
    last = (os.cpu_count() or 1) - 1
    return {check_int(BENCH_BROWSER_CORES, core, low=0, high=last) for core in value.split(",")} if value else None


def set_bench_browser_cores(cores):
    """Name `cores` (a set) for the benchmark's Chromium; None forgets them."""
    if cores:
        os.environ[BENCH_BROWSER_CORES] = ",".join(map(str, sorted(cores)))
    else:
        os.environ.pop(BENCH_BROWSER_CORES, None)


def onednn_enabled():
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"
