"""Turn anything Pillow opens into the 32x32 RGB image a CIFAR-10 model sees.

`open_image` reads a path, bytes or an uploaded file into an upright RGB image of at most
`WORKING_SIDE` pixels a side; `to_model_input` crops it to a centred square and shrinks it to the
model's input size. Every way an upload can be unusable (not an image, truncated, too big, a
decompression bomb...) raises `UnusableImage` with a one-line message that the app can show as it is.

A big image is shrunk as early as its format allows (a JPEG while it is decoded, at 1/2 to 1/8 of
its size; others right after), so that converting it costs little: a 6320x6320 16-bit PNG took
1.6 s and 580 MB made whole, 0.3 s shrunk first. `load_for_model` keeps its last few results by
the bytes' hash, so that a page rerun does not decode the same upload again.

Only Pillow and numpy are used, so the app can check uploads without importing TensorFlow.
"""
import hashlib
import io
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..validation import check_int

MAX_FILE_BYTES = 25 * 2**20
MAX_PIXELS = 40_000_000
# The most pixels a side that an opened image keeps: more than a page shows it with, and more than
# the 224-pixel square Grad-CAM draws on.
WORKING_SIDE = 1024
DECODED_CACHE_SIZE = 16   # images kept decoded (each at most WORKING_SIDE squared: 3 MB)

# Modes that carry an alpha channel: they are flattened onto white, the usual page background.
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


class UnusableImage(ValueError):
    """The source cannot be turned into an image: the message says why, in plain words."""


def open_image(source):
    """Open a path, bytes or binary file-like as an upright RGB `PIL.Image.Image` of at most
    `WORKING_SIDE` pixels a side; `info["original_size"]` is its size before it was shrunk.

    EXIF orientation is applied, transparency is flattened onto white, 16-bit and float images
    are scaled to 0-255 and animations give their first frame. Raises `UnusableImage`.
    """
    return _open_bytes(_read_bytes(source))


def _open_bytes(data):
    try:
        with Image.open(io.BytesIO(data)) as image:
            # The header gives the size: refuse huge images before their pixels are decoded.
            _check_pixel_count(image.size)
            original_size = image.size
            image = _shrunk(image, WORKING_SIDE)
            shrunk_size = image.size
            ImageOps.exif_transpose(image, in_place=True)
            upright = _to_rgb(image)
            # Turned a quarter by its EXIF orientation, its original size turns with it.
            upright.info["original_size"] = original_size if image.size == shrunk_size else original_size[::-1]
            return upright
    except UnusableImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own check, run inside Image.open; the warning arrives here only where warnings
        # are errors, and every image it warns about is also over MAX_PIXELS, refused just above.
        raise UnusableImage(f"image is too large: Pillow refused it as a possible decompression "
                            f"bomb, limit {MAX_PIXELS:,} pixels") from exc
    except UnidentifiedImageError as exc:
        raise UnusableImage("not an image file this lab can read (try PNG, JPEG, GIF, BMP or WebP)") from exc
    except Exception as exc:  # plugins raise OSError, SyntaxError, EOFError, struct.error...
        raise UnusableImage(_describe_decoding_error(exc)) from exc


def to_model_input(image, size=32):
    """Crop `image` to a centred square and resize it to a `(size, size, 3)` uint8 array."""
    size = check_int("size", size, low=1)
    if image.mode != "RGB":
        image = _to_rgb(image)
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    # LANCZOS antialiases when shrinking; reducing_gap first box-reduces big photos, which is
    # much faster and, at 3.0, indistinguishable from resampling the full image.
    resized = image.resize((size, size), Image.Resampling.LANCZOS,
                           box=(left, top, left + side, top + side), reducing_gap=3.0)
    return np.array(resized, dtype=np.uint8)


_DECODED = OrderedDict()   # sha256 of an image's bytes -> (image, model input) or its UnusableImage
_DECODED_LOCK = threading.Lock()   # pages of several sessions run in threads of one server


def load_for_model(source):
    """Return `(rgb_image, model_input)`: the image to show and the array to predict on. The
    same bytes seen again (a page rerun) give the same objects back: callers must not change them."""
    data = _read_bytes(source)
    key = hashlib.sha256(data).digest()
    with _DECODED_LOCK:
        found = _DECODED.get(key)
        if found is not None:
            _DECODED.move_to_end(key)
    if found is None:
        try:
            image = _open_bytes(data)
            found = image, to_model_input(image)
        except UnusableImage as error:
            found = error   # kept too: a bomb or a broken file is not decoded again either
        with _DECODED_LOCK:
            _DECODED[key] = found
            while len(_DECODED) > DECODED_CACHE_SIZE:
                _DECODED.popitem(last=False)
    if isinstance(found, UnusableImage):
        raise UnusableImage(str(found))
    return found


