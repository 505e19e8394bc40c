import json
import os
import pickle

import numpy as np
import pytest

from cifar_tf import CLASS_NAMES
from cifar_tf.data.cifar10 import (
    DATASET_FOLDER,
    REQUIRED_FILES,
    CorruptDataset,
    DatasetNotFound,
    candidate_dirs,
    dataset_info,
    find_dataset,
    load_batch,
    load_cifar10,
    load_meta,
    split_train_val,
    stratified_subset,
)
from cifar_tf.validation import InvalidArgument
from helpers import write_cifar10


def tiny_copy(root):
    """A 50-training, 10-test image copy under `root`; returns its dataset folder."""
    return write_cifar10(root, per_batch=10, test_size=10) / DATASET_FOLDER


def write_pickle(path, content):
    with open(path, "wb") as file:
        pickle.dump(content, file, protocol=2)


@pytest.fixture
def cache_root(tmp_path):
    return tmp_path / "cache"  # $CIFAR_TF_CACHE, set by conftest


@pytest.fixture
def broken_copy(tmp_path):
    """A private tiny copy whose files a test may spoil."""
    return tiny_copy(tmp_path / "broken")


# --------------------------------------------------------------------------- finding

@pytest.mark.parametrize("point_at", ["root", "folder"])
def test_finds_data_dir_whether_it_names_the_folder_or_its_parent(cifar_dir, point_at):
    folder = cifar_dir / DATASET_FOLDER
    assert find_dataset(cifar_dir if point_at == "root" else folder) == folder


def test_accepts_a_renamed_folder_holding_the_files(tmp_path):
    folder = tiny_copy(tmp_path / "src")
    renamed = folder.rename(tmp_path / "my-cifar")
    assert find_dataset(renamed) == renamed


def test_finds_cifar10_dir_from_the_environment(cifar_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(cifar_dir))
    assert find_dataset() == cifar_dir / DATASET_FOLDER


def test_finds_the_cache(cache_root):
    folder = tiny_copy(cache_root)
    assert find_dataset() == folder


def test_cache_dir_argument_overrides_the_environment(tmp_path):
    folder = tiny_copy(tmp_path / "other")
    assert find_dataset(cache_dir=tmp_path / "other") == folder


@pytest.mark.parametrize("subfolder", ["", "cifar-10-batches-py-target"])
def test_finds_the_keras_cache(tmp_path, subfolder):
    # Keras 2 extracts into datasets/, Keras 3 into datasets/cifar-10-batches-py-target/.
    folder = tiny_copy(tmp_path / "keras-home" / "datasets" / subfolder)
    assert find_dataset() == folder


def test_precedence_is_data_dir_then_environment_then_cache_then_keras(
        tmp_path, cache_root, monkeypatch):
    copies = {name: tiny_copy(tmp_path / name) for name in ("given", "env")}
    cached = tiny_copy(cache_root)
    keras = tiny_copy(tmp_path / "keras-home" / "datasets")
    assert find_dataset() == cached
    monkeypatch.setenv("CIFAR10_DIR", str(copies["env"]))
    assert find_dataset() == copies["env"]
    assert find_dataset(copies["given"]) == copies["given"]
    assert [source for source, _ in candidate_dirs(copies["given"])] == [
        "data_dir", "cache", "keras", "keras"]
    assert candidate_dirs()[0] == ("CIFAR10_DIR", copies["env"])
    assert keras in [folder for _, folder in candidate_dirs()]


@pytest.mark.parametrize("from_env", [False, True])
def test_a_wrong_explicit_path_is_an_error_even_with_a_cached_copy(
        tmp_path, cache_root, monkeypatch, from_env):
    tiny_copy(cache_root)
    wrong = tmp_path / "no-such-folder"
    if from_env:
        monkeypatch.setenv("CIFAR10_DIR", str(wrong))
    with pytest.raises(DatasetNotFound, match="does not exist") as caught:
        find_dataset(None if from_env else wrong)
    assert str(wrong) in str(caught.value)
    assert ("CIFAR10_DIR" if from_env else "data_dir") in str(caught.value)


def test_not_found_lists_every_place_and_the_fixes(tmp_path, cache_root):
    with pytest.raises(DatasetNotFound) as caught:
        find_dataset()
    message = str(caught.value)
    for _, folder in candidate_dirs():
        assert str(folder) in message
    assert "python -m cifar_tf data download" in message
    assert "CIFAR10_DIR" in message and "--data-dir" in message
    assert isinstance(caught.value, FileNotFoundError)


def test_an_incomplete_copy_says_which_files_are_missing(broken_copy):
    (broken_copy / "test_batch").unlink()
    (broken_copy / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFound, match="missing data_batch_3, test_batch"):
        find_dataset(broken_copy)


# --------------------------------------------------------------------------- reading

def test_load_cifar10_shapes_types_and_names(cifar_dir):
    data = load_cifar10(cifar_dir)
    assert data.x_train.shape == (500, 32, 32, 3) and data.x_train.dtype == np.uint8
    assert data.y_train.shape == (500,) and data.y_train.dtype == np.int64
    assert data.x_test.shape == (100, 32, 32, 3) and data.y_test.shape == (100,)
    assert data.class_names == CLASS_NAMES
    assert data.path == (cifar_dir / DATASET_FOLDER).resolve()
    assert set(np.unique(data.y_train)) == set(range(10))


def test_load_batch_puts_colour_channels_last(tmp_path):
    # Each row holds the red plane, then green, then blue.
    row = np.repeat(np.array([10, 20, 30], np.uint8), 1024)
    write_pickle(tmp_path / "batch", {b"data": row[None], b"labels": [7]})
    images, labels = load_batch(tmp_path / "batch")
    assert images.shape == (1, 32, 32, 3)
    assert (images[0] == [10, 20, 30]).all() and labels.tolist() == [7]


