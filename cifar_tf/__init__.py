"""CIFAR-10 Lab's library: data, architectures, training, runs, evaluation and prediction.

Importing this package is cheap: TensorFlow is imported only by the modules that need it
(architectures, augment, training, prediction), so the app's home page starts in seconds.
"""

__version__ = "0.1.0"

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE = (32, 32, 3)
