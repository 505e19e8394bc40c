import json
import os
import subprocess
import sys
import time

import pytest

from cifar_tf.runs import files, liveness, store
from cifar_tf.runs.manager import RunManager


def make_run(runs_dir, **kw):
    return store.create_run(runs_dir, arch="simple_cnn", config={"epochs": 1}, **kw)


def test_create_and_read_back(runs_dir):
    run = make_run(runs_dir, name="  my   first\nrun  ")
    assert run.path.parent == runs_dir and run.path.name == run.id
    loaded = store.load_run(run.id, runs_dir)
    assert loaded.name == "my first run"
    for key in ("id", "name", "arch", "config", "status", "created_at", "device", "params",
                "epochs_completed", "metrics", "error"):
        assert key in loaded.record


def test_user_text_never_becomes_a_path(runs_dir):
    run = make_run(runs_dir, name="../../etc/passwd")
    assert run.path.parent == runs_dir
    with pytest.raises(store.RunNotFound):
        store.load_run("../" + run.id, runs_dir)
    with pytest.raises(store.RunNotFound):
        store.load_run("/etc", runs_dir)


def test_listing_skips_corrupt_and_foreign_folders(runs_dir):
    good = make_run(runs_dir)
    (runs_dir / "foreign").mkdir()
    (runs_dir / "foreign" / "notes.txt").write_text("hello")
    broken = runs_dir / "broken"
    broken.mkdir()
    (broken / "run.json").write_text('{"id": "broken", "status": "runn')  # torn write
    weird = runs_dir / "weird"
    weird.mkdir()
    (weird / "run.json").write_text('{"id": "weird", "status": "dancing"}')
    (runs_dir / "stray-file.txt").write_text("x")
    found, problems = store.list_runs(runs_dir)
    assert [r.id for r in found] == [good.id]
    assert len(problems) == 3
    assert any("foreign" in p and "not a run" in p for p in problems)
    assert any("broken" in p and "unreadable" in p for p in problems)
    assert any("dancing" in p for p in problems)


def test_missing_runs_dir_lists_nothing(tmp_path):
    assert store.list_runs(tmp_path / "absent") == ([], [])


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    files.atomic_write_json(path, {"a": 1})

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(store.os, "replace", boom)
    with pytest.raises(OSError):
        files.atomic_write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary left behind


def test_jsonl_reader_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "steps.jsonl"
    files.append_jsonl(path, {"step": 1})
    files.append_jsonl(path, {"step": 2})
    with open(path, "a") as f:
        f.write('{"step": 3, "lo')
    assert [r["step"] for r in files.read_jsonl(path)] == [1, 2]


def test_run_of_a_dead_process_shows_as_failed(runs_dir):
    run = make_run(runs_dir)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    run.start()
    run.update(pid=child.pid)  # a process that has ended
    loaded = store.load_run(run.id, runs_dir)
    assert loaded.status == "failed"
    assert "ended without finishing" in loaded.record["error"]
    # Reading wrote nothing; the run manager writes it down, so that every reader agrees.
    assert json.loads((run.path / "run.json").read_text())["status"] == "running"
    RunManager(runs_dir).poll()
    on_disk = json.loads((run.path / "run.json").read_text())
    assert on_disk["status"] == "failed" and "ended without finishing" in on_disk["error"]


def test_live_run_stays_running_and_stale_heartbeat_fails(runs_dir):
    run = make_run(runs_dir)
    run.start()
    run.beat()
    assert store.load_run(run.id, runs_dir).status == "running"
    old = time.time() - liveness.HEARTBEAT_TIMEOUT_S - 10
    os.utime(run.path / liveness.HEARTBEAT_FILE, (old, old))
    assert store.load_run(run.id, runs_dir).status == "failed"


def test_delete_refuses_active_runs_and_removes_finished(runs_dir):
    run = make_run(runs_dir)
    run.start()
    run.beat()
    with pytest.raises(ValueError, match="stop it"):
        store.delete_run(run.id, runs_dir)
    run.finish("completed")
    store.delete_run(run.id, runs_dir)
    assert not run.path.exists()
    assert list(runs_dir.iterdir()) == []


def test_rename_and_stop_request(runs_dir):
    run = make_run(runs_dir)
    store.rename_run(run.id, "<b>bold</b>", runs_dir)
    assert store.load_run(run.id, runs_dir).name == "<b>bold</b>"  # stored as text; pages escape it
    with pytest.raises(ValueError):
        store.rename_run(run.id, "   ", runs_dir)
    assert not run.stop_requested()
    run.request_stop()
    assert run.stop_requested()


def test_new_runs_get_readable_unique_names(runs_dir):
    first = store.create_run(runs_dir, arch="resnet20", config={})
    assert first.name.startswith("resnet20 · ") and first.name[-5:-2].endswith(":")   # "resnet20 · 14:05"
    again = store.create_run(runs_dir, arch="simple_cnn", config={}, name="mine")
    twice = store.create_run(runs_dir, arch="simple_cnn", config={}, name="mine")
    assert (again.name, twice.name) == ("mine", "mine (2)")
    assert store.default_name("vgg16", "quick").startswith("vgg16 · quick · ")


def test_the_record_schema_checks_every_field_of_a_train_config_as_the_dataclass_types_it():
    from dataclasses import fields

    from cifar_tf.runs import schema
    from cifar_tf.training.config import TrainConfig

    def problem(**config):
        return schema.problem({"id": "a", "status": "completed", "config": {**TrainConfig().to_dict(), **config}},
                              store.STATUSES)

    assert problem() is None
    assert problem(lr=1, dropout=None, val_size=None) is None   # JSON writes 1.0 as 1; None where optional
    for field in fields(TrainConfig):
        assert problem(**{field.name: ["a list"]}).startswith(f"config.{field.name} is ['a list']"), field.name
    assert problem(epochs=2.5) == "config.epochs is 2.5, expected an integer"
    assert problem(seed=None) == "config.seed is None, expected an integer"
    assert problem(nesterov="yes") == "config.nesterov is 'yes', expected true or false"
