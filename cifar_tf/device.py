"""Which device trains, and the settings that suit it (precision, XLA, GPU memory growth).

`device_summary()` reads the machine without importing TensorFlow, for the app's home page;
`configure()` applies a TrainConfig's choices inside a training process and says what it chose.
"""
import os
import platform
import shutil
import subprocess


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_supports_bf16():
    """AVX-512 BF16 or AMX: bfloat16 matrix work runs natively on this CPU."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def gpu_names():
    """GPU names from nvidia-smi, without importing TensorFlow (empty when there is none)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def device_summary():
    gpus = gpu_names()
    return {"kind": "gpu" if gpus else "cpu", "gpus": gpus, "cpu": cpu_name(),
            "cpu_count": os.cpu_count() or 1, "bf16": cpu_supports_bf16()}


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
        # Measured on the 2-core development machine: float32 and no XLA are the safe default
        # for these small convolutional nets; see docs/benchmarks.md.
        auto_precision, auto_xla = "off", False
    precision = auto_precision if mixed_precision == "auto" else mixed_precision
    policy = {"off": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}[precision]
    keras.mixed_precision.set_global_policy(policy)
    use_xla = auto_xla if xla == "auto" else xla == "on"
    return {"kind": "gpu" if gpus else "cpu", "name": name, "precision": policy, "xla": use_xla,
            "threads": os.cpu_count() or 1, "tensorflow": tf.__version__, "keras": keras.__version__}
