"""Finding and loading CIFAR-10 in the official "python version" layout.

The dataset is a folder `cifar-10-batches-py/` holding five training batches, a test batch and
`batches.meta`, each a protocol-2 pickle. It is looked for, in order, where the user points
(`data_dir` or `$CIFAR10_DIR`), in this library's cache and in Keras' cache, so a copy that
`keras.datasets.cifar10` already downloaded is reused.

Batches are unpickled with a restricted unpickler that can only rebuild numpy arrays: a
pickle can run arbitrary code, and a dataset folder is not trusted input.
"""
import functools
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import NUM_CLASSES, settings
from ..validation import InvalidArgument, check_int

DATASET_FOLDER = "cifar-10-batches-py"

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
REQUIRED_FILES = (*TRAIN_FILES, TEST_FILE, META_FILE)

# Keras 3 extracts into `datasets/cifar-10-batches-py-target/`, Keras 2 into `datasets/`.
_KERAS_SUBFOLDERS = (Path("cifar-10-batches-py-target") / DATASET_FOLDER, Path(DATASET_FOLDER))
_HOW_TO_FIX = (f"To fix it, run `python -m cifar_tf data download`, or set CIFAR10_DIR=/path "
               f"(or pass --data-dir /path) to a folder holding `{DATASET_FOLDER}`.")


class DatasetNotFound(FileNotFoundError):
    """CIFAR-10 is in none of the places searched.

    `searched` holds `(source, folder, problem)` for each place; the message lists them all
    and says how to fix it.
    """

    def __init__(self, searched):
        self.searched = list(searched)
        places = "\n".join(f"  - {source}: {folder} ({problem})"
                           for source, folder, problem in self.searched)
        super().__init__(f"CIFAR-10 was not found. Searched:\n{places}\n{_HOW_TO_FIX}")


class CorruptDataset(ValueError):
    """A dataset file is unreadable or does not hold what CIFAR-10 should."""

    def __init__(self, path, problem):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}. Delete the folder and download CIFAR-10 again "
                         "(`python -m cifar_tf data download`).")


# --------------------------------------------------------------------------- finding

def missing_files(folder):
    """Names of the dataset files that `folder` lacks (all of them if it does not exist)."""
    folder = Path(folder)
    return [name for name in REQUIRED_FILES if not (folder / name).is_file()]


def candidate_dirs(data_dir=None, cache_dir=None):
    """Places to look for the `cifar-10-batches-py` folder, as `(source, folder)` in order.

    `data_dir` (else `$CIFAR10_DIR`) may name the dataset folder itself or the folder holding
    it. Sources are "data_dir", "CIFAR10_DIR", "cache" and "keras".
    """
    candidates = []
    explicit = _explicit_dir(data_dir)
    if explicit:
        candidates.append((explicit[0], _dataset_folder(explicit[1])))
    cache = Path(cache_dir).expanduser() if cache_dir else settings.cache_dir()
    candidates.append(("cache", cache / DATASET_FOLDER))
    candidates += [("keras", settings.keras_datasets_dir() / sub) for sub in _KERAS_SUBFOLDERS]
    return candidates


def find_dataset(data_dir=None, cache_dir=None):
    """The `cifar-10-batches-py` folder holding all seven files; raise DatasetNotFound if none.

    A folder the user named (`data_dir` or `$CIFAR10_DIR`) that is not valid is an error in
    itself: quietly using another copy would hide the mistake.
    """
    return _locate(data_dir, cache_dir)[1]


def _explicit_dir(data_dir):
    if data_dir:
        return "data_dir", Path(data_dir).expanduser()
    if settings.data_dir():
        return "CIFAR10_DIR", settings.data_dir()
    return None


def _dataset_folder(path):
    # A folder that holds the files directly counts even if renamed; a missing one is kept
    # as given so the error names what the user typed.
    if path.name == DATASET_FOLDER or not path.is_dir() or not missing_files(path):
        return path
    return path / DATASET_FOLDER


def _problem(folder):
    if not folder.exists():
        return "does not exist"
    if not folder.is_dir():
        return "is not a folder"
    missing = missing_files(folder)
    return "missing " + ", ".join(missing) if missing else None


