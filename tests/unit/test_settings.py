"""Every CIFAR_TF_* setting refused the same way: a value it cannot hold is an error naming the
variable, the value and what is allowed, at once as the app or a command starts; never ignored."""
import os
import re
import subprocess
import sys

import pytest

from cifar_tf import settings
from cifar_tf.validation import InvalidArgument
from helpers import ROOT, open_app

# variable → (the reader, a value it cannot hold, what the refusal says is allowed, a good value, its reading)
SETTINGS = {
    "CIFAR_TF_MAX_RUNS": (settings.max_runs, "many", "an integer from 1 up to 1000", "3", 3),
    "CIFAR_TF_RUNS_PER_GPU": (settings.runs_per_gpu, "65", "an integer from 1 up to 64", "4", 4),
    "CIFAR_TF_BACKEND": (settings.train_backend, "theano", "one of tensorflow, jax", "JAX", "jax"),
    "CIFAR_TF_STANDBY_WORKER": (settings.standby_worker, "maybe", "true or false", "off", False),
    "CIFAR_TF_CLASS_MODE": (settings.class_mode, "sometimes", "true or false", "yes", True),
    "CIFAR_TF_CLASS_SEATS": (settings.class_seats, "0", "an integer from 1 up to 100000", "30", 30),
    "CIFAR_TF_CLASS_JOINS_PER_MINUTE": (settings.class_joins_per_minute, "1e3", "an integer from 1 up to 100000",
                                        "10", 10),
    "CIFAR_TF_RAY_ADDRESS": (settings.ray_address, "teacher", "HOST:PORT of a Ray cluster's head",
                             "10.0.0.1:6379", "10.0.0.1:6379"),
    "CIFAR_TF_RAY_CPUS": (settings.ray_cpus_per_run, "two", "an integer from 1 up to 1024", "2", 2),
    "CIFAR_TF_BENCH_BROWSER_CORES": (settings.bench_browser_cores, "first",
                                     f"an integer from 0 up to {(os.cpu_count() or 1) - 1}", "0", {0}),
}


@pytest.mark.parametrize("variable", SETTINGS)
def test_a_bad_setting_is_refused_by_name_and_a_good_one_read(monkeypatch, variable):
    read, bad, allowed, good, reading = SETTINGS[variable]
    monkeypatch.setenv(variable, bad)
    with pytest.raises(InvalidArgument) as refused:
        read()
    assert str(refused.value).startswith(f"{variable}={bad!r} is not valid: expected {allowed}")
    with pytest.raises(InvalidArgument, match=variable):
        settings.check_environment()
    monkeypatch.setenv(variable, good)
    assert read() == reading
    settings.check_environment()


def test_every_setting_the_module_reads_is_checked_at_start():
    """A variable added to settings.py without a check here would slip through: the table above
    names every CIFAR_TF_* variable settings.py reads but the folders, the teacher's code (any text)
    and the GPUs a server passes on to its runs."""
    source = (ROOT / "cifar_tf" / "settings.py").read_text(encoding="utf-8")
    read = set(re.findall(r'_(?:env|whole_number|switch)\("(CIFAR_TF_\w+)"', source))
    read |= set(re.findall(r'^[A-Z_]+ = "(CIFAR_TF_\w+)"$', source, re.MULTILINE))   # read through a name
    assert read - {"CIFAR_TF_RUNS_DIR", "CIFAR_TF_CACHE", "CIFAR_TF_TEACHER_CODE", "CIFAR_TF_RUN_GPUS"} == set(SETTINGS)


def test_the_command_line_refuses_a_bad_setting_before_its_command(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CIFAR_TF_MAX_RUNS": "lots"}
    done = subprocess.run([sys.executable, "-m", "cifar_tf", "runs", "list", "--runs-dir", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == \
        "error: CIFAR_TF_MAX_RUNS: 'lots' is not valid: expected an integer from 1 up to 1000"


@pytest.mark.parametrize("variable, value, refusal", [
    ("CIFAR_TF_CLASS_SEATS", "**200**", "CIFAR_TF_CLASS_SEATS='**200**' is not valid: expected an integer from 1 "
                                        "up to 100000"),
    # The server passes KERAS_BACKEND on to its runs as CIFAR_TF_BACKEND: the refusal names what the user set.
    ("KERAS_BACKEND", "torch", "KERAS_BACKEND='torch' is not valid: expected one of tensorflow, jax"),
])
def test_the_app_refuses_a_bad_setting_as_it_starts(monkeypatch, tmp_path, variable, value, refusal):
    monkeypatch.setenv("CIFAR_TF_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv(variable, value)
    before = dict(os.environ)
    try:
        at = open_app()
    finally:  # app.py hands KERAS_BACKEND on as CIFAR_TF_BACKEND: no later test may inherit 'torch'
        os.environ.clear()
        os.environ.update(before)
    assert not at.exception
    shown = [re.sub(r"\\(.)", r"\1", error.value) for error in at.error]   # as Markdown draws it: as typed
    assert shown == [f"The lab cannot start: {refusal}. Change it where the server is started, then start it again."]
    assert not at.title   # no page ran
