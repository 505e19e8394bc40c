"""The PyTorch airbench94 reference (cifar_tf.bench.airbench94): its loader, and that the package
imports without torch. Its tiny CPU run end to end is the GPU check's anchor section
(tests/unit/test_gpu_check.py), which checks every key of its result."""
import pickle
import subprocess
import sys

import numpy as np

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
