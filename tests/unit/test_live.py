"""Live step records: what the Train page's curves are drawn from."""
import numpy as np
import pytest

from cifar_tf.runs import store
from cifar_tf.training.config import TrainConfig
from cifar_tf.training.live import LiveMetrics


class NoStop:
    def check(self):
        return False


def feed(metrics, losses_per_epoch):
    """Drive the callback as Keras does: logs hold the running mean since the epoch began."""
    metrics.on_train_begin()
    for epoch, losses in enumerate(losses_per_epoch):
        metrics.on_epoch_begin(epoch)
        for batch, _ in enumerate(losses):
            running = float(np.mean(losses[:batch + 1]))
            metrics.on_train_batch_end(batch, {"loss": running, "accuracy": 1 - running})


def test_step_records_are_means_over_the_batches_since_the_previous_record(runs_dir):
    run = store.create_run(runs_dir, arch="simple_cnn", config={})
    metrics = LiveMetrics(run, TrainConfig(log_every=2), NoStop(), log=lambda *_: None)
    epoch1 = [4.0, 2.0, 1.0, 1.0]   # windows: (4, 2) -> 3.0, (1, 1) -> 1.0
    epoch2 = [0.5, 0.3, 0.2, 0.2]   # windows: (0.5, 0.3) -> 0.4, (0.2, 0.2) -> 0.2
    feed(metrics, [epoch1, epoch2])
    steps = run.steps()
    assert [s["step"] for s in steps] == [2, 4, 6, 8]
    assert [s["loss"] for s in steps] == pytest.approx([3.0, 1.0, 0.4, 0.2])
    assert [s["accuracy"] for s in steps] == pytest.approx([-2.0, 0.0, 0.6, 0.8])
    # Keras' running means would have drawn 3.0, 2.0, 0.4, 0.3: a curve jumping at each epoch.


def test_a_smooth_loss_gives_a_smooth_curve_across_epochs(runs_dir):
    run = store.create_run(runs_dir, arch="simple_cnn", config={})
    metrics = LiveMetrics(run, TrainConfig(log_every=5), NoStop(), log=lambda *_: None)
    falling = np.linspace(2.0, 0.5, 60)             # one loss per batch, falling steadily
    feed(metrics, [falling[:30], falling[30:]])
    drawn = [s["loss"] for s in run.steps()]
    assert np.all(np.diff(drawn) < 0)               # never jumps back up at the epoch boundary
