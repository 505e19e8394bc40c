"""The Repeats and noise page: groups of runs, their bands, and whether two differ."""
import pytest

from cifar_tf.runs import store
from helpers import finished_run_with_curve as finished
from helpers import open_app, shown


@pytest.fixture
def grouped(runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR_TF_RUNS_DIR", str(runs_dir))
    base = [0.5] * 10
    for seed, accuracy in enumerate([0.50, 0.51, 0.505]):
        finished(runs_dir, accuracy=accuracy, seed=seed, name="sgd", per_class=[v + 0.01 * seed for v in base])
    for seed, accuracy in enumerate([0.60, 0.61, 0.62]):
        finished(runs_dir, accuracy=accuracy, seed=seed, optimizer="adam", name="adam",
                 per_class=[v + 0.01 * seed + (0.4 if i == 3 else 0) for i, v in enumerate(base)])
    finished(runs_dir, accuracy=0.55, optimizer="rmsprop", name="rmsprop alone")
    return runs_dir


def test_groups_show_their_spread_and_a_real_difference_says_so(grouped):
    at = open_app("pages/groups.py")
    assert not at.exception
    table = at.dataframe[0].value
    assert sorted(table["n"]) == [1, 3, 3]
    sgd = table[table["group"].str.startswith("sgd")].iloc[0]
    assert sgd["test accuracy"] == pytest.approx(0.505)
    at.selectbox(key="groups_a").set_value(sgd["group"])
    at.selectbox(key="groups_b").set_value(table[table["group"].str.startswith("adam")].iloc[0]["group"]).run()
    assert not at.exception
    assert any("ahead of" in shown(s.value) and "more than the seed-to-seed spread" in shown(s.value) for s in at.success)
    assert list(at.dataframe[1].value["class"]) == ["cat"]   # the only class beyond noise
    assert len(at.get("vega_lite_chart")) == 1   # the bands


def test_a_single_run_offers_repeats_that_join_its_group(grouped, monkeypatch):
    at = open_app("pages/groups.py")
    groups = at.dataframe[0].value["group"]
    at.selectbox(key="groups_a").set_value(next(g for g in groups if g.startswith("sgd")))
    at.selectbox(key="groups_b").set_value(next(g for g in groups if g.startswith("rmsprop"))).run()
    assert any("one run only" in shown(info.value) for info in at.info)
    queued = []
    monkeypatch.setattr("cifar_tf.runs.manager.RunManager.submit",
                        lambda self, config, *, name=None, tags=None, data_dir=None: queued.append(
                            (config.seed, config.optimizer, name, tags)) or store.load_run(
                            store.list_runs(grouped)[0][0].id, grouped))
    button = next(b for b in at.button if "rmsprop alone" in b.label)
    button.click().run()
    assert not at.exception
    assert [(seed, optimizer) for seed, optimizer, *_ in queued] == [(1, "rmsprop"), (2, "rmsprop"), (3, "rmsprop")]
    assert len({tags["repeat_group"] for *_, tags in queued}) == 1
    assert [name for _, _, name, _ in queued][0] == "rmsprop alone · seed 1"


def test_the_runs_table_shows_one_row_per_configuration(grouped):
    at = open_app("pages/runs.py")
    assert len(at.dataframe[0].value) == 7
    at.toggle(key="runs_grouped").set_value(True).run()
    assert not at.exception
    assert sorted(at.dataframe[0].value["n"]) == [1, 3, 3]


def test_start_with_repeat_queues_one_group_of_seeds(app_env, monkeypatch):
    queued = []

    def submit(self, config, *, name=None, tags=None, data_dir=None):
        run = store.create_run(app_env, arch=config.arch, config=config.to_dict(), name=name, status="queued",
                               tags=tags)
        queued.append(run)
        return run

    monkeypatch.setattr("cifar_tf.runs.manager.RunManager.submit", submit)
    at = open_app("pages/train.py")
    next(t for t in at.text_input if t.label.startswith("Run name")).set_value("lr test")
    at.number_input(key="train_repeats").set_value(3).run()
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    assert [run.name for run in queued] == ["lr test · seed 0", "lr test · seed 1", "lr test · seed 2"]
    assert [run.record["config"]["seed"] for run in queued] == [0, 1, 2]
    assert len({run.record["tags"]["repeat_group"] for run in queued}) == 1
