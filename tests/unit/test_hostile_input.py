"""Input a mischievous student can make, read by the library: text no page could show, history
lines of the wrong types or of 60 MB, a hard link out of a run, a FIFO or a planted code in the
class's folder, and an image just under the pixel limit. None crashes, hangs or leaks."""
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from cifar_tf.classroom.room import Classroom
from cifar_tf.data import images
from cifar_tf.evaluation.predict import load_model
from cifar_tf.runs import files, store
from cifar_tf.runs.progress import latest_step, progress
from cifar_tf.views.live import MAX_STEPS_READ, LiveRun
from helpers import ROOT

LONE_SURROGATE = '"a \\ud800 b"'   # valid JSON; Python reads it as a str no one can encode


@pytest.fixture
def finished(tmp_path, trained_runs):
    folder = tmp_path / "runs"
    shutil.copytree(trained_runs, folder)
    return folder, next(r for r in store.list_runs(folder)[0] if r.name == "baseline")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "cifar_tf", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


# --- text no page could show --------------------------------------------------------------------

def test_a_lone_surrogate_in_a_record_reads_as_the_replacement_character(finished):
    folder, run = finished
    text = (run.path / store.RUN_FILE).read_text()
    (run.path / store.RUN_FILE).write_text(text.replace('"baseline"', LONE_SURROGATE, 1))
    found = {r.id: r for r in store.list_runs(folder)[0]}
    assert found[run.id].name == "a \ufffd b"
    found[run.id].name.encode("utf-8")   # what printing it, or sending it to a browser, does
    result = cli("runs", "list", "--runs-dir", folder)
    assert result.returncode == 0, result.stderr
    assert "a \ufffd b" in result.stdout and "stopped early" in result.stdout


def test_json_lines_and_keys_lose_their_lone_surrogates_too(tmp_path):
    path = tmp_path / "steps.jsonl"
    path.write_text('{"step": 1, "note": "x \\udfff", "\\ud800": [1, "\\udc00"]}\n'
                    '{"step": 2, "smile": "\\ud83d\\ude00"}\n')
    first, second = files.read_jsonl(path)
    assert first == {"step": 1, "note": "x \ufffd", "\ufffd": [1, "\ufffd"]}
    assert second["smile"] == "\U0001F600"   # a valid pair stays the character it spells
    json.dumps(first, ensure_ascii=False).encode("utf-8")


# --- step histories -----------------------------------------------------------------------------

def test_a_step_line_of_the_wrong_types_is_skipped(finished):
    _, run = finished
    steps = run.path / store.STEPS_FILE
    good = files.read_jsonl(steps)[-1]
    with open(steps, "a") as f:
        for bad in ({"step": good["step"] + 1, "epoch": [1]}, {"step": "7"}, {"step": True},
                    {"step": good["step"] + 2, "elapsed": "soon"}, {"step": good["step"] + 3, "loss": {}}):
            f.write(json.dumps(bad) + "\n")
    live = LiveRun(run.path)
    live.refresh(run.record.get("steps_per_epoch"))
    assert live.last_step == good
    assert latest_step(run) == good
    state = progress(run, live.last_step, live.epochs_completed)
    assert state["step"] == good["step"] and progress(run)["step"] == good["step"]


def test_a_60_mb_step_history_is_read_in_a_fraction_of_a_second(tmp_path):
    line = {"epoch": 1, "batch": 1, "loss": 1.234567, "accuracy": 0.456789, "lr": 0.001, "images_per_second": 1234.5}
    with open(tmp_path / store.STEPS_FILE, "w") as f:
        step = 0
        while f.tell() < 60 * files.MiB:
            step += 1
            f.write(json.dumps({"step": step, **line, "elapsed": step * 0.1}) + "\n")
    live = LiveRun(tmp_path)
    started = time.perf_counter()
    assert live.refresh(400)
    seconds = time.perf_counter() - started
    assert seconds < 1.5, f"{seconds:.2f} s (every line parsed: about 4 s)"
    assert live.last_step["step"] == step   # the latest step is never sampled away
    # The curve spans the whole history, its oldest points merged as a live run's are.
    assert 100 < len(live.points) <= MAX_STEPS_READ
    assert live.points[0][0] < step / 400 / 100 and live.points[-1][0] == step / 400
    with open(tmp_path / store.STEPS_FILE, "a") as f:   # what the run writes next is read whole
        f.write(json.dumps({"step": step + 1, **line}) + "\n")
    assert live.refresh(400) and live.last_step["step"] == step + 1
    started = time.perf_counter()
    assert files.read_jsonl_tail(tmp_path / store.STEPS_FILE)[-1]["step"] == step + 1
    assert time.perf_counter() - started < 0.1


# --- links out of a run -------------------------------------------------------------------------

