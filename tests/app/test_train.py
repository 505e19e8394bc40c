import re
import time

import pytest

from cifar_tf.runs import store
from helpers import open_app, shown


def widget(at, kind, label):
    return next(w for w in getattr(at, kind) if w.label == label)


def test_train_page_shows_settings_presets_and_parameter_count(app_env):
    at = open_app("pages/train.py")
    assert not at.exception
    assert widget(at, "selectbox", "Architecture").value == "simple_cnn"
    assert any("123,466" in c.value for c in at.caption)  # report 001's model
    preset = next(b for b in at.button if b.label == "seed001")
    preset.click().run()
    assert widget(at, "number_input", "Epochs").value == 30
    assert widget(at, "text_input", "Augmentation").value == "seed001"
    assert widget(at, "selectbox", "Schedule").value == "drop"   # report 001: one drop, 1e-4 from epoch 10


def test_bad_augmentation_is_refused_beside_the_form(app_env):
    at = open_app("pages/train.py")
    widget(at, "text_input", "Augmentation").set_value("flip,wobble=3").run()
    assert not at.exception
    assert any("augment" in e.value for e in at.error)
    assert widget(at, "button", "Start training").disabled


def test_the_watch_panel_says_where_a_ray_run_waits_and_trains(app_env):
    cluster = {"kind": "ray", "node": None, "address": None, "host": None, "asks": "2 CPUs",
               "cluster": "10.0.0.1:6379"}
    waiting = store.create_run(app_env, arch="simple_cnn", config={"epochs": 2}, name="waits", status="queued")
    # The manager found that no node of the cluster can hold it (see ray_cluster.why_no_node_fits).
    waiting.update(executor={**cluster, "needs": {"CPU": 2}, "waiting_reason": "no node of the Ray cluster has the "
                             "2 CPUs a run asks for: its only node has 1 CPU. Set CIFAR_TF_RAY_CPUS=1"})
    training = store.create_run(app_env, arch="simple_cnn", config={"epochs": 2}, name="trains")
    training.update(executor={**cluster, "node": "3f2a9c", "address": "10.0.0.7", "host": "pc-12"})
    at = open_app("pages/train.py")
    at.query_params["run"] = waiting.id  # as a link to the run opens the page
    at.run()
    assert not at.exception
    assert any(shown(i.value) == "Queued: waiting for 2 CPUs on the Ray cluster at 10.0.0.1:6379." for i in at.info)
    assert [shown(w.value) for w in at.warning] == [
        "This run cannot start as things are: no node of the Ray cluster has the 2 CPUs a run asks for: its only "
        "node has 1 CPU. Set CIFAR_TF_RAY_CPUS=1."]
    at.query_params["run"] = training.id
    at.run()
    assert any(shown(c.value) == "Training on Ray node 10.0.0.7 (pc-12)" for c in at.caption)
    assert not at.warning
    assert any(b.label == "Stop" for b in at.button)
    # How often it refreshes, and once it has refreshed, what a refresh costs (views/live.py paces it).
    assert any(shown(c.value) == "Refreshes every 2 s." for c in at.caption)
    at.run()
    assert any(re.fullmatch(r"Refreshes every 2 s \(about \d+ ms of server CPU each\)\.", shown(c.value))
               for c in at.caption)


@pytest.mark.slow
def test_start_queues_a_run_and_the_page_watches_it(app_env):
    at = open_app("pages/train.py")
    widget(at, "number_input", "Epochs").set_value(1)
    widget(at, "selectbox", "Training images").set_value(1000)
    widget(at, "number_input", "Validation images").set_value(100)
    name = next(t for t in at.text_input if t.label.startswith("Run name"))
    name.set_value("from the page").run()
    widget(at, "button", "Start training").click().run()
    assert not at.exception
    started = [r for r in store.list_runs(app_env)[0] if r.name == "from the page"]
    assert len(started) == 1
    assert at.query_params["run"] == [started[0].id] or at.query_params["run"] == started[0].id
    # The worker process trains it to the end; the page then shows the result.
    deadline = time.time() + 180
    while time.time() < deadline and store.load_run(started[0].id, app_env).status in ("queued", "running"):
        time.sleep(1)
    assert store.load_run(started[0].id, app_env).status == "completed"
    at.run()
    assert any("Completed" in s.value for s in at.success)
    assert len(at.get("arrow_vega_lite_chart")) + len(at.get("vega_lite_chart")) >= 2


