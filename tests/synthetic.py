"""Small synthetic CIFAR-10 copies in the official "python version" layout.

Each class gets its own colour and stripe direction plus noise, so a tiny network learns it in
an epoch or two: tests can tell a model that learnt from one that did not.
"""
import pickle
from pathlib import Path

import numpy as np

LABEL_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer",
               b"dog", b"frog", b"horse", b"ship", b"truck"]


def synthetic_images(labels, seed=0):
    rng = np.random.default_rng(seed)
    n = len(labels)
    yy, xx = np.mgrid[0:32, 0:32]
    images = np.empty((n, 32, 32, 3), np.float32)
    palette = np.array([[230, 40, 40], [40, 230, 40], [40, 40, 230], [230, 230, 40], [230, 40, 230],
                        [40, 230, 230], [140, 70, 20], [250, 250, 250], [20, 20, 20], [128, 128, 128]],
                       np.float32)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        stripes = ((xx * (c % 3 + 1) + yy * (c // 3)) // 4) % 2
        images[idx] = palette[c] * (0.55 + 0.45 * stripes[..., None])
    images += rng.normal(0, 25, images.shape)
    return np.clip(images, 0, 255).astype(np.uint8)


def _batch(images, labels, name):
    data = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    return {b"batch_label": name.encode(), b"labels": [int(x) for x in labels], b"data": data,
            b"filenames": [f"img_{i:05d}.png".encode() for i in range(len(images))]}


def write_cifar10(root, per_batch=100, test_size=100, seed=0):
    """Write `root/cifar-10-batches-py/` with 5 training batches and a test batch; return root."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for b in range(1, 6):
        labels = rng.permutation(np.arange(per_batch) % 10)
        images = synthetic_images(labels, seed=seed + b)
        with open(folder / f"data_batch_{b}", "wb") as f:
            pickle.dump(_batch(images, labels, f"training batch {b} of 5"), f, protocol=2)
    labels = rng.permutation(np.arange(test_size) % 10)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(_batch(synthetic_images(labels, seed=seed + 99), labels, "testing batch 1 of 1"),
                    f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"num_cases_per_batch": per_batch, b"label_names": LABEL_NAMES, b"num_vis": 3072},
                    f, protocol=2)
    return Path(root)