def test_a_model_hard_linked_to_a_file_elsewhere_is_never_served_or_loaded(finished, tmp_path):
    _, run = finished
    secret = tmp_path / "secret.keras"
    secret.write_bytes(b"not for students")
    run.model_path.unlink()
    os.link(secret, run.model_path)
    with pytest.raises(files.UnsafeFile, match="hard link"):
        files.check_regular(run.model_path, store.MODEL_MAX_BYTES)   # the Runs page's Download button
    with pytest.raises(files.UnsafeFile, match="hard link"):
        files.read_regular(run.model_path, store.MODEL_MAX_BYTES)    # what it would serve
    with pytest.raises(ValueError, match="hard link"):
        load_model(run.model_path)


# --- the class's folder -------------------------------------------------------------------------

@pytest.fixture
def room(runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR_TF_CLASS_MODE", "1")
    return Classroom(runs_dir)


@pytest.mark.parametrize("name", ["seats.json", ".lock"])
def test_a_fifo_in_the_class_folder_hangs_no_page(room, runs_dir, name):
    (runs_dir / ".class").mkdir()
    os.mkfifo(runs_dir / ".class" / name)
    result = {}

    def visit():   # what every class-mode page does first
        try:
            result["names"] = room.names()
            result["seat"] = room.join("Ada")
        except OSError as error:
            result["error"] = error

    visitor = threading.Thread(target=visit, daemon=True)
    visitor.start()
    visitor.join(timeout=10)
    assert not visitor.is_alive(), f"class mode hung on a FIFO as {name}"
    if name == "seats.json":   # read as no seats, and replaced by the real file when someone joins
        assert result["names"] == {} and room.viewer(result["seat"]).name == "Ada"
    else:   # nothing to lock with: refused with a word, at once
        assert "not a regular file" in str(result["error"])


@pytest.mark.parametrize("plant", ["readable by all", "link to a known file"])
def test_a_teacher_code_file_made_beforehand_is_replaced(room, runs_dir, tmp_path, capsys, plant):
    path = runs_dir / ".class" / "teacher_code"
    path.parent.mkdir()
    known = tmp_path / "known"
    if plant == "readable by all":
        path.write_text("KNOWNCODE\n")
        path.chmod(0o644)
    else:
        known.write_text("KNOWNCODE\n")
        known.chmod(0o600)
        path.symlink_to(known)
    code, where = room.code()
    assert code != "KNOWNCODE" and where == str(path)
    assert not path.is_symlink() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert path.read_text().strip() == code and Classroom(runs_dir).code()[0] == code
    assert plant != "link to a known file" or known.read_text() == "KNOWNCODE\n"   # the target is untouched
    assert "a new teacher code was made" in capsys.readouterr().err


# --- big images ---------------------------------------------------------------------------------

def _png_16_bit(side):
    ramp = (np.arange(side, dtype=np.uint32) * 65535 // side).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(np.tile(ramp, (side, 1))).save(buffer, "PNG")   # mode I;16
    return buffer.getvalue()


def test_a_big_image_is_shrunk_before_it_is_converted(monkeypatch):
    converted = []
    to_rgb = images._to_rgb
    monkeypatch.setattr(images, "_to_rgb", lambda image: converted.append(image.size) or to_rgb(image))
    image = images.open_image(_png_16_bit(6000))   # 36 million pixels: under the limit
    assert max(image.size) == images.WORKING_SIDE and image.info["original_size"] == (6000, 6000)
    assert converted == [image.size]   # the 16-bit to 8-bit conversion saw the small image only
    assert np.asarray(image)[0, -1, 0] > 240 and np.asarray(image)[0, 0, 0] < 10   # the ramp survives


def test_a_big_jpeg_is_decoded_at_a_fraction_of_its_size(monkeypatch):
    buffer = io.BytesIO()
    Image.new("RGB", (4800, 3600), (30, 120, 200)).save(buffer, "JPEG")
    loaded = []
    load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: loaded.append(self.size) or load(self))
    image = images.open_image(buffer.getvalue())
    assert image.size == (1024, 768) and image.info["original_size"] == (4800, 3600)
    assert loaded and max(loaded[0]) <= 2 * images.WORKING_SIDE   # decoded at 1/4: 1200x900


def test_an_upload_seen_again_is_not_decoded_again(monkeypatch):
    data, junk = _png_16_bit(64), b"not an image at all" * 10
    opened = []
    open_bytes = images._open_bytes
    monkeypatch.setattr(images, "_open_bytes", lambda d: opened.append(len(d)) or open_bytes(d))
    first, again = images.read_uploads([data, junk]), images.read_uploads([data, junk])
    assert opened == [len(data), len(junk)]
    assert again[0].image is first[0].image and again[1].error == first[1].error
    assert first[0].original_size == (64, 64)
