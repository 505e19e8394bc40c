"""The Train page's instruments: the learning-rate finder beside the form, and a watched run's knobs
and forks under its curves."""
import json
import math

import pytest

from cifar_tf.runs import control, store
from cifar_tf.training.config import TrainConfig
from cifar_tf.training.lrfind import KIND, POINTS_FILE, RangeTest, suggest
from helpers import open_app, shown


def widget(at, kind, label):
    return next(w for w in getattr(at, kind) if w.label == label)


@pytest.fixture
def one_slot(app_env, monkeypatch):
    """One training slot, taken by a run that trains (as far as anyone can tell): what is
    submitted stays queued, and no worker starts during the test."""
    monkeypatch.setenv("CIFAR_TF_MAX_RUNS", "1")
    busy = store.create_run(app_env, arch="simple_cnn", name="training now",
                            config=TrainConfig(epochs=5, lr=0.002, optimizer="sgd").to_dict())
    busy.update(steps_per_epoch=25)
    return busy


def finished_range_test(folder, steps=60):
    test = RangeTest(start_lr=1e-6, end_lr=10.0, steps=steps)
    run = store.create_run(folder, arch="simple_cnn", config=TrainConfig().to_dict(), name="which rate?",
                           record={"kind": KIND, "lrfind": test.to_dict()})
    points = []
    for step in range(steps):
        x = math.log10(test.lr_at(step))
        loss = 2.3 - 1.5 / (1 + math.exp(-2.5 * (x + 3.5))) + max(0.0, x + 2) ** 2
        points.append({"step": step + 1, "lr": test.lr_at(step), "loss": loss + 0.05 * (-1) ** step,
                       "smoothed": loss})
    run.file(POINTS_FILE).write_text("".join(json.dumps(p) + "\n" for p in points))
    found = suggest(points)
    run.finish("completed", metrics={"suggested_lr": found["suggested"]},
               lrfind={**test.to_dict(), **found, "points": steps, "ended": f"all {steps} steps"})
    return run, points, found


def chart_specs(at):
    return [json.loads(chart.proto.spec) for kind in ("vega_lite_chart", "arrow_vega_lite_chart")
            for chart in at.get(kind)]


def test_the_range_test_shows_its_points_and_one_click_puts_its_rate_in_the_form(app_env):
    run, points, found = finished_range_test(app_env)
    at = open_app("pages/train.py")
    assert not at.exception
    assert widget(at, "selectbox", "Range test").value == run.id
    [spec] = [s for s in chart_specs(at) if s["layer"][0]["encoding"]["x"]["field"] == "lr"]
    drawn = spec["layer"][0]["data"]["values"]
    assert sorted({row["step"] for row in drawn}) == [p["step"] for p in points]   # every point it recorded
    assert spec["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    assert any("Suggested learning rate" in shown(m.value) and "valley" in m.value for m in at.markdown)
    rate = float(f"{found['valley']:.2g}")
    widget(at, "button", f"Use {rate:g} (valley)").click().run()
    assert not at.exception
    assert widget(at, "number_input", "Learning rate").value == pytest.approx(rate)

    widget(at, "selectbox", "Schedule").set_value("onecycle").run()
    steep = float(f"{found['steepest']:.2g}")
    widget(at, "button", f"Use {steep:g} (steepest) as the peak").click().run()
    assert widget(at, "number_input", "Learning rate").value == pytest.approx(steep)


def test_a_range_test_is_queued_as_a_run_of_its_own_kind(app_env, one_slot):
    at = open_app("pages/train.py")
    widget(at, "number_input", "Steps").set_value(40)
    widget(at, "button", "Run the range test").click().run()
    assert not at.exception
    [test] = [r for r in store.list_runs(app_env)[0] if r.record.get("kind") == KIND]
    assert test.status == "queued" and test.record["lrfind"]["steps"] == 40
    assert widget(at, "selectbox", "Range test").value == test.id
    assert any("Queued" in i.value for i in at.info)


def test_the_owner_changes_the_rate_of_a_running_run_and_pauses_it(app_env, one_slot):
    at = open_app()
    at.query_params["run"] = one_slot.id
    at.switch_page("pages/train.py").run()
    assert not at.exception
    knob = widget(at, "number_input", "Learning rate now")
    assert knob.value == pytest.approx(0.002)
    knob.set_value(0.02)
    widget(at, "button", "Set").click().run()
    assert not at.exception
    asked = control.read_control(one_slot.path)
    assert asked["lr"]["value"] == pytest.approx(0.02) and asked["lr"]["by"] == "the app"
    widget(at, "button", "Pause").click().run()
    assert control.read_control(one_slot.path)["paused"]["value"] is True
    assert any(b.label == "Resume" for b in at.button)
    assert any("Paused" in c.value for c in at.caption)
    widget(at, "button", "Resume").click().run()
    assert control.read_control(one_slot.path)["paused"]["value"] is False


def test_events_show_on_the_watched_runs_curves(app_env, one_slot):
    one_slot.file(store.STEPS_FILE).write_text("".join(
        json.dumps({"step": s, "epoch": 1, "batch": s, "loss": 2.0 - s / 100, "accuracy": 0.2}) + "\n"
        for s in range(1, 21)))
    control.record_event(one_slot.path, {"step": 10, "epoch": 0.4, "what": "lr", "from": 0.002, "to": 0.02,
                                         "by": "Ada"})
    at = open_app()
    at.query_params["run"] = one_slot.id
    at.switch_page("pages/train.py").run()
    loss = next(s for s in chart_specs(at) if s.get("title") == "Loss")
    [rule] = [layer for layer in loss["layer"] if layer["mark"]["type"] == "rule"]
    assert rule["data"]["values"] == [{"epoch": 0.4, "event": "lr 0.002 → 0.02", "by": "Ada"}]


def test_a_fork_starts_from_a_saved_epoch_of_a_finished_run(app_env, one_slot):
    baseline = next(r for r in store.list_runs(app_env)[0] if r.name == "baseline")
    assert control.saved_epochs(baseline.path) == [1, 2]
    at = open_app()
    at.query_params["run"] = baseline.id
    at.switch_page("pages/train.py").run()
    assert not at.exception
    widget(at, "selectbox", "From the end of epoch").set_value(1)
    widget(at, "selectbox", "Change").set_value("lr")
    widget(at, "text_input", "To").set_value("0.0003").run()
    widget(at, "button", "Start the fork").click().run()
    assert not at.exception
    [fork] = [r for r in store.list_runs(app_env)[0] if r.record.get("fork")]
    assert fork.status == "queued" and fork.record["fork"]["epoch"] == 1 and fork.record["config"]["lr"] == 0.0003
    assert fork.record["config"]["epochs"] == 2
    assert [e.get("inherited") for e in fork.epochs()] == [baseline.id]
    assert at.query_params["run"] in (fork.id, [fork.id])



def test_a_picked_preset_says_on_the_page_how_it_differs_from_its_report(app_env):
    at = open_app("pages/train.py")
    note = lambda: [shown(m.value) for m in at.markdown if "Preset " in m.value or "Differs" in m.value  # noqa: E731
                    or "Changed since" in m.value]
    assert note() == []   # nothing picked yet
    widget(at, "button", "seed001").click().run()
    assert not at.exception
    text = note()
    assert text[0].startswith("**Preset seed001: Report 001: simple_cnn")
    assert any(line.startswith("- Differs from the report: The network is its code's") for line in text)
    assert not any("Changed since" in line for line in text)
    widget(at, "number_input", "Epochs").set_value(12).run()
    assert note()[-1] == "- Changed since you picked it: epochs."
