"""The pages over a run a student edited by hand: a name no browser could be sent as it is
(a lone surrogate, valid JSON) and a step line of the wrong types. Shown, never a traceback."""
import json
import os
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from cifar_tf.runs import store
from helpers import APP, shown

ODD = "odd-text"


@pytest.fixture
def odd_run(app_env):
    baseline = next(r for r in store.list_runs(app_env)[0] if r.name == "baseline")
    shutil.copytree(baseline.path, app_env / ODD)
    text = (app_env / ODD / store.RUN_FILE).read_text()
    (app_env / ODD / store.RUN_FILE).write_text(text.replace('"baseline"', '"a \\ud800 b"', 1))
    with open(app_env / ODD / store.STEPS_FILE, "a") as f:
        f.write(json.dumps({"step": 5, "epoch": [1]}) + "\n")
    return app_env


@pytest.mark.parametrize("page", ["pages/train.py", "pages/runs.py", "pages/evaluate.py", "pages/home.py"])
def test_a_hand_edited_run_is_shown_without_a_traceback(odd_run, page):
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["run"] = ODD   # the Train and Evaluate pages open the run a link names
    at.run()
    at.switch_page(page).run()
    if page == "pages/runs.py":
        at.multiselect(key="runs_compare").set_value([ODD]).run()
    assert not at.exception, at.exception
    text = " ".join(shown(e.value) for kind in ("markdown", "caption", "info", "success", "subheader")
                    for e in getattr(at, kind))
    text += " ".join(str(s.format_func(s.value)) for s in at.selectbox if s.value is not None)
    assert "a \ufffd b" in text or page == "pages/home.py", text[:2000]


def test_the_runs_page_does_not_offer_a_model_hard_linked_to_a_file_elsewhere(app_env, tmp_path):
    baseline = next(r for r in store.list_runs(app_env)[0] if r.name == "baseline")
    secret = tmp_path / "secret.keras"
    secret.write_bytes(b"not for students")
    baseline.model_path.unlink()
    os.link(secret, baseline.model_path)
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.switch_page("pages/runs.py").run()
    at.multiselect(key="runs_compare").set_value([baseline.id]).run()
    assert not at.exception, at.exception
    assert any("cannot be offered" in shown(c.value) and "hard link" in c.value for c in at.caption)
    assert not [b for b in at.get("download_button") if "model" in str(b.proto.label).lower()]
