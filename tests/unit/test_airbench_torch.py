"""The PyTorch airbench94 reference (cifar_tf.bench.airbench94): one tiny CPU run end to end.

Skipped where torch is not installed; the package itself must import without it."""
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest

KEYS = {"train_seconds", "accuracy", "accuracy_no_tta", "compile_seconds", "epochs", "torch", "device"}


def _write_official(root, train=320, test=100, seed=0):
    """`root/cifar-10-batches-py/` in the official format: five training batches and a test batch,
    pickled dicts with b"data" (N, 3072) uint8, channel-major rows, and b"labels"."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    per = train // 5
    for name, n in [(f"data_batch_{b}", per) for b in range(1, 6)] + [("test_batch", test)]:
        batch = {b"batch_label": name.encode(), b"labels": [int(c) for c in rng.integers(0, 10, n)],
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"filenames": [b"%d.png" % i for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return root


def test_package_imports_without_torch():
    code = ("import sys, builtins\n"
            "real = builtins.__import__\n"
            "def guard(name, *a, **k):\n"
            "    if name == 'torch' or name.startswith('torch.'):\n"
            "        raise ImportError('torch blocked')\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = guard\n"
            "import cifar_tf.bench.airbench94.net as m\n"
            "assert m.hyp['opt']['batch_size'] == 1024 and 'torch' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_loader_reads_the_official_layout(tmp_path):
    from cifar_tf.bench.airbench94.net import load_cifar10_arrays

    root = _write_official(tmp_path, train=50, test=20)
    images, labels = load_cifar10_arrays(root, train=True)
    assert images.shape == (50, 3, 32, 32) and images.dtype == np.uint8 and labels.shape == (50,)
    with open(root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        first = pickle.load(f, encoding="bytes")
    np.testing.assert_array_equal(images[:10].reshape(10, -1), first[b"data"])
    images, labels = load_cifar10_arrays(root / "cifar-10-batches-py", train=False, limit=7)
    assert images.shape == (7, 3, 32, 32) and labels.dtype == np.int64


def test_one_epoch_cpu_run_reports_every_key(tmp_path):
    pytest.importorskip("torch")
    from cifar_tf.bench.airbench94 import run_airbench94

    root = _write_official(tmp_path)
    lines = []
    result = run_airbench94(root, runs=1, device="cpu", compile=True, epochs=1, batch_size=128,
                            log=lines.append)
    assert KEYS <= set(result)
    assert result["epochs"] == 1.0 and result["compiled"] is False and result["dtype"] == "float32"
    assert result["train_images"] == 320 and result["test_images"] == 100
    for key in ("train_seconds", "accuracy", "accuracy_no_tta", "tta_seconds", "total_seconds"):
        assert len(result[key]) == 1
    assert result["train_seconds"][0] > 0 and result["tta_seconds"][0] > 0
    assert math.isclose(result["total_seconds"][0], result["train_seconds"][0] + result["tta_seconds"][0])
    # Accuracies on 100 test images come in hundredths.
    for acc in result["accuracy"] + result["accuracy_no_tta"]:
        assert 0.0 <= acc <= 1.0 and math.isclose(acc * 100, round(acc * 100), abs_tol=1e-4)
    assert math.isfinite(result["compile_seconds"])
    assert result["torch"] and result["device"].startswith("cpu")
    # airbench's table: the warm-up run and the timed one, each with an epoch row and an eval row.
    assert any("warmup" in line for line in lines) and sum("eval" in line for line in lines) == 2
