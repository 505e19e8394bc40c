"""The Keras recipe: `model.fit` with the config's optimizer, schedule, augmentation and SAM.

A recipe gives `train()` three things: `plan` (steps per epoch and in all), `fit` (the Keras
history) and `test_probabilities` (with anything extra to record). Pretrained bases train in two
phases, as in keras.io's transfer-learning guide: the new head on a frozen base, then the whole
network at a lower rate.

The batches come from a tf.data pipeline under TensorFlow (augmented on the CPU, beside the
training step) and from `DeviceBatches` under any other backend (augmented on the training
device, with no TensorFlow at all); the augmentation is the same code, from the same seeds.
"""
import math
from dataclasses import replace

import keras

from ..data.device_batches import DeviceBatches, augmentation_transform, evaluation_data
from .optim import SharpnessAware, make_optimizer


def plan(config, train_size):
    steps_per_epoch = math.ceil(train_size / config.batch_size)
    return {"steps_per_epoch": steps_per_epoch,
            "total_steps": steps_per_epoch * (config.epochs + config.fine_tune_epochs)}


def fit(model, config, data, *, device, callbacks, stop, log, phase=lambda text: None, initial_epoch=0):
    """`initial_epoch`: a fork's first epoch; its schedule goes on from that epoch's first step."""
    steps_per_epoch = plan(config, len(data["x_train"]))["steps_per_epoch"]
    trainer = SharpnessAware(model, rho=config.sam_rho) if config.sam_rho else model
    training_data = _training_data(config, data["x_train"], data["y_train"])
    fit_args = dict(validation_data=evaluation_data(data["x_val"], data["y_val"]) if len(data["x_val"]) else None,
                    callbacks=callbacks, verbose=0, shuffle=False)  # the batches come shuffled
    _compile(trainer, make_optimizer(config, steps_per_epoch), config, device)
    if initial_epoch:
        trainer.optimizer.iterations.assign(initial_epoch * steps_per_epoch)
    phase("tracing the training step")
    history = trainer.fit(initial_epoch=initial_epoch, epochs=config.epochs,
                          **training_data(initial_epoch, config.epochs), **fit_args).history
    if config.fine_tune_epochs and not stop.requested:
        log(f"fine-tuning the whole network for {config.fine_tune_epochs} epochs")
        phase("tracing the fine-tuning step")
        model.get_layer("base").trainable = True
        fine = replace(config, lr=config.lr * config.fine_tune_lr_factor, epochs=config.fine_tune_epochs,
                       warmup_epochs=0.0)
        _compile(trainer, make_optimizer(fine, steps_per_epoch), config, device)
        done = len(history["loss"])
        more = trainer.fit(initial_epoch=done, epochs=done + config.fine_tune_epochs,
                           **training_data(done, done + config.fine_tune_epochs), **fit_args).history
        history = {key: history.get(key, []) + more.get(key, []) for key in set(history) | set(more)}
    return history


def _training_data(config, x, y):
    """`fit`'s training-data arguments for epochs `initial_epoch` to `epochs - 1`, as a function."""
    if keras.backend.backend() == "tensorflow":
        from ..data.augment import training_dataset

        # One dataset for both phases: its shuffle goes on where the first phase stopped.
        dataset = training_dataset(x, y, batch_size=config.batch_size, augmentation=config.augment,
                                   seed=config.seed)
        return lambda initial_epoch, epochs: {"x": dataset}
    # Whole epochs, the last batch smaller, as under TensorFlow: plan() holds on every backend.
    batches = DeviceBatches(x, y, batch_size=config.batch_size, transform=augmentation_transform(config.augment),
                            seed=config.seed, drop_remainder=False)
    return lambda initial_epoch, epochs: {"x": batches.iterate(initial_epoch, epochs),
                                          "steps_per_epoch": len(batches)}


def test_probabilities(model, x_test, y_test, *, run, log, phase=lambda text: None):
    from ..evaluation.predict import predict_proba

    phase("evaluating on the test set")
    return predict_proba(model, x_test), {}


def _compile(trainer, optimizer, config, device):
    trainer.compile(optimizer=optimizer,
                    loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                    metrics=["accuracy"], jit_compile=device["xla"])