def test_load_meta(cifar_dir):
    assert load_meta(cifar_dir / DATASET_FOLDER) == list(CLASS_NAMES)


def test_second_load_is_cached_until_a_file_changes(broken_copy):
    first = load_cifar10(broken_copy)
    assert load_cifar10(broken_copy.parent) is first
    assert not first.x_train.flags.writeable  # shared between callers: nobody may edit it
    stat = (broken_copy / "test_batch").stat()
    os.utime(broken_copy / "test_batch", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert load_cifar10(broken_copy) is not first


def test_truncated_file_names_the_file(broken_copy):
    path = broken_copy / "data_batch_2"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CorruptDataset, match="truncated") as caught:
        load_cifar10(broken_copy)
    assert "data_batch_2" in str(caught.value)


def test_a_file_that_is_not_a_pickle(broken_copy):
    (broken_copy / "test_batch").write_text("<html>Not found</html>")
    with pytest.raises(CorruptDataset, match="test_batch.*not a valid pickle"):
        load_batch(broken_copy / "test_batch")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_malicious_pickle_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    write_pickle(tmp_path / "batch", {b"data": _Exploit(marker), b"labels": []})
    with pytest.raises(CorruptDataset, match="refusing to load `(posix|nt).system`"):
        load_batch(tmp_path / "batch")
    assert not marker.exists()


@pytest.mark.parametrize("content, problem", [
    ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"shape \(N, 3072\)"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "float32"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "labels should be 0 to 9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [-1, 0]}, "labels should be 0 to 9"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 images but 1 labels"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}, "not a list of integers"),
    ({b"labels": [0]}, "no 'data' entry"),
    ([1, 2, 3], "expected a dict"),
])
def test_wrong_content_is_explained(tmp_path, content, problem):
    write_pickle(tmp_path / "batch", content)
    with pytest.raises(CorruptDataset, match=problem):
        load_batch(tmp_path / "batch")


def test_a_bad_meta_file(broken_copy):
    write_pickle(broken_copy / "batches.meta", {b"label_names": [b"cat"]})
    with pytest.raises(CorruptDataset, match="batches.meta.*list of 10 names"):
        load_cifar10(broken_copy)


# --------------------------------------------------------------------------- splitting

def labelled(n_per_class=50):
    y = np.repeat(np.arange(10), n_per_class)
    return np.arange(len(y)), y  # x are the indices, so a test can see which images went where


def test_split_train_val_is_stratified_disjoint_and_seeded():
    x, y = labelled()
    x_train, y_train, x_val, y_val = split_train_val(x, y, val_size=100, seed=3)
    assert np.bincount(y_val).tolist() == [10] * 10
    assert np.bincount(y_train).tolist() == [40] * 10
    assert sorted(np.concatenate([x_train, x_val]).tolist()) == x.tolist()
    assert (y[x_val] == y_val).all()
    assert (split_train_val(x, y, val_size=100, seed=3)[2] == x_val).all()
    assert not (split_train_val(x, y, val_size=100, seed=4)[2] == x_val).all()


def test_split_train_val_on_images(cifar_dir):
    data = load_cifar10(cifar_dir)
    x_train, y_train, x_val, y_val = split_train_val(data.x_train, data.y_train, val_size=50)
    assert x_train.shape == (450, 32, 32, 3) and x_val.shape == (50, 32, 32, 3)
    assert np.bincount(y_val).tolist() == [5] * 10


def test_split_without_validation():
    x, y = labelled()
    x_train, y_train, x_val, y_val = split_train_val(x, y, val_size=0)
    assert len(x_train) == 500 and x_val.shape == (0,) and y_val.shape == (0,)


def test_a_split_too_small_to_stratify_still_works():
    x, y = labelled()
    assert len(split_train_val(x, y, val_size=3)[2]) == 3


@pytest.mark.parametrize("val_size", [-1, 500, 2.5, "many", True])
def test_split_rejects_a_bad_val_size(val_size):
    x, y = labelled()
    with pytest.raises(InvalidArgument, match="val_size"):
        split_train_val(x, y, val_size=val_size)


def test_split_rejects_mismatched_lengths():
    x, y = labelled()
    with pytest.raises(InvalidArgument, match="one label per image"):
        split_train_val(x, y[:-1])


def test_stratified_subset_is_balanced():
    x, y = labelled()
    x_small, y_small = stratified_subset(x, y, 60, seed=1)
    assert np.bincount(y_small).tolist() == [6] * 10
    assert (y[x_small] == y_small).all() and len(set(x_small.tolist())) == 60
    assert len(stratified_subset(x, y, 10_000)[0]) == 500
    assert len(stratified_subset(x, y, 0)[0]) == 0
    with pytest.raises(InvalidArgument, match="n=-5"):
        stratified_subset(x, y, -5)


# --------------------------------------------------------------------------- info

def test_dataset_info(cifar_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(cifar_dir))
    info = dataset_info()
    assert json.loads(json.dumps(info)) == info
    assert info["path"] == str(cifar_dir / DATASET_FOLDER) and info["source"] == "CIFAR10_DIR"
    assert info["train_size"] == 500 and info["test_size"] == 100
    assert info["train_counts"] == {name: 50 for name in CLASS_NAMES}
    assert info["test_counts"] == {name: 10 for name in CLASS_NAMES}
    assert info["bytes_on_disk"] == sum(
        (cifar_dir / DATASET_FOLDER / name).stat().st_size for name in REQUIRED_FILES)


def test_dataset_info_from_the_cache(cache_root):
    tiny_copy(cache_root)
    assert dataset_info()["source"] == "cache"
