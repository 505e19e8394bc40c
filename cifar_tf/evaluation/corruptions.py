"""Common corruptions of CIFAR-10 images, made here from the test images, at five severities.

The corruptions and their parameters follow CIFAR-10-C (Hendrycks & Dietterich 2019, "Benchmarking
Neural Network Robustness to Common Corruptions and Perturbations", `make_cifar_c.py`), written with
NumPy, Pillow and scipy.ndimage instead of scikit-image, OpenCV and ImageMagick: no download, no
extra dependency. Each takes uint8 images (N, 32, 32, 3), or one (32, 32, 3), and gives the same
shape and dtype back. Random ones (noise, fog) draw from a generator seeded by `seed`, the
corruption and the severity, so the same call always makes the same images.
"""
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..validation import InvalidArgument, check_int

SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Corruption:
    name: str
    label: str
    levels: tuple           # the parameter at severities 1 to 5
    function: object        # (images float in [0, 1] of shape (N, 32, 32, 3), level, rng) → same
    description: str


def _gaussian_noise(x, sigma, rng):
    return x + rng.normal(scale=sigma, size=x.shape)


def _gaussian_blur(x, sigma, rng):
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="nearest", truncate=4.0)


def _jpeg(x, quality, rng):
    out = np.empty_like(x)
    for i, image in enumerate(_to_uint8(x)):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        out[i] = np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float64) / 255
    return out


def _contrast(x, factor, rng):
    means = x.mean(axis=(1, 2), keepdims=True)
    return (x - means) * factor + means


def _brightness(x, shift, rng):
    # CIFAR-10-C adds `shift` to the value (V) of HSV. V is the largest channel, and scaling a
    # pixel's three channels by one factor keeps its hue and saturation: so scale to V + shift.
    value = x.max(axis=-1, keepdims=True)
    brighter = np.minimum(value + shift, 1.0)
    scaled = x * np.divide(brighter, value, out=np.zeros_like(value), where=value > 0)
    return np.where(value > 0, scaled, brighter)   # black (no hue) turns grey


def _pixelate(x, factor, rng):
    small = int(32 * factor)
    out = np.empty_like(x)
    for i, image in enumerate(_to_uint8(x)):
        picture = Image.fromarray(image).resize((small, small), Image.Resampling.BOX)
        out[i] = np.asarray(picture.resize((32, 32), Image.Resampling.BOX), dtype=np.float64) / 255
    return out


def _fog(x, level, rng):
    strength, decay = level
    brightest = x.max(axis=(1, 2, 3), keepdims=True)
    haze = plasma_fractal(len(x), rng, decay=decay)[..., None]
    return (x + strength * haze) * brightest / (brightest + strength)


def plasma_fractal(count, rng, size=32, decay=3.0):
    """`count` cloud-like height maps (count, size, size) in [0, 1], by the diamond-square method
    CIFAR-10-C's fog uses: detail added at every scale, less at each finer one (`decay`)."""
    maps = np.zeros((count, size, size))
    step, wibble = size, 100.0

    def wibbled(mean):
        return mean / 4 + wibble * rng.uniform(-wibble, wibble, mean.shape)

    while step >= 2:
        half = step // 2
        corners = maps[:, 0:size:step, 0:size:step]     # squares: each centre from its four corners
        total = corners + np.roll(corners, -1, axis=1)
        total += np.roll(total, -1, axis=2)
        maps[:, half:size:step, half:size:step] = wibbled(total)
        centres = maps[:, half:size:step, half:size:step]  # diamonds: each edge midpoint from four
        corners = maps[:, 0:size:step, 0:size:step]
        maps[:, 0:size:step, half:size:step] = wibbled(centres + np.roll(centres, 1, axis=1)
                                                       + corners + np.roll(corners, -1, axis=2))
        maps[:, half:size:step, 0:size:step] = wibbled(centres + np.roll(centres, 1, axis=2)
                                                       + corners + np.roll(corners, -1, axis=1))
        step //= 2
        wibble /= decay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / np.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-12)


