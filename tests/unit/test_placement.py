"""Runs placed on GPUs, not grabbing them: which GPU each run gets, what its process is told before
its backend starts, and that the processes that only check and draw never take GPU memory.

No GPU is needed: the GPUs are named through the variables a machine with GPUs would have."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from cifar_tf import hardware, settings
from cifar_tf.runs import placement, store
from cifar_tf.runs.local import LocalExecutor
from cifar_tf.training.config import TrainConfig
from helpers import ROOT

GPU_VARIABLES = ("CUDA_VISIBLE_DEVICES", "TF_FORCE_GPU_ALLOW_GROWTH", "XLA_PYTHON_CLIENT_PREALLOCATE",
                 "XLA_PYTHON_CLIENT_MEM_FRACTION", "KERAS_BACKEND", "JAX_PLATFORMS")


def test_runs_go_to_the_least_busy_gpu():
    assert placement.pick_gpu([], gpus=()) is None
    assert placement.pick_gpu([], gpus=("0", "1")) == "0"
    assert placement.pick_gpu(["0"], gpus=("0", "1")) == "1"
    assert placement.pick_gpu(["0", "1", "1"], gpus=("0", "1")) == "0"
    assert placement.pick_gpu(["3"], gpus=("3", "5")) == "5"   # the ids CUDA_VISIBLE_DEVICES gave


def test_a_placed_process_is_pinned_and_given_a_share(monkeypatch):
    monkeypatch.setenv("CIFAR_TF_RUNS_PER_GPU", "6")
    env = placement.process_env("1", "jax")
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["KERAS_BACKEND"] == "jax"
    assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" and env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert float(env["XLA_PYTHON_CLIENT_MEM_FRACTION"]) == pytest.approx(0.9 / 6, abs=1e-3)
    assert "CUDA_VISIBLE_DEVICES" not in placement.process_env(None, "tensorflow")


def test_runs_per_gpu_sets_how_many_train_at_once(monkeypatch):
    monkeypatch.setenv("CIFAR_TF_RUN_GPUS", "0,1")
    monkeypatch.setenv("CIFAR_TF_RUNS_PER_GPU", "5")
    assert placement.default_max_concurrent() == 10
    monkeypatch.setenv("CIFAR_TF_RUN_GPUS", "")
    assert placement.default_max_concurrent() == 1            # a CPU: one at a time
    for bad in ("0", "many", "65"):
        monkeypatch.setenv("CIFAR_TF_RUNS_PER_GPU", bad)
        with pytest.raises(ValueError, match="CIFAR_TF_RUNS_PER_GPU"):
            settings.runs_per_gpu()


def test_a_bad_backend_setting_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("CIFAR_TF_BACKEND", "theano")
    with pytest.raises(ValueError, match="CIFAR_TF_BACKEND='theano'"):
        settings.train_backend()
    monkeypatch.delenv("CIFAR_TF_BACKEND")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert settings.train_backend() == "jax"


def test_the_server_hides_the_gpus_from_itself_and_places_its_runs_on_them(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    hardware.keep_gpus_free()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "" and os.environ["JAX_PLATFORMS"] == "cpu"
    assert hardware.gpus_for_runs() == ("2", "3")
    hardware.keep_gpus_free()                                  # twice: still the GPUs it started with
    assert hardware.gpus_for_runs() == ("2", "3")


class _FakeProcess:
    pid = 424242

    def poll(self):
        return None


def test_each_run_is_launched_pinned_to_its_gpu(monkeypatch, runs_dir):
    """The executor starts every worker with CUDA_VISIBLE_DEVICES from the placement, spreading
    runs over the GPUs by what is running there, and records where each went."""
    monkeypatch.setenv("CIFAR_TF_RUN_GPUS", "0,1")
    monkeypatch.setenv("CIFAR_TF_BACKEND", "jax")
    started = []
    monkeypatch.setattr("cifar_tf.runs.local.spawn",
                        lambda arguments, log, env=None, **kw: started.append(env) or _FakeProcess())
    executor = LocalExecutor()
    runs = [store.create_run(runs_dir, arch="simple_cnn", config=TrainConfig().to_dict(), status="queued")
            for _ in range(3)]
    for run in runs:
        executor.launch(run)
    assert [env["CUDA_VISIBLE_DEVICES"] for env in started] == ["0", "1", "0"]
    assert all(env["KERAS_BACKEND"] == "jax" for env in started)
    records = [store.load_run(run.id, runs_dir).record for run in runs]
    assert [r["placement"] for r in records] == [{"gpu": "0", "backend": "jax"}, {"gpu": "1", "backend": "jax"},
                                                 {"gpu": "0", "backend": "jax"}]
    # A run asking for its own backend gets it, whatever the lab's default.
    tf_run = store.create_run(runs_dir, arch="simple_cnn", config={**TrainConfig().to_dict(), "backend": "tensorflow"},
                              status="queued")
    monkeypatch.setattr(store, "mark_if_dead", lambda folder: folder)  # the fake workers count as alive
    executor.sync(store.list_runs(runs_dir)[0])              # what is running now decides the next GPU
    executor.launch(tf_run)
    assert started[-1]["KERAS_BACKEND"] == "tensorflow" and started[-1]["CUDA_VISIBLE_DEVICES"] == "1"


# An import hook that writes down the GPU variables the moment a backend (or Keras) is first
# imported: what TensorFlow and JAX read when they start.
HOOK = textwrap.dedent("""
    import importlib.abc, json, os, sys
    WATCH = ("keras", "tensorflow", "jax")
    class Watch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name in WATCH and name not in seen:
                seen[name] = {k: os.environ.get(k) for k in %r}
                with open(os.environ["IMPORT_LOG"], "w") as f:
                    json.dump(seen, f)
            return None
    seen = {}
    sys.meta_path.insert(0, Watch())
