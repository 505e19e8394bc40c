"""Training measurements, each run in a fresh process: throughput of every architecture, the input
pipelines side by side, and a preset's time to accuracy."""
import statistics
import time

from ..training.presets import preset_config
from .tables import EPOCH_IMAGES, THRESHOLDS


def task_throughput(archs=None, steps=200, warmup=20, batch_size=64, max_seconds=None):
    """Training images/s of each architecture at its defaults; with `max_seconds`, the
    architectures not started by then are listed as skipped (a GPU check's time is counted)."""
    import keras
    import numpy as np

    from ..models.registry import ARCHITECTURES, build_model
    from ..training.device import configure

    device = configure()
    rows = []
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch_size * 16, 32, 32, 3), dtype=np.uint8)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, len(images))]
    data = _repeated_batches(images, labels, batch_size)
    started, skipped = time.time(), []
    for name in archs or ARCHITECTURES:
        if max_seconds and time.time() - started > max_seconds:
            skipped.append(name)
            continue
        keras.utils.set_random_seed(0)
        model = build_model(name)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                      jit_compile=device["xla"])
        model.fit(data, steps_per_epoch=warmup, epochs=1, shuffle=False, verbose=0)
        wall, cpu = time.time(), time.process_time()
        model.fit(data, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
        wall, cpu = time.time() - wall, time.process_time() - cpu
        rate = steps * batch_size / wall
        rows.append({"arch": name, "params": int(model.count_params()), "images_per_second": round(rate, 1),
                     "epoch_seconds": round(EPOCH_IMAGES / rate, 2),
                     "epoch_cpu_seconds": round(cpu * EPOCH_IMAGES / (steps * batch_size), 2)})
        print(f"{name}: {rate:,.0f} images/s", flush=True)
        keras.backend.clear_session()
    return {"rows": rows, "steps": steps, "batch_size": batch_size, "device": device, "skipped": skipped}


def _repeated_batches(images, labels, batch_size):
    """The same few batches over and over, held where the backend trains: a cached tf.data
    pipeline under TensorFlow, float32 tensors on the device elsewhere."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size).cache().repeat()
    batches = [(keras.ops.convert_to_tensor(images[i:i + batch_size].astype("float32")),
                keras.ops.convert_to_tensor(labels[i:i + batch_size])) for i in range(0, len(images), batch_size)]

    def forever():
        while True:
            yield from batches

    return forever()


def idg_iterator(x, y, batch_size=64, seed=0):
    """Report 001's ImageDataGenerator, as it fed its model (for this comparison only)."""
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    generator = ImageDataGenerator(rotation_range=15, width_shift_range=0.1, height_shift_range=0.1,
                                   shear_range=0.2, zoom_range=0.2, horizontal_flip=True)
    return generator.flow(x.astype("float32"), y, batch_size=batch_size, shuffle=True, seed=seed)


def task_pipeline(images=45000, rounds=3, data_dir=None, cache_dir=None, batch_size=64):
    import warnings

    import keras
    import numpy as np

    from ..data.augment import training_dataset
    from ..models.registry import build_model
    from ..training.device import configure

    warnings.filterwarnings("ignore", message=".*shuffle=True.*")
    warnings.filterwarnings("ignore", message=".*PyDataset.*")
    device = configure()
    x, y, synthetic = _training_images(images, data_dir, cache_dir)
    onehot = np.eye(10, dtype="float32")[y]
    feeds = {"idg": lambda: idg_iterator(x, onehot, batch_size),
             "ours": lambda: training_dataset(x, y, batch_size=batch_size, augmentation="seed001"),
             "none": lambda: training_dataset(x, y, batch_size=batch_size, augmentation="none")}
    models = {}
    for name in feeds:
        keras.utils.set_random_seed(0)
        models[name] = build_model("simple_cnn")
        models[name].compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                             metrics=["accuracy"], jit_compile=device["xla"])
        models[name].fit(feeds[name](), epochs=1, verbose=0)  # warm-up: tracing, first allocations
    times = {name: [] for name in feeds}
    for _ in range(rounds):
        for name, feed in feeds.items():   # in turn: a change of load hits every pipeline alike
            data = feed()
            wall, cpu = time.time(), time.process_time()
            models[name].fit(data, epochs=1, verbose=0)
            times[name].append((time.time() - wall, time.process_time() - cpu))
            print(f"{name}: {len(x) / times[name][-1][0]:,.0f} images/s", flush=True)
    rows = []
    for name, measured in times.items():
        # The fastest epoch: on shared cores the slower ones measure the neighbours, not us.
        wall = min(t[0] for t in measured)
        cpu = statistics.median(t[1] for t in measured)
        rows.append({"name": name, "images_per_second": round(len(x) / wall, 1),
                     "epoch_seconds": round(wall * EPOCH_IMAGES / len(x), 2),
                     "epoch_cpu_seconds": round(cpu * EPOCH_IMAGES / len(x), 2),
                     "rates": [round(len(x) / t[0], 1) for t in measured]})
    return {"rows": rows, "images": len(x), "rounds": rounds, "synthetic": synthetic, "device": device}


def _training_images(count, data_dir, cache_dir):
    import numpy as np

    from ..data.cifar10 import DatasetNotFound, load_cifar10, stratified_subset

    try:
        data = load_cifar10(data_dir=data_dir, cache_dir=cache_dir)
    except DatasetNotFound:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, count), True
    x, y = data.x_train, np.asarray(data.y_train).reshape(-1)
    if count < len(x):
        x, y = stratified_subset(x, y, count, seed=0)
    return np.asarray(x), np.asarray(y).reshape(-1), False


