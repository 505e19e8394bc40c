import io
import shutil

import numpy as np
import pytest
from PIL import Image

from cifar_tf.labs import measures, sam_pairs
from cifar_tf.runs import store
from helpers import open_app


def _texts(at):
    return [m.value for m in at.markdown]


# --- gradient descent ---------------------------------------------------------------------------

def test_gradient_descent_opens_on_the_report_004_lesson(app_env):
    at = open_app("pages/lab_gradient_descent.py")
    assert not at.exception
    assert at.title[0].value == "Gradient descent"
    texts = " ".join(_texts(at))
    assert "from (0, 0)**: (-1.0882, 0.5441), f = -2.2807, global minimum" in texts
    assert "from (1, 1)**: (0.6059, -0.3030), f = 1.2427, local minimum" in texts
    assert at.selectbox(key="gd_function").value == "seed004"
    assert at.multiselect(key="gd_optimizers").value == ["sgd"]
    assert r"f(x, y) = x^2 + y^2 + x\,(y + 2) + \cos 3x" in at.latex[0].value
    assert at.get("vega_lite_chart")


def test_gradient_descent_races_optimizers_steps_and_animates(app_env):
    at = open_app("pages/lab_gradient_descent.py")
    at.selectbox(key="gd_function").select("rosenbrock").run()
    assert at.text_input(key="gd_starts").value == "-1.5, 2" and at.select_slider(key="gd_lr").value == 0.001
    at.multiselect(key="gd_optimizers").select("momentum").select("adam").run()
    assert not at.exception
    assert sum("**Momentum**" in text for text in _texts(at)) == 1
    at.select_slider(key="gd_steps").set_value(10).run()
    at.slider(key="gd_upto_10").set_value(5).run()
    assert not at.exception and any("at step 5" in text for text in _texts(at))
    at.button(key="gd_animate").click().run()
    assert not at.exception
    at.button(key="gd_lesson").click().run()
    assert at.selectbox(key="gd_function").value == "seed004" and at.text_input(key="gd_starts").value == "0, 0; 1, 1"


def test_gradient_descent_explains_bad_start_points(app_env):
    at = open_app("pages/lab_gradient_descent.py")
    at.text_input(key="gd_starts").set_value("one, two").run()
    assert not at.exception and "Start points must be numbers" in at.error[0].value
    at.text_input(key="gd_starts").set_value("0, 0").run()
    at.multiselect(key="gd_optimizers").set_value([]).run()
    assert not at.exception and "at least one optimizer" in at.info[0].value


# --- sharpness and SAM --------------------------------------------------------------------------

@pytest.fixture
def quiet_manager(monkeypatch):
    """The page's run manager, queueing runs without starting any training process."""
    from cifar_tf.runs.manager import RunManager
    from pages.common import _manager

    monkeypatch.setattr(RunManager, "poll", lambda self: None)
    monkeypatch.setattr(RunManager, "start_background", lambda self: self)
    _manager.clear()
    yield
    _manager.clear()


def test_sharpness_page_measures_and_draws_a_finished_run(app_env, monkeypatch):

    # Fewer images and power iterations than the defaults: the page's path, in less time.
    monkeypatch.setitem(measures.DATA_DEFAULTS, "batches", 1)
    monkeypatch.setitem(measures.DATA_DEFAULTS, "batch_size", 64)
    monkeypatch.setitem(measures.SHARPNESS_DEFAULTS, "iterations", 5)
    at = open_app("pages/lab_sharpness.py")
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["run"]) == {"baseline", "stopped early"} and table["sharpness"].isna().all()
    # One run against itself: half the work of two.
    left, right = (s for s in at.selectbox if (s.key or "").startswith(("sam_left", "sam_right")))
    right.set_value(left.value)
    at.number_input(key="sam_measure_rho").set_value(0.02)
    at.button(key="sam_measure").click().run()
    assert not at.exception and not at.error
    [row] = at.dataframe[0].value.to_dict("records")
    run = next(r for r in store.list_runs(app_env)[0] if r.name == row["run"])
    measured = measures.cached(run, "sharpness", rho=0.02)   # what the page computed, kept with the run
    assert row["sharpness"] == pytest.approx(measured["sharpness"]) and row["sharpness"] > 0
    assert row["λ max"] == pytest.approx(measured["hessian_eigenvalue"]) and row["λ max"] > 0
    at.button(key="sam_landscape").click().run()
    assert not at.exception and not at.error and len(at.get("vega_lite_chart")) == 1


