"""CIFAR-10 and images: finding and loading the dataset (`cifar10`), downloading it (`download`),
reading photos and uploads (`images`), augmentation and the tf.data pipelines (`augment`)."""