def _locate(data_dir, cache_dir):
    """`(source, folder)` of the first valid candidate."""
    searched = []
    for source, folder in candidate_dirs(data_dir, cache_dir):
        problem = _problem(folder)
        if problem is None:
            return source, folder
        if source in ("data_dir", "CIFAR10_DIR"):
            raise DatasetNotFound([(source, folder, problem)])
        searched.append((source, folder, problem))
    raise DatasetNotFound(searched)


# --------------------------------------------------------------------------- reading

@functools.cache
def _allowed_globals():
    import _codecs

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    # Files written by numpy 1 name `numpy.core`, by numpy 2 `numpy._core`; protocol-2
    # pickles of bytes made by Python 3 go through `_codecs.encode`.
    return {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): _codecs.encode}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else."""

    def __init__(self, file, path):
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module, name):
        allowed = _allowed_globals()
        if (module, name) not in allowed:
            raise CorruptDataset(self.path, f"refusing to load `{module}.{name}`: a CIFAR-10 "
                                            "file holds only numpy arrays, lists and strings")
        return allowed[module, name]


def _unpickle(path):
    path = Path(path)
    with open(path, "rb") as file:
        try:
            content = _ArrayUnpickler(file, path).load()
        except CorruptDataset:
            raise
        except Exception as error:  # noqa: BLE001 - pickle raises many kinds; none should escape raw
            truncated = isinstance(error, EOFError) or "truncated" in str(error)
            problem = ("the file is truncated (it ends too early)" if truncated
                       else f"not a valid pickle ({type(error).__name__}: {error})")
            raise CorruptDataset(path, problem) from None
    if not isinstance(content, dict):
        raise CorruptDataset(path, f"expected a dict, found {type(content).__name__}")
    return content


def _field(content, key, path):
    # The official files have bytes keys; copies re-saved under Python 3 may have str keys.
    for candidate in (key.encode(), key):
        if candidate in content:
            return content[candidate]
    raise CorruptDataset(path, f"has no '{key}' entry")


def load_batch(path):
    """Read one batch file: `(images uint8 (N, 32, 32, 3), labels int64 (N,))`."""
    path = Path(path)
    content = _unpickle(path)
    data = _field(content, "data", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        found = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                 else type(data).__name__)
        raise CorruptDataset(path, f"'data' should be a uint8 array of shape (N, 3072), "
                                   f"found {found}")
    try:
        labels = np.asarray(_field(content, "labels", path))
    except (TypeError, ValueError):
        raise CorruptDataset(path, "'labels' is not a list of integers") from None
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise CorruptDataset(path, "'labels' is not a list of integers")
    if len(labels) != len(data):
        raise CorruptDataset(path, f"{len(data)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise CorruptDataset(path, f"labels should be 0 to {NUM_CLASSES - 1}, "
                                   f"found {labels.min()} to {labels.max()}")
    # Each row is the red plane, then green, then blue; Keras wants channels last.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def load_meta(folder):
    """The ten class names from `batches.meta`."""
    path = Path(folder) / META_FILE
    names = _field(_unpickle(path), "label_names", path)
    if not isinstance(names, list) or len(names) != NUM_CLASSES \
            or not all(isinstance(name, (bytes, str)) for name in names):
        raise CorruptDataset(path, f"'label_names' should be a list of {NUM_CLASSES} names")
    return [name.decode() if isinstance(name, bytes) else name for name in names]


# --------------------------------------------------------------------------- loading

@dataclass(frozen=True, eq=False, repr=False)
class CIFAR10:
    """CIFAR-10 in memory. The arrays are shared between callers, hence read-only."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    path: Path

    def __repr__(self):
        return f"CIFAR10(train={len(self.y_train)}, test={len(self.y_test)}, path='{self.path}')"


def load_cifar10(data_dir=None, cache_dir=None):
    """Find CIFAR-10 (see `find_dataset`) and load it; later calls reuse the arrays."""
    folder = find_dataset(data_dir, cache_dir)
    return _load_folder(str(folder.resolve()), _stamp(folder))


