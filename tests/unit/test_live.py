"""Live step records: what the Train page's curves are drawn from."""
import time

import numpy as np
import pytest

from cifar_tf.runs import store
from cifar_tf.training.config import TrainConfig
from cifar_tf.training.live import LiveMetrics
from cifar_tf.views import live as live_view
from cifar_tf.views.live import LiveRun, RefreshPacer


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
    epoch1 = [4.0, 2.0, 1.0, 1.0]   # windows: the first batch at once, 4; then (2) -> 2.0, (1, 1) -> 1.0
    epoch2 = [0.5, 0.3, 0.2, 0.2]   # windows: (0.5, 0.3) -> 0.4, (0.2, 0.2) -> 0.2
    feed(metrics, [epoch1, epoch2])
    steps = run.steps()
    assert [s["step"] for s in steps] == [1, 2, 4, 6, 8]
    assert [s["loss"] for s in steps] == pytest.approx([4.0, 2.0, 1.0, 0.4, 0.2])
    assert [s["accuracy"] for s in steps] == pytest.approx([-3.0, -1.0, 0.0, 0.6, 0.8])
    # Keras' running means would have drawn 3.0, 2.0, 0.4, 0.3: a curve jumping at each epoch.


def test_a_smooth_loss_gives_a_smooth_curve_across_epochs(runs_dir):
    run = store.create_run(runs_dir, arch="simple_cnn", config={})
    metrics = LiveMetrics(run, TrainConfig(log_every=5), NoStop(), log=lambda *_: None)
    falling = np.linspace(2.0, 0.5, 60)             # one loss per batch, falling steadily
    feed(metrics, [falling[:30], falling[30:]])
    drawn = [s["loss"] for s in run.steps()]
    assert np.all(np.diff(drawn) < 0)               # never jumps back up at the epoch boundary


def test_the_live_view_reads_only_what_is_new_and_keeps_its_curves_bounded(runs_dir, monkeypatch):
    from cifar_tf.runs.files import append_jsonl
    from cifar_tf.views import live

    run = store.create_run(runs_dir, arch="simple_cnn", config={})
    watched = live.LiveRun(run.path)
    assert not watched.refresh(steps_per_epoch=100)                   # nothing written yet
    for step in range(1, 1001):
        append_jsonl(run.file(store.STEPS_FILE), {"step": step, "loss": 1000 / step, "accuracy": step / 1000})
    read = []
    original = live.read_jsonl_from
    monkeypatch.setattr(live, "read_jsonl_from",
                        lambda path, offset, **kw: read.append(offset) or original(path, offset, **kw))
    assert watched.refresh(steps_per_epoch=100)
    assert len(watched.points) <= live.MAX_TRAIN_POINTS and watched.points[-1] == (10.0, 1.0, 1.0)
    assert [p[0] for p in watched.points] == sorted(p[0] for p in watched.points)  # still in order
    append_jsonl(run.file(store.STEPS_FILE), {"step": 1001, "loss": 0.5, "accuracy": 1.0})
    read.clear()
    assert watched.refresh(steps_per_epoch=100)
    steps_offset = read[0]
    assert steps_offset == run.file(store.STEPS_FILE).stat().st_size - len(
        '{"step": 1001, "loss": 0.5, "accuracy": 1.0}\n')                  # read from where it stopped
    assert watched.last_step["step"] == 1001


def test_the_curves_redraw_at_most_every_few_seconds_while_a_run_trains(runs_dir, monkeypatch):
    from cifar_tf.runs.files import append_jsonl
    from cifar_tf.views import live

    run = store.create_run(runs_dir, arch="simple_cnn", config={})
    watched = live.LiveRun(run.path)
    clock = [100.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: clock[0])
    append_jsonl(run.file(store.STEPS_FILE), {"step": 1, "loss": 2.0, "accuracy": 0.1})
    watched.refresh(10)
    first = watched.spec("loss")
    append_jsonl(run.file(store.STEPS_FILE), {"step": 2, "loss": 1.5, "accuracy": 0.2})
    watched.refresh(10)
    clock[0] += 2
    assert watched.spec("loss") is first                                # 2 s later: the same chart
    assert len(watched.spec("loss", final=True)["data"]["values"]) == 2  # the run ended: all of it
    clock[0] += live.CHART_EVERY_S
    assert len(watched.spec("accuracy")["data"]["values"]) == 2


