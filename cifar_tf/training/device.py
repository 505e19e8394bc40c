"""The settings that suit the device a run trains on: backend, precision, XLA, GPU memory.

`prepare_process()` runs first in every training process, before Keras, TensorFlow or JAX is
imported and before any model is built: the backend and the GPU memory options are read once,
when the backend starts, and never again. `configure()` then applies a TrainConfig's choices and
says what it chose, for run.json; `float32_copy()` is what a run saves. What the machine has is
`cifar_tf.hardware`; which GPU a process gets is `cifar_tf.runs.placement`.
"""
import os
import platform
import sys

from .. import settings
from ..hardware import cpu_name, cpu_supports_bf16


def prepare_process(backend="auto"):
    """Choose this process's Keras backend and how it takes GPU memory; return the backend.

    Raises ValueError if Keras already runs another backend here: a backend is chosen once per
    process, so such a run must be started in a process of its own (the run manager does)."""
    wanted = settings.train_backend() if backend in (None, "auto") else backend
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != wanted:
            raise ValueError(f"backend {wanted!r} was asked for, but this process already runs Keras on "
                             f"{keras.backend.backend()!r}: start it with KERAS_BACKEND={wanted} (or --backend {wanted})")
    settings.set_training_environment(wanted)
    return wanted


def configure(mixed_precision="auto", xla="auto"):
    """Set up the Keras backend for training here; return what was chosen, for run.json."""
    import keras

    backend = keras.backend.backend()
    gpu = _jax_gpu() if backend == "jax" else _tensorflow_gpu()
    if gpu:
        name, capability = gpu
        auto_precision = "bf16" if tuple(capability) >= (8, 0) else "fp16"
        auto_xla = True
    else:
        name = cpu_name()
        # Measured on the 2-core development machine (AMD EPYC, AVX-512 BF16, no AMX), in training
        # images per 2 CPU-seconds, variants taken in turn in one process (the cores are shared):
        # - bfloat16 vs float32: simple_cnn (batch 64) 2,990-3,640 vs 2,540-3,170 (+15 %);
        #   fast_cnn 32/64/64 1,237 vs 1,196 (+3 %), 64/128/128 614 vs 484 (+27 %),
        #   64/256/256 377 vs 273 (+38 %). So bfloat16 wherever the CPU has it natively.
        # - XLA: slower on the CPU, simple_cnn 1,840 vs 2,540, fast_cnn 32/64/64 838 vs 1,196: off.
        # - threads: intra-op 1 or 2 x inter-op 1 or 2 all within noise of each other, so
        #   TensorFlow's default (one per core) stays; oneDNN (TensorFlow's default on x86) must:
        #   without it the same steps ran more than 5x slower.
        # JAX on a CPU: float32 (its bfloat16 speed there was not measured), and always XLA,
        # since JAX compiles everything it runs.
        auto_precision = "bf16" if cpu_supports_bf16() and backend == "tensorflow" else "off"
        auto_xla = backend == "jax"
    precision = auto_precision if mixed_precision == "auto" else mixed_precision
    policy = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}[precision]
    keras.mixed_precision.set_global_policy(policy)
    use_xla = True if backend == "jax" else auto_xla if xla == "auto" else xla == "on"
    # The cores this process may run on (a pinned process, a container): what TensorFlow sizes its
    # thread pools by, rather than the machine's count.
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return {"kind": "gpu" if gpu else "cpu", "name": name, "precision": policy, "xla": use_xla,
            "backend": backend, "threads": threads, **_backend_details(backend, threads),
            "gpu_visible": settings.cuda_visible_devices(), "keras": keras.__version__}


def _tensorflow_gpu():
    """(name, compute capability) of TensorFlow's first GPU, or None."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)  # as TF_FORCE_GPU_ALLOW_GROWTH
        except RuntimeError:
            pass  # already started: prepare_process() set the variable before it did
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    return details.get("device_name", "GPU"), tuple(details.get("compute_capability") or (0, 0))


def _jax_gpu():
    """(name, compute capability) of JAX's first GPU, or None."""
    import jax

    try:
        device = jax.devices("gpu")[0]
    except RuntimeError:  # no GPU backend here
        return None
    capability = tuple(int(part) for part in str(getattr(device, "compute_capability", "0.0")).split("."))
    return device.device_kind, capability


def _backend_details(backend, threads):
    if backend == "jax":
        import jax

        return {"jax": jax.__version__}
    import tensorflow as tf

    return {"intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or threads,
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or threads,
            "onednn": settings.onednn_enabled() and platform.machine() in ("x86_64", "AMD64"),
            "tensorflow": tf.__version__}


def float32_copy(model):
    """The same network and weights computing in float32: what a run saves.

    A model trained under a mixed precision policy keeps it in its layers' configs, and a
    bfloat16 model loaded on a CPU without native bfloat16 predicts several times slower. The
    weights themselves are float32 either way, so nothing is lost.
    """
    import keras

    config = model.get_config()
    if not _to_float32(config):
        return keras.Model(model.inputs, model.outputs, name=model.name)
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def _to_float32(node):
    """Turn every mixed DTypePolicy in a (nested) layer config into float32; True if any was."""
    changed = False
    if isinstance(node, dict):
        if "DTypePolicy" in str(node.get("class_name", "")) and str(
                (node.get("config") or {}).get("name", "")).startswith("mixed_"):
            node["config"]["name"] = "float32"
            return True
        for value in node.values():
            changed |= _to_float32(value)
    elif isinstance(node, list):
        for value in node:
            changed |= _to_float32(value)
    return changed