def _read_bytes(source):
    """The source's bytes, refusing empty and over-large files before anything is decoded."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "getvalue"):
        # BytesIO and Streamlit's UploadedFile: the whole upload, wherever the cursor was left.
        data = bytes(source.getvalue())
    elif hasattr(source, "read"):
        data = _read_at_most_limit(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            _check_file_size(os.path.getsize(source))
            with open(source, "rb") as file:
                data = _read_at_most_limit(file)
        except OSError as exc:
            raise UnusableImage(f"cannot read the file: {exc.strerror or exc}") from exc
    else:
        raise TypeError(f"expected a path, bytes or a binary file-like object, "
                        f"got {type(source).__name__}")
    _check_file_size(len(data))
    if not data:
        raise UnusableImage("empty file")
    return data


def _read_at_most_limit(file):
    # One byte more than the limit is enough to know a stream is too large.
    data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise UnusableImage(f"file is too large: more than {_format_bytes(MAX_FILE_BYTES)}, "
                            f"limit {_format_bytes(MAX_FILE_BYTES)}")
    return data


def _check_file_size(size):
    if size > MAX_FILE_BYTES:
        raise UnusableImage(f"file is too large: {_format_bytes(size)}, "
                            f"limit {_format_bytes(MAX_FILE_BYTES)}")


def _check_pixel_count(size):
    width, height = size
    if width * height > MAX_PIXELS:
        raise UnusableImage(f"image is too large: {width}x{height} pixels, limit {MAX_PIXELS:,}")


def _format_bytes(size):
    for unit, scale in (("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def _describe_decoding_error(exc):
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, EOFError) or "truncated" in text.lower():
        return "truncated image data"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode the image"
    return f"the image data could not be decoded: {text}"


def _shrunk(image, side):
    """`image` (opened, not yet loaded) decoded at most `side` pixels a side, its aspect kept:
    a JPEG is decoded at a fraction of its size (draft), any other format shrunk once loaded,
    before anything converts all its pixels."""
    scale = side / max(image.size)
    if scale >= 1:
        return image
    target = tuple(max(1, round(length * scale)) for length in image.size)
    image.draft(None, target)   # JPEG only: the smallest DCT scale (1/2 to 1/8) still as large as `target`
    image.load()
    if image.mode in ("1", "P"):
        image = _to_rgb(image)   # Pillow resizes these by nearest pixel only: made RGB, they are averaged
    # BOX averages each block of pixels: right for shrinking many times, and it handles every
    # mode (thumbnail's faster reduce step has no 16-bit modes).
    image.thumbnail(target, Image.Resampling.BOX, reducing_gap=None)
    return image


def _to_rgb(image):
    """Convert a loaded image of any mode to RGB, flattening transparency onto white."""
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        image = _to_8_bit(image)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        # Converting to RGBA also turns a palette's or a colour key's transparency into alpha.
        rgba = image.convert("RGBA")
        flattened = Image.new("RGB", rgba.size, "white")
        flattened.paste(rgba, mask=rgba.getchannel("A"))
        return flattened
    return image.convert("RGB")


def _to_8_bit(image):
    """Scale a 16-bit, 32-bit integer or float greyscale image to an 8-bit "L" image."""
    values = np.asarray(image, dtype=np.float32)
    if image.mode.startswith("I;16"):
        values = values / 257  # maps 0-65535 exactly onto 0-255
    else:
        # 32-bit and float images have no fixed white point: stretch their actual range.
        finite = values[np.isfinite(values)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
        if high > low:
            values = (values - low) * (255 / (high - low))
        values = np.nan_to_num(values, nan=0.0, posinf=255.0, neginf=0.0)
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


@dataclass
class Upload:
    """One uploaded image: what to show, what the model sees, or why it cannot be used."""
    name: str
    image: object = None          # upright RGB PIL image
    model_input: object = None    # uint8 (32, 32, 3)
    error: str = None

    @property
    def original_size(self):
        """`(width, height)` of the image as uploaded, before it was shrunk to open."""
        return self.image.info.get("original_size", self.image.size)


def read_uploads(files, *, names=None):
    """An `Upload` per file (Streamlit UploadedFile, bytes, file-like); a file that is not a
    usable image gets its `error` message and does not stop the others."""
    uploads = []
    for i, file in enumerate(files):
        name = (names[i] if names else None) or getattr(file, "name", None) or f"image {i + 1}"
        try:
            image, pixels = load_for_model(file)
        except UnusableImage as error:
            uploads.append(Upload(str(name), error=str(error)))
        else:
            uploads.append(Upload(str(name), image, pixels))
    return uploads
