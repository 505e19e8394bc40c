"""The Search page: renders, submits a search to the run manager (which queues and starts it),
lists it and fills in its trials."""
import subprocess
import sys
import time

import pytest

from cifar_tf.runs import local, store
from cifar_tf.runs.manager import RunManager
from cifar_tf.search import results
from cifar_tf.search import store as search_store
from helpers import open_app, shown


def test_search_page_without_searches_offers_to_start_one(app_env):
    at = open_app("pages/search.py")
    assert not at.exception
    assert at.title[0].value == "Hyperparameter search"
    assert any("No searches yet" in info.value for info in at.info)
    assert any(b.label == "Start search" for b in at.button)
    assert any("Report 001" in m.value for m in at.markdown)


@pytest.mark.slow
def test_a_search_started_from_the_page_runs_and_fills_in(app_env):
    at = open_app("pages/search.py")
    # Report 001's Hyperband search, as small as it gets: one trial of one epoch on 400 images.
    at.number_input(key="search_epochs_seed001").set_value(1).run()
    at.number_input(key="search_trials_seed001_hyperband_1").set_value(1)
    at.selectbox(key="search_train_limit").set_value(0)
    at.number_input(key="search_val_size").set_value(100)
    at.text_input(key="search_name").input("from the page")
    at.button(key="search_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]

    [search] = search_store.list_searches(app_env)
    try:
        assert search.name == "from the page" and search.record["tuner"] == "hyperband"
        assert search.budget["max_trials"] == 1 and search.budget["epochs"] == 1
        assert [box.value for box in at.selectbox if box.label == "Search"] == [search.id]
        assert any(m.label == "Trials finished" and m.value == "0 / 1" for m in at.metric)

        # The page redraws from the search folder: the trial appears, then the search completes.
        deadline = time.time() + 150
        while time.time() < deadline and not results.trials(search):
            time.sleep(0.5)
        at.run()
        trials_table = at.dataframe[-1].value
        assert list(trials_table["trial"]) == ["0"] and "filters1" in trials_table.columns
        while time.time() < deadline and search_store.read_search(search.path).status == "running":
            time.sleep(1)
        at.run()
        assert search_store.read_search(search.path).status == "completed", \
            (search.path / search_store.LOG_FILE).read_text()[-3000:]
        assert not at.exception
        assert any(m.label == "Trials finished" and m.value == "1 / 1" for m in at.metric)
        assert any("Completed" in s.value for s in at.success)
        assert any(b.label == "Train the best configuration fully" for b in at.button)
    finally:
        RunManager(app_env).stop_search(search.id)


def test_a_search_started_while_a_run_trains_waits_in_the_queue_and_can_be_stopped(app_env, monkeypatch):
    started = []

    def spawn(arguments, log_path, env=None, **kwargs):   # nothing trains here: a process that waits
        started.append(arguments)
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    monkeypatch.setattr(local, "spawn", spawn)
    busy = store.create_run(app_env, arch="simple_cnn", config={}, name="training now")
    busy.start()   # the one training slot of a CPU machine, taken (by this process, alive)
    try:
        at = open_app("pages/search.py")
        at.number_input(key="search_epochs_seed001").set_value(1).run()
        at.number_input(key="search_trials_seed001_hyperband_1").set_value(1)
        at.text_input(key="search_name").input("waits its turn")
        at.button(key="search_start").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]

        [search] = search_store.list_searches(app_env)
        assert search.status == "queued" and started == []
        assert any("Queued, number 1 in the run queue" in info.value for info in at.info)
        assert any("Its trials appear here once it starts." in c.value for c in at.caption)
        at.button(key=f"search_stop_{search.id}").click().run()
        assert not at.exception
        assert search_store.load_search(search.id, app_env).status == "stopped" and started == []
        assert any("Stopped: stopped before it started." in s.value for s in at.success)
        assert any(b.label == "Resume search" for b in at.button)
    finally:
        busy.finish("completed")


def test_a_custom_space_is_checked_before_it_can_start(app_env):
    at = open_app("pages/search.py")
    at.segmented_control(key="search_space").set_value("custom").run()
    assert not at.exception and not at.error
    assert at.multiselect(key="search_vary_simple_cnn").value == ["lr", "optimizer"]
    assert not at.button(key="search_start").disabled

    at.number_input(key="search_simple_cnn_lr_min").set_value(0.1).run()  # above its "to"
    assert any("hyperparameters.lr.max to be above min (0.1)" in shown(e.value) for e in at.error)
    assert at.button(key="search_start").disabled

    at.multiselect(key="search_vary_simple_cnn").set_value([]).run()
    assert any("at least one hyperparameter" in i.value for i in at.info)
    assert at.button(key="search_start").disabled
