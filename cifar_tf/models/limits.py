"""The limits of the hyperparameters several builders share, read by the builders, by
`TrainConfig` (its dropout) and by the Train page's widgets. A limit only one builder has
(resnet20's blocks per stage) stays beside that builder's check."""
from ..validation import Limit

DROPOUT = Limit(float, 0.0, 0.9)       # above 0.9 a layer passes almost nothing on
L2 = Limit(float, 0.0, 1.0)
FILTERS = Limit(int, 1, 512)           # the first block's width; later blocks double it
DENSE_UNITS = Limit(int, 1, 4096)
WIDTH = Limit(int, 1, 256)             # the ResNet family's first stage
