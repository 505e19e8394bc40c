"""The app's measurements, each run in a fresh process: start-up to a healthy server and a first
page, and the latency of one prediction."""
import statistics
import time

from ..training.presets import preset_config
from .app_client import open_page, streamlit_server


def app_startup():
    """Seconds from `streamlit run app.py` to a healthy server, and to its first page (Home, cold:
    the first view pays for the imports), opened as a browser tab does."""
    with streamlit_server() as (url, healthy, _):
        page, exceptions = open_page(url)
    if exceptions:
        raise RuntimeError(f"the first page showed {exceptions} exception(s)")
    return {"server_seconds": round(healthy, 2), "first_page_seconds": round(page, 2),
            "to_first_page_seconds": round(healthy + page, 2)}


def task_predict(count=200):
    """Latency of one prediction on a loaded model: the demo model when it is there."""
    import numpy as np

    from ..evaluation.predict import load_model, predict_proba
    from ..runs.store import demo_run

    demo = demo_run()
    if demo:
        model, name = load_model(demo.model_path), f"the demo model ({demo.id})"
    else:
        import keras

        from ..models.registry import build_model

        keras.mixed_precision.set_global_policy("float32")
        config = preset_config("fast")
        model, name = build_model(config.arch, **config.arch_params), f"{config.arch} (untrained: no demo model)"
    image = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    for _ in range(5):
        predict_proba(model, image)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        predict_proba(model, image)
        times.append((time.perf_counter() - started) * 1000)
    tta = []
    for _ in range(max(10, count // 4)):
        started = time.perf_counter()
        predict_proba(model, image, tta=True)
        tta.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"model": name, "count": count, "median_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 2),
            "tta_median_ms": round(statistics.median(tta), 2)}
