"""Test-time augmentation (TTA), the lab's one recipe: airbench94's views, each named.

A prediction with TTA scores every image several times, as it is and transformed, and takes the
weighted mean of the scores. The views are airbench94's (Keller Jordan, legacy/airbench94.py,
`tta_level=2`): the image and its mirror, then both again with the picture moved one pixel down and
right, and one pixel up and left (the edge filled by reflection); the unshifted pair weighs twice a
shifted view. The first one, two or six views are airbench's levels 0, 1 and 2 (their weights
renormalised over the views taken). Predict, the runs' test scores and the benchmark all use it.

The scores averaged are log-probabilities: for a model that ends with a softmax they are its logits
less one constant per image, which the final softmax cancels, so the mean is airbench's mean of
logits for any model that returns probabilities. Keras is imported inside the functions that need it.
"""
import threading
import weakref
from dataclasses import dataclass

import numpy as np

BATCH_SIZE = 500   # images per compiled call: six views of 500 images is one 3,000-image batch


@dataclass(frozen=True)
class View:
    name: str
    weight: float
    shift: int = 0       # pixels the picture moves down and right (negative: up and left), reflect-filled
    flip: bool = False   # then mirrored left to right


VIEWS = (
    View("identity", 0.25),
    View("flip", 0.25, flip=True),
    View("shift down-right", 0.125, shift=1),
    View("shift down-right, flip", 0.125, shift=1, flip=True),
    View("shift up-left", 0.125, shift=-1),
    View("shift up-left, flip", 0.125, shift=-1, flip=True),
)
PLAIN = VIEWS[:1]   # no augmentation: the image alone


def describe(views=VIEWS):
    """What a prediction averaged, in words: "6 views averaged: identity ×0.25, flip ×0.25, ..."."""
    weights = _weights(views)
    if len(views) == 1:
        return "one view (no test-time augmentation)"
    return f"{len(views)} views averaged: " + ", ".join(f"{v.name} ×{w:g}" for v, w in zip(views, weights))


def make_views(images, views=VIEWS):
    """The views of images (N, H, W, C), stacked on a new first axis: (len(views), N, H, W, C) float32."""
    from keras import ops

    images = ops.cast(images, "float32")
    height, width = images.shape[1], images.shape[2]
    padded = ops.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
    made = []
    for view in views:
        start = 1 - view.shift   # the window moves up-left for the picture to move down-right
        out = images if view.shift == 0 else padded[:, start:start + height, start:start + width]
        made.append(ops.flip(out, axis=2) if view.flip else out)
    return ops.stack(made)


def view_scores(model, images, views=VIEWS, *, batch_size=BATCH_SIZE):
    """Log-probabilities of `model` for each view of uint8 images (N, 32, 32, 3): (views, N, classes),
    in the order of `views`. The views are made and scored in one compiled function per batch, on the
    device the model is on; the function is kept with the model, so a page's next prediction reuses it."""
    from keras import ops

    score = _compiled_scores(model, tuple(views))
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])
    images = np.asarray(images)
    out = [ops.convert_to_numpy(score(*state, images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    return np.concatenate(out, axis=1) if out else np.empty((len(views), 0, model.output_shape[-1]), np.float32)


def average(scores, views=VIEWS):
    """The weighted mean over the views of `scores` (views, N, classes)."""
    return np.tensordot(_weights(views), scores, axes=1)


def predict_proba(model, images, views=VIEWS, *, batch_size=BATCH_SIZE):
    """Class probabilities (N, classes) float32 of uint8 images, averaged over `views`."""
    from scipy.special import softmax

    scores = average(view_scores(model, images, views, batch_size=batch_size), views)
    return softmax(scores, axis=1).astype(np.float32)


def _weights(views):
    weights = np.array([view.weight for view in views], np.float32)
    return weights / weights.sum()


_COMPILED = weakref.WeakKeyDictionary()   # model -> {views: its compiled scoring function}
_COMPILED_LOCK = threading.Lock()


def _compiled_scores(model, views):
    from keras import ops

    from ..data.augment import compiled

    def scores(trainable, non_trainable, batch):
        stacked = make_views(batch, views)
        flat = ops.reshape(stacked, (-1, *stacked.shape[2:]))
        probabilities, _ = model.stateless_call(trainable, non_trainable, flat, training=False)
        # float32 softmax outputs reach 0 only far beyond any real model's confidence
        logs = ops.log(ops.maximum(ops.cast(probabilities, "float32"), 1e-30))
        return ops.reshape(logs, (len(views), ops.shape(batch)[0], -1))

    with _COMPILED_LOCK:
        per_model = _COMPILED.setdefault(model, {})
        if views not in per_model:
            # Under TensorFlow without XLA: TensorFlow's own convolutions, XLA's are slower on a CPU.
            per_model[views] = compiled(scores, xla=False)
        return per_model[views]
