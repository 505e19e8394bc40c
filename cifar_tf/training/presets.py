"""Named recipes: each reproduces a reference report (../shared/seeds) or serves a classroom need.

`preset_config("fast")` is the preset's TrainConfig for this machine: some presets set other
values on a CPU, so that a classroom session ends in minutes there and stays the published
recipe on a GPU.
"""
from ..hardware import gpu_names
from ..validation import check_choice
from .config import TrainConfig

# airbench94 as published: 64/256/256 wide, 10 epochs of 1024 (see airbench.py). Its lr (11.5 per
# 1024 examples) and weight decay (0.0153) in Keras terms, see training/airbench.py, sgd_hyperparameters: an SGD
# rate on the summed loss and an L2 coefficient per image.
_AIRBENCH94 = dict(recipe="airbench", arch="fast_cnn", epochs=10, batch_size=1024, optimizer="sgd",
                   lr=11.5 / (1024 * (1 + 1 / (1 - 0.85))), momentum=0.85, nesterov=True,
                   schedule="onecycle", warmup_epochs=0.23 * 10, weight_decay=0.0153 / 11.5,
                   label_smoothing=0.2, augment="flip,crop=2")

# Named recipes. Each reproduces a reference report (../shared/seeds) or serves a classroom need.
PRESETS = {
    "seed001": dict(
        description="Report 001: simple_cnn, ImageDataGenerator-style augmentation, Adam, lr/10 after "
                    "epoch 10, batch 64, 30 epochs.",
        config=dict(arch="simple_cnn", epochs=30, batch_size=64, optimizer="adam", lr=1e-3,
                    schedule="step", decay_every=10, decay_factor=0.1, augment="seed001")),
    "seed002": dict(
        description="Report 002's best ResNet-style net: depth 4, 1024 dense units, Adam 2.9e-4 with "
                    "exponential decay, L2 5e-4, dropout 0.3, batch 128, 40 epochs.",
        config=dict(arch="resnet_style", arch_params={"depth": 4, "dense_units": 1024, "l2": 5e-4},
                    dropout=0.3, epochs=40, batch_size=128, optimizer="adam", lr=2.92e-4,
                    schedule="exponential", decay_every=10, decay_factor=0.5, augment="standard")),
    "fast": dict(
        description="airbench94, the fastest published CIFAR-10 recipe, in Keras: whitening, identity-"
                    "initialised convs, Nesterov SGD on the summed loss, lookahead, test-time augmentation. "
                    "On a GPU the published net for 10 epochs (~94 %); on a CPU a narrower one for 3 "
                    "(~80 % on 2 cores: 70 s from Start to Completed on the Train page, 104 s from the "
                    "command line).",
        config=_AIRBENCH94,
        # A CPU session must end in minutes: ReLU for GELU (8x cheaper here in bfloat16), half the
        # widths in block 1 and a quarter after, 3 epochs, smaller batches for more steps and a
        # 1.6x rate. On 2 cores: 79.7 % test accuracy after 75 s of training, 80.9 % with TTA at 90 s.
        per_device={"cpu": dict(arch_params={"widths": (32, 64, 64), "activation": "relu"}, epochs=3,
                                batch_size=256, warmup_epochs=0.23 * 3, lr=1.6 * _AIRBENCH94["lr"])}),
    "fast10": dict(
        description="The fast preset for a ten-minute session: on a CPU a wider net for 9 epochs (~88.6 % "
                    "in about ten minutes on 2 cores); on a GPU the same as fast.",
        config=_AIRBENCH94,
        # Measured on 2 cores (ReLU, bfloat16): 9 epochs 88.6 % with TTA at 614 s, 10 epochs 88.8 %;
        # the full 64/256/256 for 6 epochs 88.7 % at 729 s. 90 % did not fit in 10 minutes, and a
        # PyTorch airbench94 on the same files scores the same (README, Speed).
        per_device={"cpu": dict(arch_params={"widths": (64, 128, 128), "activation": "relu"}, epochs=9,
                                batch_size=512, warmup_epochs=0.23 * 9)}),
    "transfer": dict(
        description="Report 000's transfer learning: an ImageNet MobileNetV2 (images upsampled to 96 px), "
                    "its base frozen for 3 epochs, then fine-tuned for 2 at a tenth of the rate.",
        config=dict(arch="mobilenetv2", arch_params={"weights": "imagenet", "image_size": 96}, epochs=3,
                    fine_tune_epochs=2, fine_tune_lr_factor=0.1, batch_size=64, optimizer="adam", lr=1e-3,
                    train_limit=10000, augment="flip")),
    "quick": dict(
        description="A two-minute look on a CPU: simple_cnn on 10,000 images for 3 epochs.",
        config=dict(arch="simple_cnn", epochs=3, batch_size=64, optimizer="adam", lr=1e-3,
                    train_limit=10000, augment="flip")),
}


def preset_config(name, **overrides):
    """The TrainConfig of a named preset for this machine, with any fields overridden."""
    check_choice("preset", name, tuple(PRESETS))
    values = dict(PRESETS[name]["config"])
    values.update(PRESETS[name].get("per_device", {}).get(_device_kind(), {}))
    values.update(overrides)
    return TrainConfig.from_dict(values)


def _device_kind():
    """"gpu" or "cpu", without importing TensorFlow."""
    return "gpu" if gpu_names() else "cpu"