""" % (GPU_VARIABLES,))


def _first_imports(tmp_path, code, env=None):
    log = tmp_path / "imports.json"
    script = tmp_path / "script.py"
    script.write_text(HOOK + "\n" + textwrap.dedent(code))
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "IMPORT_LOG": str(log), "PYTHONPATH": str(ROOT), **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(log.read_text())


@pytest.mark.slow
def test_a_training_process_sets_its_device_options_before_its_backend_starts(tmp_path, cifar_dir):
    seen = _first_imports(tmp_path, f"""
        from cifar_tf.cli import main
        main(["train", "--arch", "simple_cnn", "--epochs", "1", "--batch-size", "50", "--val-size", "100",
              "--train-limit", "100", "--runs-dir", {str(tmp_path / 'runs')!r}, "--data-dir", {str(cifar_dir)!r}])
    """, env={"KERAS_BACKEND": "tensorflow"})
    first = seen["keras"]
    assert first["KERAS_BACKEND"] == "tensorflow"
    assert first["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" and first["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert seen["tensorflow"]["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"


@pytest.mark.slow
def test_the_app_server_and_a_submitting_command_start_their_backend_with_no_gpu(tmp_path):
    seen = _first_imports(tmp_path, """
        from streamlit.testing.v1 import AppTest
        AppTest.from_file(%r, default_timeout=120).run()
        import keras  # the server's warm-up imports it in a thread of its own: here, at the latest
        import threading  # and let that thread finish: TensorFlow aborts if it is torn down mid-build
        for thread in threading.enumerate():
            if thread.name == "warm-up":
                thread.join(timeout=120)
    """ % str(ROOT / "app.py"), env={"CUDA_VISIBLE_DEVICES": "0", "KERAS_BACKEND": "jax"})
    assert seen["keras"]["CUDA_VISIBLE_DEVICES"] == ""
    assert seen["keras"]["KERAS_BACKEND"] == "tensorflow"   # the pages' own backend, whatever runs train on

    seen = _first_imports(tmp_path, """
        from cifar_tf.runs.manager import RunManager
        from cifar_tf.training.config import TrainConfig
        manager = RunManager("runs")
        try:
            manager.submit(TrainConfig())   # the check builds the model; no dataset, so then refused
        except Exception:
            pass
    """, env={"CUDA_VISIBLE_DEVICES": "0", "KERAS_BACKEND": "tensorflow"})
    assert seen["keras"]["CUDA_VISIBLE_DEVICES"] == ""


def test_search_workers_are_placed_as_runs_are(monkeypatch, tmp_path):
    """A search's local workers (KerasTuner's distributed mode) go through the same placement:
    spread over the GPUs, each pinned to one, on the lab's backend."""
    from types import SimpleNamespace

    from cifar_tf.search import tuner

    monkeypatch.setenv("CIFAR_TF_RUN_GPUS", "0,1")
    monkeypatch.setenv("CIFAR_TF_BACKEND", "jax")
    started = []
    monkeypatch.setattr("cifar_tf.runs.local.spawn",
                        lambda arguments, log, env=None, **kw: started.append(env) or _FakeProcess())
    # The chief sets KerasTuner's variables for itself: a copy of the environment, undone after the test.
    monkeypatch.setattr(os, "environ", {**os.environ})
    tuner._start_local_workers(SimpleNamespace(path=tmp_path, record={"workers": 3}))
    assert [env["CUDA_VISIBLE_DEVICES"] for env in started] == ["0", "1", "0"]
    assert {env["KERAS_BACKEND"] for env in started} == {"jax"}
    assert [env["KERASTUNER_TUNER_ID"] for env in started] == ["tuner0", "tuner1", "tuner2"]


@pytest.mark.parametrize("flags, words", [
    ({"avx2", "fma"}, "AVX2, no AVX-512, no bfloat16"),                       # the first Zen EPYC of issue 27
    ({"avx2", "avx512f", "avx512_bf16"}, "AVX-512, bfloat16"),
    ({"avx2", "avx512f", "amx_bf16"}, "AVX-512, bfloat16"),
    ({"sse4_2"}, "no AVX2, no bfloat16"),
])
def test_a_speed_figure_names_the_cpu_features_it_depends_on(monkeypatch, flags, words):
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))
    assert hardware.cpu_features() == words
    assert hardware.device_summary()["cpu_features"] == words


def test_cpu_flags_are_read_from_the_first_flags_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7571\nflags\t\t: fpu avx2 fma\n\n"
                       "processor\t: 1\nflags\t\t: fpu avx512f\n")
    assert hardware.cpu_flags(cpuinfo) == {"fpu", "avx2", "fma"}
    assert hardware.cpu_flags(tmp_path / "none") == frozenset()