def _stamp(folder):
    # Part of the cache key, so that replacing a file makes the next call read it again.
    stats = [(Path(folder) / name).stat() for name in REQUIRED_FILES]
    return tuple((stat.st_mtime_ns, stat.st_size) for stat in stats)


@functools.lru_cache(maxsize=2)
def _load_folder(folder, stamp):
    folder = Path(folder)
    class_names = tuple(load_meta(folder))
    train = [load_batch(folder / name) for name in TRAIN_FILES]
    x_test, y_test = load_batch(folder / TEST_FILE)
    arrays = [np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]),
              x_test, y_test]
    for array in arrays:
        array.flags.writeable = False
    return CIFAR10(*arrays, class_names=class_names, path=folder)


def dataset_info(data_dir=None, cache_dir=None):
    """What and where the dataset is, as a JSON-serialisable dict."""
    source, folder = _locate(data_dir, cache_dir)
    dataset = load_cifar10(folder)

    def per_class(labels):
        counts = np.bincount(labels, minlength=NUM_CLASSES)
        return {name: int(count) for name, count in zip(dataset.class_names, counts)}

    return {"path": str(folder), "source": source, "class_names": list(dataset.class_names),
            "train_size": len(dataset.y_train), "test_size": len(dataset.y_test),
            "train_counts": per_class(dataset.y_train), "test_counts": per_class(dataset.y_test),
            "bytes_on_disk": sum((folder / name).stat().st_size for name in REQUIRED_FILES)}


# --------------------------------------------------------------------------- splitting

DEFAULT_VAL_SIZE = 5000


def validation_size(val_size, train_images):
    """The validation images to hold out of `train_images`: `val_size`, checked against them, or by
    default (None) 5,000 or a tenth of them, whichever is smaller, so that any copy of the data
    trains with the defaults."""
    if val_size is None:
        return min(DEFAULT_VAL_SIZE, train_images // 10)
    return check_int("val_size", val_size, low=0, high=train_images - 1)


def split_train_val(x, y, *, val_size=None, seed=0):
    """Hold out `val_size` images (see `validation_size`), classes in proportion:
    `x_train, y_train, x_val, y_val`."""
    x, y = _check_pair(x, y)
    val_size = validation_size(val_size, len(y))
    if val_size == 0:
        return x, y, x[:0], y[:0]
    train, val = _stratified_split(y, val_size, seed)
    return x[train], y[train], x[val], y[val]


def stratified_subset(x, y, n, *, seed=0):
    """`n` images drawn at random with classes in proportion; all of them if `n >= len(x)`."""
    x, y = _check_pair(x, y)
    n = check_int("n", n, low=0)
    if n >= len(y):
        return x, y
    if n == 0:
        return x[:0], y[:0]
    _, picked = _stratified_split(y, n, seed)
    return x[picked], y[picked]


def _check_pair(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise InvalidArgument("y", f"{len(y)} labels", f"one label per image ({len(x)})")
    return x, y


def _stratified_split(y, n, seed):
    """Indices `(rest, picked)` with `n` picked, stratified by `y` where that is possible."""
    from sklearn.model_selection import train_test_split  # slow to import; only needed here

    counts = np.unique(y, return_counts=True)[1]
    # scikit-learn needs two images per class and room for every class on both sides;
    # tiny requests fall back to a plain random split rather than failing.
    can_stratify = counts.min() >= 2 and min(n, len(y) - n) >= len(counts)
    return train_test_split(np.arange(len(y)), test_size=n, random_state=seed,
                            stratify=y if can_stratify else None)


def sample_indices(labels, n, *, classes=None, seed=0):
    """Up to `n` distinct random indices into `labels`, in random order.

    `classes` (class indices) keeps only images of those classes; None or empty means every
    class. Fewer than `n` come back when fewer images qualify.
    """
    labels = np.asarray(labels).reshape(-1)
    n = check_int("n", n, low=0)
    pool = np.arange(len(labels))
    if classes is not None and len(classes):
        wanted = [check_int("classes", c, low=0) for c in classes]
        pool = pool[np.isin(labels, wanted)]
    rng = np.random.default_rng(seed)
    return rng.permutation(pool)[:n]
