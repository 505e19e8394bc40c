"""What this machine has to train on, read without importing TensorFlow (for pages and defaults)."""
import functools
import os
import platform
import shutil
import subprocess

from . import settings


def cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's feature flags as /proc/cpuinfo lists them (empty where there is none)."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            line = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return frozenset()
    return frozenset(line.partition(":")[2].split())


def cpu_supports_bf16():
    """AVX-512 BF16 or AMX: bfloat16 matrix work runs natively on this CPU."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def cpu_features():
    """What a CPU speed figure depends on, in words: "AVX2, no AVX-512, no bfloat16"."""
    flags = cpu_flags()
    vector = "AVX-512" if "avx512f" in flags else "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"
    return f"{vector}, {'bfloat16' if cpu_supports_bf16() else 'no bfloat16'}"


@functools.lru_cache(maxsize=1)
def gpu_names():
    """GPU names from nvidia-smi, without importing TensorFlow (empty when there is none); asked once
    per process, since the GPUs do not change while it runs."""
    if not shutil.which("nvidia-smi"):
        return ()
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in out.splitlines() if line.strip())


def device_summary():
    gpus = gpu_names()
    return {"kind": "gpu" if gpus else "cpu", "gpus": list(gpus), "cpu": cpu_name(),
            "cpu_count": os.cpu_count() or 1, "bf16": cpu_supports_bf16(),
            "cpu_features": cpu_features()}


def gpus_for_runs():
    """The GPU ids (as CUDA_VISIBLE_DEVICES names them) that training processes may be placed on:
    those this process was started with, before keep_gpus_free() hid them from it."""
    given = settings.gpus_for_runs_setting()
    if given is None:
        return tuple(str(index) for index in range(len(gpu_names())))
    return tuple(part.strip() for part in given.split(",") if part.strip() and part.strip() != "-1")


def keep_gpus_free():
    """Hide the GPUs from this process (the app server, a command that queues runs), before
    TensorFlow or JAX start: it builds models to check them and draws charts, and must not take
    GPU memory that the runs it starts need. Its children are placed on the GPUs it had."""
    settings.hide_gpus(gpus_for_runs())
