import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from cifar_tf.data import images
from cifar_tf.data.images import UnusableImage, load_for_model, open_image, to_model_input

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def _save(image, path, **params):
    image.save(path, **params)
    return path


def _half_red_half_blue(width=64, height=32):
    """Left half red, right half blue: shows which way an image was turned."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 2, height))
    return image


def _png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _png_claiming_size(width, height):
    """A 1x1 PNG whose header says width x height: what a decompression bomb looks like."""
    data = bytearray(_png_bytes(Image.new("L", (1, 1))))
    # IHDR follows the 8-byte signature: length (4), b"IHDR" (4), width and height (4 each)...,
    # then a CRC of type and data that Pillow checks.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _assert_close(pixel, expected, tolerance=3):
    assert np.abs(np.asarray(pixel, int) - np.asarray(expected, int)).max() <= tolerance, pixel


# --- images that must open --------------------------------------------------------------------

def test_rgb_png_opens_unchanged(tmp_path):
    original = _half_red_half_blue()
    image = open_image(_save(original, tmp_path / "rgb.png"))
    assert image.mode == "RGB" and image.size == (64, 32)
    assert np.array_equal(np.asarray(image), np.asarray(original))


def test_rgba_transparency_is_flattened_onto_white(tmp_path):
    original = Image.new("RGBA", (8, 8), (255, 0, 0, 255))
    original.paste((0, 0, 255, 0), (0, 0, 4, 8))  # left half fully transparent
    original.paste((0, 0, 0, 128), (4, 0, 8, 2))  # half-transparent black: mid grey on white
    image = open_image(_save(original, tmp_path / "rgba.png"))
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == WHITE
    assert image.getpixel((7, 7)) == RED
    _assert_close(image.getpixel((6, 0)), (127, 127, 127))


def test_greyscale_with_and_without_alpha(tmp_path):
    grey = open_image(_save(Image.new("L", (4, 4), 90), tmp_path / "l.png"))
    assert grey.mode == "RGB" and grey.getpixel((0, 0)) == (90, 90, 90)

    with_alpha = Image.new("LA", (4, 4), (90, 255))
    with_alpha.paste((0, 0), (0, 0, 2, 4))
    image = open_image(_save(with_alpha, tmp_path / "la.png"))
    assert image.getpixel((0, 0)) == WHITE and image.getpixel((3, 0)) == (90, 90, 90)


def test_palette_with_transparent_index(tmp_path):
    palette_image = Image.new("P", (4, 4), 1)
    palette_image.putpalette([0, 0, 0, *RED] + [0] * (254 * 3))
    palette_image.paste(0, (0, 0, 2, 4))
    image = open_image(_save(palette_image, tmp_path / "p.png", transparency=0))
    assert image.getpixel((0, 0)) == WHITE and image.getpixel((3, 3)) == RED


def test_cmyk_jpeg(tmp_path):
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta + yellow: red
    image = open_image(_save(cmyk, tmp_path / "cmyk.jpg", quality=95))
    assert image.mode == "RGB"
    _assert_close(image.getpixel((8, 8)), RED, tolerance=8)


def test_16_bit_png_is_scaled_to_the_full_8_bit_range(tmp_path):
    values = np.array([[0, 128 * 257, 65535, 65535]], np.uint16)
    sixteen_bit = Image.fromarray(values)
    assert sixteen_bit.mode == "I;16"
    image = open_image(_save(sixteen_bit, tmp_path / "16bit.png"))
    assert np.asarray(image)[0, :, 0].tolist() == [0, 128, 255, 255]


def test_float_image_is_stretched_over_its_range(tmp_path):
    values = np.array([[-1.0, 0.0, 1.0]], np.float32)
    image = open_image(_save(Image.fromarray(values), tmp_path / "float.tif"))
    assert np.asarray(image)[0, :, 0].tolist() == [0, 128, 255]


def test_one_bit_image(tmp_path):
    bilevel = Image.new("1", (4, 4), 0)
    bilevel.paste(1, (0, 0, 2, 4))
    image = open_image(_save(bilevel, tmp_path / "bilevel.png"))
    assert image.getpixel((0, 0)) == WHITE and image.getpixel((3, 0)) == (0, 0, 0)


@pytest.mark.parametrize("extension", ["gif", "webp"])
def test_animation_gives_its_first_frame(tmp_path, extension):
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, BLUE, (0, 255, 0))]
    path = _save(frames[0], tmp_path / f"animated.{extension}", save_all=True,
                 append_images=frames[1:], duration=100, loop=0, lossless=True)
    with Image.open(path) as check:
        assert check.n_frames == 3
    _assert_close(open_image(path).getpixel((4, 4)), RED)


@pytest.mark.parametrize("extension", ["bmp", "webp", "tiff", "jpg"])
def test_other_formats(tmp_path, extension):
    original = _half_red_half_blue()
    image = open_image(_save(original, tmp_path / f"image.{extension}"))
    assert image.size == original.size
    _assert_close(image.getpixel((2, 2)), RED, tolerance=10)
    _assert_close(image.getpixel((61, 29)), BLUE, tolerance=10)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned, show the image turned 90° clockwise
    path = _save(_half_red_half_blue(64, 32), tmp_path / "rotated.jpg", exif=exif, quality=95)
    image = open_image(path)
    assert image.size == (32, 64)
    _assert_close(image.getpixel((16, 4)), RED, tolerance=10)  # the left half is now on top
    _assert_close(image.getpixel((16, 59)), BLUE, tolerance=10)


def test_sources_can_be_bytes_or_file_like(tmp_path):
    data = _png_bytes(_half_red_half_blue())
    upload = io.BytesIO(data)
    upload.read()  # like an UploadedFile already read once: getvalue() still has it all
    for source in (data, bytearray(data), upload, io.BufferedReader(io.BytesIO(data))):
        assert open_image(source).size == (64, 32)


def test_wrong_source_type_is_a_type_error():
    with pytest.raises(TypeError, match="path, bytes or a binary file-like"):
        open_image(12)


# --- model input ------------------------------------------------------------------------------

def test_model_input_is_a_32x32_uint8_rgb_array():
    array = to_model_input(Image.new("RGB", (640, 480), RED))
    assert array.shape == (32, 32, 3) and array.dtype == np.uint8
    assert (array == RED).all()
    assert to_model_input(Image.new("L", (50, 50), 7), size=8).shape == (8, 8, 3)


def test_wide_image_is_centre_cropped():
    wide = Image.new("RGB", (1000, 10), BLUE)
    wide.paste(RED, (400, 0, 600, 10))  # the 10x10 centre square lies well inside the red part
    array = to_model_input(wide)
    assert (array == RED).all()


def test_tiny_image_is_scaled_up():
    array = to_model_input(Image.new("RGB", (1, 1), (10, 200, 30)))
    assert array.shape == (32, 32, 3) and (array == (10, 200, 30)).all()


def test_load_for_model(tmp_path):
    image, array = load_for_model(_save(_half_red_half_blue(), tmp_path / "x.png"))
    assert image.size == (64, 32) and array.shape == (32, 32, 3)
    assert np.array_equal(array, to_model_input(image))


def test_size_is_validated():
    with pytest.raises(ValueError, match="size"):
        to_model_input(Image.new("RGB", (4, 4)), size=0)


# --- unusable sources -------------------------------------------------------------------------

def _truncated_png():
    return _png_bytes(Image.effect_noise((64, 64), 50))[:100]


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (np.random.default_rng(0).bytes(2000), "not an image file this lab can read (try PNG, JPEG, GIF, BMP or WebP)"),
    (b"hello, this is text and not a picture\n" * 10, "not an image file this lab can read (try PNG, JPEG, GIF, BMP or WebP)"),
    (_truncated_png(), "truncated image data"),
    (_png_claiming_size(50_000, 50_000), "image is too large"),
    (_png_claiming_size(8000, 6000), "image is too large: 8000x6000 pixels, limit 40,000,000"),
])
def test_junk_raises_unusable_image(tmp_path, content, message):
    path = tmp_path / "junk.png"
    path.write_bytes(content)
    with pytest.raises(UnusableImage) as raised:
        open_image(path)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_pillow_bomb_warning_range_is_refused_even_when_warnings_are_errors():
    # 100 million pixels: above Pillow's warning threshold, below its error threshold.
    bomb = _png_claiming_size(10_000, 10_000)
    with pytest.warns(Image.DecompressionBombWarning):
        with pytest.raises(UnusableImage, match="10000x10000"):
            open_image(bomb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UnusableImage, match="image is too large"):
            open_image(bomb)


def test_files_over_the_size_limit_are_refused_before_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "big.png"
    path.write_bytes(b"\0" * 3 * 2**20)  # not even an image: the size is checked first
    with pytest.raises(UnusableImage, match="^file is too large: 3 MB, limit 1000 bytes$"):
        open_image(path)
    with pytest.raises(UnusableImage, match="^file is too large: 3 MB"):
        open_image(path.read_bytes())
    with pytest.raises(UnusableImage, match="^file is too large: more than 1000 bytes"):
        open_image(io.BufferedReader(io.BytesIO(path.read_bytes())))


def test_missing_file(tmp_path):
    with pytest.raises(UnusableImage, match="cannot read the file"):
        open_image(tmp_path / "missing.png")