@pytest.mark.slow
def test_every_preset_works_as_the_first_click_of_a_fresh_session(app_env):
    from cifar_tf.training.presets import PRESETS, preset_config

    for name in PRESETS:
        at = open_app("pages/train.py")
        next(b for b in at.button if b.label == name).click().run()
        assert not at.exception, (name, at.exception)
        preset = preset_config(name)
        assert widget(at, "selectbox", "Architecture").value == preset.arch, name
        assert widget(at, "number_input", "Epochs").value == preset.epochs, name
        assert any(b.label == "Start training" for b in at.button), name


def test_one_run_manager_serves_every_page(app_env, roomy_cifar_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(roomy_cifar_dir))  # room for the pair's validation images
    """The Sharpness lab queues a pair, the Train page stops one of them: one manager, one queue."""
    from cifar_tf.runs.manager import RunManager
    from pages.common import _manager

    made = []
    original = RunManager.__init__
    monkeypatch.setattr(RunManager, "__init__", lambda self, *a, **k: made.append(self) or original(self, *a, **k))
    monkeypatch.setattr(RunManager, "poll", lambda self: None)          # queue only, train nothing
    monkeypatch.setattr(RunManager, "start_background", lambda self: self)
    _manager.clear()
    try:
        lab = open_app("pages/lab_sharpness.py")
        next(b for b in lab.button if b.label == "Train both").click().run()
        assert not lab.exception
        queued = [r for r in store.list_runs(app_env)[0] if r.status == "queued"]
        assert len(queued) == 2

        train = open_app("pages/train.py")
        watched = widget(train, "selectbox", "Run")
        watched.set_value(queued[0].id).run()
        next(b for b in train.button if b.label == "Stop").click().run()
        assert not train.exception
        assert store.load_run(queued[0].id, app_env).status == "stopped"
        assert len([m for m in made if m.runs_dir == app_env]) == 1
    finally:
        _manager.clear()


def test_a_page_view_does_not_clear_keras_between_reruns(app_env, monkeypatch):
    """Streamlit would call keras.backend.clear_session() after every rerun of every session once
    Keras is imported: a full garbage collection per page view (pages/common.keep_keras_state)."""
    import keras

    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: cleared.append(1))
    at = open_app("pages/train.py")   # counts parameters: Keras is in use
    at.run()
    assert not at.exception and cleared == []


def test_without_the_dataset_the_page_says_how_to_get_it_and_starts_nothing(app_env, monkeypatch, tmp_path):
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "nowhere"))
    at = open_app("pages/train.py")
    assert not at.exception
    assert any("not on this machine" in w.value and "CIFAR10_DIR" in w.value for w in at.warning)
    assert widget(at, "button", "Start training").disabled   # a browser cannot press it


def test_a_starting_run_shows_what_it_is_doing(app_env):
    import os

    run = store.create_run(app_env, arch="simple_cnn", config={"epochs": 2}, name="just started")
    run.start(pid=os.getpid(), phase="loading data")      # alive: this process
    at = open_app("pages/train.py")
    widget(at, "selectbox", "Run").set_value(run.id).run()
    assert not at.exception
    assert any("Loading data" in i.value for i in at.info)


def test_no_widget_logs_a_format_warning(app_env, caplog):
    import logging

    from cifar_tf.training.presets import PRESETS

    caplog.set_level(logging.WARNING)
    at = open_app("pages/train.py")
    for name in PRESETS:
        next(b for b in at.button if b.label == name).click().run()
    assert not at.exception
    assert not [r for r in caplog.records if "displays as integer" in r.getMessage()]
