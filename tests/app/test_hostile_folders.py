"""Every page with a shared runs folder that a class has been at: damaged, hand-edited, linked and
copied runs are skipped with a word, never a traceback, and the shipped demo run cannot be deleted."""
import json
import os
import shutil

import pytest

import cifar_tf.settings
from cifar_tf.runs import store
from helpers import open_app, shown

PAGES = ["pages/home.py", "pages/train.py", "pages/runs.py", "pages/evaluate.py", "pages/predict.py",
         "pages/search.py", "pages/lab_sharpness.py", "pages/lab_network_view.py"]


def damaged_copy(folder, baseline, name, change):
    path = folder / name
    shutil.copytree(baseline.path, path)
    record = json.loads((path / store.RUN_FILE).read_text())
    change(record)
    (path / store.RUN_FILE).write_text(json.dumps(record))


@pytest.fixture
def hostile(app_env, tmp_path):
    baseline = next(r for r in store.list_runs(app_env)[0] if r.name == "baseline")
    damaged_copy(app_env, baseline, "string-accuracy", lambda r: r["metrics"].update(test_accuracy="0.9"))
    damaged_copy(app_env, baseline, "number-name", lambda r: r.update(name=12345))
    damaged_copy(app_env, baseline, "text-epochs", lambda r: r["config"].update(epochs="x"))
    (app_env / "deep").mkdir()
    (app_env / "deep" / store.RUN_FILE).write_text("[" * 200_000 + "]" * 200_000)
    (app_env / "fifo").mkdir()
    os.mkfifo(app_env / "fifo" / store.RUN_FILE)
    secret = tmp_path / "secret"
    secret.write_text("not for students")
    linked = app_env / "linked-model"
    shutil.copytree(baseline.path, linked)
    (linked / store.MODEL_FILE).unlink()
    os.symlink(secret, linked / store.MODEL_FILE)
    broken = app_env / "broken-model"
    shutil.copytree(baseline.path, broken)
    (broken / store.MODEL_FILE).write_bytes(b"PK\x03\x04 not really a model")
    return app_env


@pytest.mark.parametrize("page", PAGES)
def test_every_page_survives_a_hostile_runs_folder(hostile, page):
    at = open_app(page)
    assert not at.exception, at.exception
    if page in ("pages/home.py", "pages/runs.py", "pages/train.py", "pages/evaluate.py"):
        skipped = " ".join(shown(c.value) for c in at.caption if "Skipped a folder" in c.value)
        for name in ("string-accuracy", "number-name", "text-epochs", "deep", "fifo"):
            assert name in skipped, (page, name)


def test_evaluate_says_a_model_cannot_be_loaded_without_a_traceback(hostile):
    at = open_app("pages/evaluate.py")
    for run_id in ("broken-model", "linked-model"):
        at.selectbox(key="evaluate_run").set_value(store.load_run(run_id, hostile)).run()
        assert not at.exception
        assert any("cannot be loaded" in e.value for e in at.error), run_id


def test_the_runs_page_cannot_delete_or_rename_the_shipped_demo(app_env, monkeypatch):
    baseline = next(r for r in store.list_runs(app_env)[0] if r.name == "baseline")
    shutil.copytree(baseline.path, app_env / store.DEMO_RUN)
    monkeypatch.setattr(cifar_tf.settings, "DEFAULT_RUNS_DIR", app_env)   # as in the project's models/
    at = open_app("pages/runs.py")
    at.multiselect(key="runs_compare").set_value([store.DEMO_RUN]).run()
    assert not at.exception
    assert any("demo run shipped with the lab" in shown(i.value) for i in at.info)
    assert not any(b.label == "Delete run" for b in at.button)
    assert next(b for b in at.button if b.label == "Rename").disabled
