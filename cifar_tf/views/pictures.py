"""Pictures for people: the tiny 32x32 images blown up so that every pixel shows, with captions."""
import numpy as np
from PIL import Image

from ..validation import check_int


def enlarge(image_uint8, size=96):
    """A PIL image of the small `image_uint8` scaled to `size` pixels wide, blocky (NEAREST)
    so that the pixels the model sees stay visible."""
    size = check_int("size", size, low=1)
    image = Image.fromarray(np.asarray(image_uint8, dtype=np.uint8))
    height = max(1, round(size * image.height / image.width))
    return image.resize((size, height), Image.Resampling.NEAREST)
