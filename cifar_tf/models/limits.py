"""The limits of every number a builder takes: the builders check against them, `TrainConfig`
reads its dropout here, and the Train page's architecture boxes offer exactly these bounds
(`limit(arch, name)`). One table, so a bound typed twice cannot drift."""
from ..validation import Limit

DROPOUT = Limit(float, 0.0, 0.9)       # above 0.9 a layer passes almost nothing on
L2 = Limit(float, 0.0, 1.0)
FILTERS = Limit(int, 1, 512)           # the first block's width; later blocks double it
DENSE_UNITS = Limit(int, 1, 4096)
WIDTH = Limit(int, 1, 256)             # the ResNet family's first stage
LAYER_WIDTH = Limit(int, 1, 1024)      # one layer's own width (report 001's convs, airbench's whitening)
IMAGE_SIZE = Limit(int, 32, 512)       # what a keras.applications base is fed, upsampled from 32 px

SHARED = {"dropout": DROPOUT, "l2": L2, "filters": FILTERS, "dense_units": DENSE_UNITS, "width": WIDTH,
          "image_size": IMAGE_SIZE}
# A limit only one builder has, by architecture.
OWN = {
    "simple_cnn": {"filters1": LAYER_WIDTH, "filters2": LAYER_WIDTH, "filters3": LAYER_WIDTH},
    "hyper_cnn": {"filters1": LAYER_WIDTH, "filters2": LAYER_WIDTH},
    "deep_cnn": {"blocks": Limit(int, 1, 5)},          # 32 px halves 5 times down to 1 px
    "resnet_style": {"depth": Limit(int, 1, 5)},       # the report searched 3-5
    "concat_cnn": {"blocks": Limit(int, 1, 3),         # 16 px after the stem pool: 3 halvings
                   "pairs": Limit(int, 1, 6),
                   "dense_units": None},                # two widths, each checked as DENSE_UNITS
    "fast_cnn": {"whiten_width": LAYER_WIDTH},
    "resnet20": {"blocks_per_stage": Limit(int, 1, 30)},
    "vgg16": {"dense_units": DENSE_UNITS._replace(low=0)},   # 0: straight to the classes
    "vgg19": {"dense_units": DENSE_UNITS._replace(low=0)},
}


def limit(arch, name):
    """The Limit of `arch`'s hyperparameter `name`, or None where it is not a single number."""
    own = OWN.get(arch, {})
    return own[name] if name in own else SHARED.get(name)
