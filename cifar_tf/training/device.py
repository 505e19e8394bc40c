"""The settings that suit the device a run trains on: precision, XLA, GPU memory growth.

`configure()` applies a TrainConfig's choices inside a training process and says what it chose;
`float32_copy()` is what a run saves. What the machine has is `cifar_tf.hardware`.
"""
import os
import platform

from .. import settings
from ..hardware import cpu_name, cpu_supports_bf16


def configure(mixed_precision="auto", xla="auto"):
    """Set up TensorFlow for training here; return what was chosen, for run.json."""
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            # Several runs share one GPU: each takes memory as it needs it, not all at once.
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass  # already initialised in this process
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        name = details.get("device_name", "GPU")
        capability = details.get("compute_capability") or (0, 0)
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
        auto_precision = "bf16" if cpu_supports_bf16() else "off"
        auto_xla = False
    precision = auto_precision if mixed_precision == "auto" else mixed_precision
    policy = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}[precision]
    keras.mixed_precision.set_global_policy(policy)
    use_xla = auto_xla if xla == "auto" else xla == "on"
    threads = os.cpu_count() or 1
    return {"kind": "gpu" if gpus else "cpu", "name": name, "precision": policy, "xla": use_xla,
            "threads": threads,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or threads,
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or threads,
            "onednn": settings.onednn_enabled() and platform.machine() in ("x86_64", "AMD64"),
            "tensorflow": tf.__version__, "keras": keras.__version__}


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