CORRUPTIONS = {c.name: c for c in (
    Corruption("gaussian_noise", "Gaussian noise", (0.04, 0.06, 0.08, 0.09, 0.10), _gaussian_noise,
               "random noise added to every pixel (standard deviation 4 % to 10 % of the range), as a "
               "dark photo's grain"),
    Corruption("gaussian_blur", "Blur", (0.4, 0.6, 0.7, 0.8, 1.0), _gaussian_blur,
               "a Gaussian blur of 0.4 to 1 pixel, as a photo out of focus"),
    Corruption("jpeg", "JPEG", (80, 65, 58, 50, 40), _jpeg,
               "saved as JPEG at quality 80 down to 40: blocky 8×8 artefacts"),
    Corruption("contrast", "Contrast", (0.75, 0.5, 0.4, 0.3, 0.15), _contrast,
               "colours pulled towards the image's mean, to 75 % down to 15 % of their contrast"),
    Corruption("brightness", "Brightness", (0.05, 0.1, 0.15, 0.2, 0.3), _brightness,
               "brighter by 5 % to 30 % (HSV value), as an over-exposed photo"),
    Corruption("pixelate", "Pixelate", (0.95, 0.9, 0.85, 0.75, 0.65), _pixelate,
               "shrunk to 95 % down to 65 % of its size and blown up again"),
    Corruption("fog", "Fog", ((0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)), _fog,
               "a cloud-like haze laid over the picture, thicker at each severity"),
)}


def _to_uint8(x):
    return np.clip(np.rint(np.asarray(x) * 255), 0, 255).astype(np.uint8)


def check_corruption(name):
    if name not in CORRUPTIONS:
        raise InvalidArgument("corruption", name, "one of " + ", ".join(CORRUPTIONS))
    return name


def corrupt(images, name, severity, *, seed=0):
    """`images` (uint8, (N, 32, 32, 3) or one (32, 32, 3)) corrupted by `name` at `severity` 1-5."""
    corruption = CORRUPTIONS[check_corruption(name)]
    severity = check_int("severity", severity, low=1, high=len(SEVERITIES))
    images = np.asarray(images)
    single = images.ndim == 3
    batch = images[None] if single else images
    if batch.ndim != 4 or batch.shape[1:] != (32, 32, 3) or batch.dtype != np.uint8:
        raise ValueError(f"images must be uint8 of shape (N, 32, 32, 3), got {images.dtype} of shape {images.shape}")
    if not len(batch):
        return images.copy()
    # One generator per corruption and severity, whichever others are asked for with it.
    rng = np.random.default_rng([check_int("seed", seed, low=0), list(CORRUPTIONS).index(name), severity])
    out = _to_uint8(np.clip(corruption.function(batch / 255.0, corruption.levels[severity - 1], rng), 0, 1))
    return out[0] if single else out


def severity_strip(image, name, *, seed=0):
    """One image (32, 32, 3) clean and at each severity: a list of six uint8 images."""
    return [np.asarray(image, dtype=np.uint8)] + [corrupt(image, name, s, seed=seed) for s in SEVERITIES]


def parse_severities(text):
    """"3" → (3,); "1-5" → (1, 2, 3, 4, 5); "1,3,5" → (1, 3, 5). Severities are 1 to 5."""
    chosen = set()
    for part in str(text).replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        try:
            low, high = int(low), int(high if dash else low)
        except ValueError:
            raise InvalidArgument("severity", text, "a severity 1-5, a range such as 1-5, or a list such as 1,3,5") from None
        if not 1 <= low <= high <= len(SEVERITIES):
            raise InvalidArgument("severity", text, "severities from 1 to 5, the lower first")
        chosen.update(range(low, high + 1))
    return tuple(sorted(chosen))
