"""The Search page: renders, starts a search in the background, lists it and fills in its trials."""
import time

import pytest

from cifar_tf.search import process as search_process
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
        search_process.request_stop(search)


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
