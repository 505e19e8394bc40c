"""The Keras recipe: `model.fit` with the config's optimizer, schedule, augmentation and SAM.

A recipe gives `train()` three things: `plan` (steps per epoch and in all), `fit` (the Keras
history) and `test_probabilities` (with anything extra to record). Pretrained bases train in two
phases, as in keras.io's transfer-learning guide: the new head on a frozen base, then the whole
network at a lower rate.
"""
import math
import warnings
from dataclasses import replace

import keras

from ..data.augment import evaluation_dataset, training_dataset
from .optim import SharpnessAware, make_optimizer


def plan(config, train_size):
    steps_per_epoch = math.ceil(train_size / config.batch_size)
    return {"steps_per_epoch": steps_per_epoch,
            "total_steps": steps_per_epoch * (config.epochs + config.fine_tune_epochs)}


def fit(model, config, data, *, device, callbacks, stop, log, phase=lambda text: None):
    steps_per_epoch = plan(config, len(data["x_train"]))["steps_per_epoch"]
    trainer = SharpnessAware(model, rho=config.sam_rho) if config.sam_rho else model
    fit_args = dict(x=training_dataset(data["x_train"], data["y_train"], batch_size=config.batch_size,
                                       augmentation=config.augment, seed=config.seed),
                    validation_data=evaluation_dataset(data["x_val"], data["y_val"]) if len(data["x_val"]) else None,
                    callbacks=callbacks, verbose=0)
    warnings.filterwarnings("ignore", message=".*shuffle=True.*tf.data.Dataset")  # ours is shuffled
    _compile(trainer, make_optimizer(config, steps_per_epoch), config, device)
    phase("tracing the training step")
    history = trainer.fit(epochs=config.epochs, **fit_args).history
    if config.fine_tune_epochs and not stop.requested:
        log(f"fine-tuning the whole network for {config.fine_tune_epochs} epochs")
        phase("tracing the fine-tuning step")
        model.get_layer("base").trainable = True
        fine = replace(config, lr=config.lr * config.fine_tune_lr_factor, epochs=config.fine_tune_epochs,
                       warmup_epochs=0.0)
        _compile(trainer, make_optimizer(fine, steps_per_epoch), config, device)
        done = len(history["loss"])
        more = trainer.fit(initial_epoch=done, epochs=done + config.fine_tune_epochs, **fit_args).history
        history = {key: history.get(key, []) + more.get(key, []) for key in set(history) | set(more)}
    return history


def test_probabilities(model, x_test, y_test, *, run, log, phase=lambda text: None):
    from ..evaluation.predict import predict_proba

    phase("evaluating on the test set")
    return predict_proba(model, x_test), {}


def _compile(trainer, optimizer, config, device):
    trainer.compile(optimizer=optimizer,
                    loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                    metrics=["accuracy"], jit_compile=device["xla"])