def task_preset(label, preset="fast", overrides=None, data_dir=None, cache_dir=None):
    """Train a preset (airbench recipe) on the training set, test accuracy after every epoch."""
    import keras
    import numpy as np

    from ..data.cifar10 import DatasetNotFound, load_cifar10, stratified_subset
    from ..evaluation import tta
    from ..models.registry import build_model
    from ..training import airbench
    from ..training.config import architecture_params
    from ..training.device import configure

    try:
        data = load_cifar10(data_dir=data_dir, cache_dir=cache_dir)
    except DatasetNotFound:
        return {"label": label, "skipped": "CIFAR-10 not found: python -m cifar_tf data download"}
    config = preset_config(preset, val_size=0, **(overrides or {})).validated()
    if config.recipe != "airbench":
        raise ValueError(f"preset {preset} does not use the airbench recipe")
    x, y = data.x_train, np.asarray(data.y_train).reshape(-1)
    if config.train_limit:
        x, y = stratified_subset(x, y, config.train_limit, seed=config.seed)
    x_test, y_test = data.x_test, np.asarray(data.y_test).reshape(-1)

    def test_accuracy(views):
        return float((tta.average(tta.view_scores(model, x_test, views), views).argmax(1) == y_test).mean())

    started_wall, started_cpu = time.time(), time.process_time()
    device = configure(config.mixed_precision, config.xla)
    keras.utils.set_random_seed(config.seed)
    model = build_model(config.arch, **architecture_params(config))
    curve, paused = [], {"wall": 0.0, "cpu": 0.0}

    class TestEveryEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            wall, cpu = time.time(), time.process_time()
            accuracy = test_accuracy(tta.PLAIN)
            curve.append({"epoch": epoch + 1, "seconds": round(wall - started_wall - paused["wall"], 2),
                          "accuracy": accuracy})
            print(f"epoch {epoch + 1}: test accuracy {accuracy:.4f} at {curve[-1]['seconds']:.1f} s", flush=True)
            paused["wall"] += time.time() - wall
            paused["cpu"] += time.process_time() - cpu

    airbench.fit(model, config, {"x_train": x, "y_train": y}, device=device, callbacks=[TestEveryEpoch()])
    train_seconds = time.time() - started_wall - paused["wall"]
    cpu_seconds = time.process_time() - started_cpu - paused["cpu"]
    tta_started = time.time()
    averaged = test_accuracy(tta.VIEWS)
    curve.append({"epoch": config.epochs, "seconds": round(train_seconds + time.time() - tta_started, 2),
                  "accuracy": averaged, "tta": True})
    plain = test_accuracy(tta.PLAIN)
    time_to = {}
    for threshold in THRESHOLDS:
        reached = [p["seconds"] for p in curve if p["accuracy"] >= threshold]
        time_to[f"{threshold:.2f}"] = min(reached) if reached else None
    widths = config.arch_params.get("widths", "default")
    setup = (f"{config.arch} widths {','.join(map(str, widths)) if isinstance(widths, (tuple, list)) else widths}, "
             f"{config.epochs} epochs, batch {config.batch_size}, {len(x):,} images, {device['precision']}")
    return {"label": label, "setup": setup, "config": config.to_dict(), "device": device, "curve": curve,
            "time_to": time_to, "final_accuracy": averaged, "final_accuracy_no_tta": plain,
            "train_seconds": round(train_seconds, 1), "cpu_seconds": round(cpu_seconds, 1)}


def train_flags(overrides):
    """`train`'s command-line flags for settings given as a dict: {"train_limit": 200} -> --train-limit=200,
    {"arch_params": {"widths": [8, 16, 16]}} -> --arch-param=widths=8,16,16."""
    flags = []
    for key, value in (overrides or {}).items():
        if key == "arch_params":
            flags += [f"--arch-param={name}=" + (",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v))
                      for name, v in value.items()]
        else:
            flags.append(f"--{key.replace('_', '-')}={value}")
    return flags


def cli_start_to_saved(data_dir, runs=5, preset="fast", overrides=None, runs_dir=None):
    """`python -m cifar_tf train --preset PRESET` `runs` times in a row, each timed from process
    start to saved model, with the moments its log lines appeared: how long after the last epoch
    fit returned (a stall there would show), and what the evaluation and saving took."""
    import json
    import subprocess
    import sys
    import tempfile

    from ..settings import PROJECT_DIR

    runs_dir = runs_dir or tempfile.mkdtemp(prefix="cli-runs-")
    flags = train_flags(overrides)
    rows = []
    for index in range(runs):
        started = time.time()
        process = subprocess.Popen([sys.executable, "-m", "cifar_tf", "train", "--preset", preset, "--json",
                                    "--data-dir", str(data_dir), "--runs-dir", str(runs_dir), *flags],
                                   cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        moments = {}
        for line in process.stderr:   # progress goes to stderr with --json
            now = time.time() - started
            if line.startswith("epoch "):
                moments["last_epoch"] = now
            elif " after " in line and "evaluating on the test set" in line:
                moments["fit_returned"] = now
            elif line.startswith("run ") and "parameters" in line:
                moments["model_built"] = now
        record = json.loads(process.stdout.read())
        process.wait()
        wall = time.time() - started
        train = record["metrics"]["train_seconds"]
        rows.append({"run": index + 1, "start_to_saved": round(wall, 1), "train_seconds": train,
                     "before_training": round(moments.get("model_built", 0), 1),
                     "fit_returned_after_last_epoch": round(moments["fit_returned"] - moments["last_epoch"], 2),
                     "evaluate_and_save": round(wall - moments["fit_returned"], 1),
                     "within_training_plus_10s": wall <= train + 10, "accuracy": record["metrics"]["test_accuracy"]})
        print(f"run {index + 1}: {wall:.1f} s start to saved, {train:.1f} s training", flush=True)
    return {"preset": preset, "overrides": overrides or {}, "rows": rows}