def test_the_refresh_pacer_backs_off_when_a_refresh_costs_too_much_and_returns_when_cheap():
    pacer = RefreshPacer(levels=(2, 3, 5), share=0.02, window=3)
    assert pacer.interval == 2 and pacer.describe() == "Refreshes every 2 s."
    # 60 ms a refresh is 3 % of a core every 2 s: over the share, so it steps to 3 s once three say so.
    assert [pacer.record(0.06) for _ in range(3)] == [False, False, True]
    assert pacer.interval == 3
    assert [pacer.record(0.3) for _ in range(6)] == [False, False, True, False, False, False]
    assert pacer.interval == 5     # the longest there is: it stays
    # 30 ms: under the share at 3 s (60 ms) but not under half of it (30 ms): no flapping back.
    assert not any(pacer.record(0.03) for _ in range(6)) and pacer.interval == 5
    # 10 ms: the median of the last three is cheap after two of them; then three more at 3 s decide.
    assert [pacer.record(0.01) for _ in range(3)] == [False, True, False] and pacer.interval == 3
    assert pacer.describe() == "Refreshes every 3 s (about 10 ms of server CPU each)."


def test_one_costly_refresh_among_cheap_ones_does_not_slow_the_view():
    pacer = RefreshPacer(levels=(2, 3), share=0.02, window=5)
    assert not any(pacer.record(cost) for cost in (0.005, 0.5, 0.005, 0.005, 0.004, 0.006))
    assert pacer.interval == 2


def test_a_live_view_gives_its_pacer_what_drawing_cost(tmp_path, monkeypatch):
    monkeypatch.setattr(live_view, "_last_refresh", {})
    view = LiveRun(tmp_path)
    clock = iter([10.0, 10.5])   # CPU seconds read when refreshing, then when drawn
    monkeypatch.setattr(live_view.time, "process_time", lambda: next(clock))
    view.pacer = RefreshPacer(levels=(2, 3), window=1)
    view.refresh(steps_per_epoch=10)
    assert view.refreshed() and view.pacer.interval == 3 and view.pacer.cost == 0.5


def test_every_view_on_the_server_and_a_browser_on_its_machine_count_against_the_share(tmp_path, monkeypatch):
    monkeypatch.setattr(live_view, "_last_refresh", {})
    monkeypatch.setattr(live_view.time, "process_time", lambda: 1.0)   # drawing costs nothing measured...
    recorded = []
    monkeypatch.setattr(RefreshPacer, "record", lambda self, cost, scale=1: recorded.append(scale))
    remote, here = LiveRun(tmp_path), LiveRun(tmp_path, browser_here=True)
    remote.refreshed()
    here.refreshed()
    remote.refreshed()
    # ...and the scale says what a refresh really costs: every view refreshing, a local browser's redraw.
    assert recorded == [1, 2 * (1 + live_view.BROWSER_COST_FACTOR), 2]
    monotonic = time.monotonic() + live_view.SEEN_WITHIN_S + 1   # the other tab was closed long ago
    monkeypatch.setattr(live_view.time, "monotonic", lambda: monotonic)
    remote.refreshed()
    assert recorded[-1] == 1


def test_five_views_refresh_less_often_than_one():
    one, five = RefreshPacer(window=1), RefreshPacer(window=1)
    for _ in range(10):
        one.record(0.02, scale=1)
        five.record(0.02, scale=5)
    assert one.interval == 2 and five.interval == 5   # 20 ms x 5 views: 3 % of a core needs 100 ms / 3 s