def test_sharpness_page_trains_a_pair_side_by_side(app_env, roomy_cifar_dir, quiet_manager, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(roomy_cifar_dir))  # room for the pair's validation images
    from cifar_tf.runs.store import list_runs

    at = open_app("pages/lab_sharpness.py")
    at.slider[0].set_value(0.1)  # the SAM radius, in the form
    next(b for b in at.button if b.label == "Train both").click().run()
    assert not at.exception
    runs = [r for r in list_runs(app_env)[0] if (r.record.get("tags") or {}).get("sam_pair")]
    assert sorted(r.record["config"]["sam_rho"] for r in runs) == [0.0, 0.1]
    assert len({r.record["tags"]["sam_pair"] for r in runs}) == 1 and {r.status for r in runs} == {"queued"}
    texts = " ".join(_texts(at))
    assert "**Without SAM**" in texts and "**With SAM (ρ = 0.1)**" in texts


# --- what the network sees ----------------------------------------------------------------------

def test_network_view_shows_grad_cam_filters_and_activations(app_env):
    at = open_app("pages/lab_network_view.py")
    assert not at.exception
    assert "baseline" in at.selectbox(key="view_run").format_func(at.selectbox(key="view_run").value)
    assert any("The network says" in text for text in _texts(at))
    assert len(at.get("image")) >= 5  # image, two Grad-CAMs, filters, activation maps
    assert [t.label for t in at.tabs] == ["Grad-CAM", "First-layer filters", "Activation maps"]
    layer = next(s for s in at.select_slider if (s.key or "").startswith("view_layer"))
    layer.set_value("conv3").run()
    assert not at.exception and any("`conv3`" in c.value for c in at.get("caption"))
    at.button(key="view_random").click().run()
    assert not at.exception


def test_network_view_explains_an_uploaded_photo(app_env):
    at = open_app("pages/lab_network_view.py")
    at.button_group[0].set_value("Your photo").run()
    assert not at.exception and any("Upload a photo" in i.value for i in at.info)
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (90, 140, 3), dtype=np.uint8)).save(buffer, "PNG")
    at.file_uploader[0].set_value(("photo.png", buffer.getvalue(), "image/png")).run()
    assert not at.exception and not at.error
    assert any("The network says" in text for text in _texts(at))
    captions = [img.caption for image in at.get("image") for img in image.proto.imgs]
    assert "evidence for" in " ".join(captions)


def _pair_run(runs, baseline, pair_id, sam_rho, status):
    """A run of a SAM pair, with the baseline's model and scores; "running" as this process."""
    run = store.create_run(runs, arch="simple_cnn", config={**baseline.record["config"], "sam_rho": sam_rho},
                           name=f"pair {'SAM' if sam_rho else 'plain'}", status=status,
                           tags={sam_pairs.PAIR_TAG: pair_id, "sam": "sam" if sam_rho else "plain"})
    for name in (store.MODEL_FILE, store.EVALUATION_FILE, store.PROBABILITIES_FILE):
        shutil.copy(baseline.file(name), run.file(name))
    if status == "running":
        run.start()
    else:
        run.update(metrics=baseline.record["metrics"])
    return run


def test_sharpness_page_shows_a_pair_finishing_once_and_compares_its_two_runs(app_env, roomy_cifar_dir,
                                                                               quiet_manager, monkeypatch):
    baseline = next(r for r in store.list_runs(app_env)[0] if r.name == "baseline")
    plain = _pair_run(app_env, baseline, "20261201-1200-ab12", 0.0, "completed")
    sam = _pair_run(app_env, baseline, "20261201-1200-ab12", 0.05, "running")
    older = _pair_run(app_env, baseline, "20261130-0900-ef56", 0.0, "completed")
    at = open_app("pages/lab_sharpness.py")
    assert not at.exception
    assert at.selectbox(key="sam_pair_pick").value == "20261201-1200-ab12"
    assert not any("Both runs are done" in c.value for c in at.caption)

    sam.finish("completed", metrics=baseline.record["metrics"])   # it finishes while watched
    at.run()
    assert not at.exception
    assert any("Both runs are done" in c.value for c in at.caption)
    left, right = (s for s in at.selectbox if (s.key or "").startswith(("sam_left", "sam_right")))
    assert {left.value, right.value} == {plain.id, sam.id}       # the pair, not one run against itself

    # A second "Train both" while an older pair is picked: the picker follows the new pair.
    at.selectbox(key="sam_pair_pick").set_value("20261130-0900-ef56").run()
    assert older.id in {s.value for s in at.selectbox if (s.key or "").startswith("sam_left")}
    monkeypatch.setenv("CIFAR10_DIR", str(roomy_cifar_dir))
    next(b for b in at.button if b.label == "Train both").click().run()
    assert not at.exception and not at.error
    newest = sam_pairs.sam_pairs(store.list_runs(app_env)[0])[0]["id"]
    assert newest not in ("20261201-1200-ab12", "20261130-0900-ef56")
    assert at.selectbox(key="sam_pair_pick").value == newest
