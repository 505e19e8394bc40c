"""The GPU check (`bench --gpu`) run end to end on the CPU with its tiny plan, so it cannot rot
between the sessions that have a GPU: every section runs and lands in the JSON and the table."""
import json
import subprocess
import sys

import pytest

from helpers import ROOT

pytestmark = pytest.mark.slow
SHARED_COPY = ROOT.parent / "shared" / "data" / "cifar10"


def test_the_gpu_check_runs_every_section_and_writes_its_tables(tmp_path, cifar_dir):
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    # From the carried copy where there is one (CI has it beside the clone), as on the GPU machine.
    source = ["--cifar-copy", str(SHARED_COPY)] if (SHARED_COPY / "build.py").exists() else ["--data-dir", str(cifar_dir)]
    done = subprocess.run([sys.executable, "-m", "cifar_tf", "bench", "--gpu", "--tiny", "--out", str(tmp_path), *source],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)
    results = json.loads((tmp_path / "gpu-check.json").read_text())
    broken = {name: section.get("error") for name, section in results["sections"].items() if "error" in section}
    assert done.returncode == 0 and not broken, (broken, done.stdout[-3000:], done.stderr[-3000:])
    sections = results["sections"]
    assert set(sections) == {"data", "anchor", "ours", "class", "throughput", "tests"}
    anchor = sections["anchor"]   # airbench94 in PyTorch, on the CPU here: asked to compile, it runs eager
    assert {"train_seconds", "accuracy", "accuracy_no_tta", "compile_seconds", "tta_seconds", "epochs", "torch"} <= set(anchor)
    assert anchor["epochs"] == 1.0 and anchor["compiled"] is False and anchor["dtype"] == "float32"
    assert anchor["device"].startswith("cpu") and anchor["train_seconds"][0] > 0 and anchor["tta_seconds"][0] > 0
    assert 0 <= anchor["accuracy_mean"] <= 1 and anchor["train_images"] == anchor["test_images"] > 0
    assert sections["ours"]["cold"]["device"]["backend"] == "jax" and sections["ours"]["warm"]
    assert sections["class"]["class"]["completed"] == sections["class"]["class"]["size"] == 2
    assert sections["class"]["alone"]["first_point_seconds"] > 0
    assert [row["arch"] for row in sections["throughput"]["rows"]] == ["simple_cnn"]
    assert sections["tests"]["passed"], sections["tests"]
    table = (tmp_path / "gpu-check.md").read_text()
    for heading in ("Speed against airbench94", "A class on one GPU", "Training throughput", "training core's tests"):
        assert heading in table
    assert "airbench94, PyTorch" in table and "fast preset, Keras" in table
