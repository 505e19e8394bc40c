import json
import shutil

import numpy as np
import pytest

from cifar_tf.labs import measures, sam_pairs, sharpness
from cifar_tf.runs import store

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from cifar_tf.cli import main  # noqa: E402
from cifar_tf.training.config import TrainConfig  # noqa: E402


@pytest.fixture
def tiny():
    """A small softmax classifier of 4 features into 3 classes, and 50 examples."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(0)
    return model, rng.normal(size=(50, 4)).astype("float32"), rng.integers(0, 3, 50)


def weights_of(model):
    return [w.numpy().copy() for w in model.weights]


def test_sharpness_is_non_negative_grows_with_rho_and_restores_the_weights(tiny):
    model, x, y = tiny
    before = weights_of(model)
    small = sharpness.sharpness(model, x, y, rho=0.01, steps=3, batch_size=16)
    large = sharpness.sharpness(model, x, y, rho=0.2, steps=3, batch_size=16)
    assert 0 < small["sharpness"] < large["sharpness"]
    assert small["loss"] == pytest.approx(large["loss"])
    assert all(np.array_equal(a, b) for a, b in zip(before, weights_of(model)))


def test_one_ascent_step_is_the_sam_perturbation(tiny):
    model, x, y = tiny
    result = sharpness.sharpness(model, x, y, rho=0.05, steps=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x)))
    gradients = tape.gradient(loss, model.trainable_weights)
    norm = tf.linalg.global_norm(gradients)
    for w, g in zip(model.trainable_weights, gradients):
        w.assign_add(0.05 * g / norm)
    moved = float(tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x))))
    assert result["loss"] == pytest.approx(float(loss), rel=1e-5)
    assert result["perturbed_loss"] == pytest.approx(max(moved, float(loss)), rel=1e-4)


def test_top_eigenvalue_of_least_squares_is_exact():
    # Loss mean((Xw - y)^2) has the Hessian 2 X^T X / n: known without any network.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 3)).astype("float32") * np.array([3.0, 1.0, 0.5], "float32")
    y = rng.normal(size=(50, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    found = sharpness.top_hessian_eigenvalue(model, x, y, iterations=200, batch_size=16, tolerance=1e-7,
                                       loss=lambda target, prediction: keras.ops.square(target - prediction))
    expected = np.linalg.eigvalsh(2 * x.T.astype("float64") @ x / len(x)).max()
    assert found["eigenvalue"] == pytest.approx(expected, rel=1e-4)


def test_top_eigenvalue_matches_the_explicit_hessian_of_a_small_network(tiny):
    model, x, y = tiny
    weights = model.trainable_weights
    with tf.GradientTape(persistent=True) as outer:
        with tf.GradientTape() as inner:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=False)))
        flat = tf.concat([tf.reshape(g, [-1]) for g in inner.gradient(loss, weights)], axis=0)
    size = int(flat.shape[0])
    hessian = tf.concat([tf.reshape(outer.jacobian(flat, w), [size, -1]) for w in weights], axis=1)
    hessian = hessian.numpy().astype("float64")
    eigenvalues = np.linalg.eigvalsh((hessian + hessian.T) / 2)
    largest = eigenvalues[np.argmax(np.abs(eigenvalues))]
    found = sharpness.top_hessian_eigenvalue(model, x, y, iterations=500, tolerance=1e-8)
    assert found["eigenvalue"] == pytest.approx(largest, rel=1e-2)


def test_landscapes_are_the_loss_at_the_centre_and_restore_the_weights(tiny):
    model, x, y = tiny
    before = weights_of(model)
    loss = sharpness.sharpness(model, x, y, rho=0.01, steps=1)["loss"]
    line = sharpness.landscape_1d(model, x, y, points=5, span=0.5)
    assert line["alphas"] == pytest.approx([-0.5, -0.25, 0, 0.25, 0.5])
    assert line["losses"][2] == pytest.approx(loss, rel=1e-5)
    plane = sharpness.landscape_2d(model, x, y, points=3)
    assert np.shape(plane["losses"]) == (3, 3) and plane["losses"][1][1] == pytest.approx(loss, rel=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(before, weights_of(model)))


def test_directions_are_filter_normalised():
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(3, 3, 2, 4)).astype("float32"), rng.normal(size=4).astype("float32")]
    kernel, bias = sharpness.filter_normalized_direction(weights, rng)
    assert np.allclose(np.linalg.norm(kernel.reshape(-1, 4), axis=0), np.linalg.norm(weights[0].reshape(-1, 4), axis=0))
    assert not bias.any()


@pytest.fixture
def finished_runs(tmp_path, trained_runs):
    folder = tmp_path / "runs"
    shutil.copytree(trained_runs, folder)
    return folder


def test_cli_sharpness_json_gives_both_measures_and_caches_them(finished_runs, capsys):
    run = next(r for r in store.list_runs(finished_runs)[0] if r.name == "baseline")
    # Fewer images and iterations than the defaults (4 x 128, 20): the same code, in less time.
    small = ["--batches", "2", "--batch-size", "64", "--iterations", "8"]
    assert main(["sharpness", run.id, "--json", "--runs-dir", str(finished_runs), *small]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sharpness"] > 0 and result["hessian_eigenvalue"] > 0  # a trained net: uphill all around
    assert result["perturbed_loss"] == pytest.approx(result["loss"] + result["sharpness"])
    assert result["settings"] == {**measures.DATA_DEFAULTS, **measures.SHARPNESS_DEFAULTS, "batches": 2, "batch_size": 64,
                                  "iterations": 8}
    assert measures.cached(run, "sharpness", batches=2, batch_size=64, iterations=8) == result
    assert measures.cached(run, "sharpness") is None  # other settings, other entry
    # The second time it is read from sharpness.json, with the same numbers.
    assert main(["sharpness", run.id, "--runs-dir", str(finished_runs), *small]) == 0
    assert f"{result['sharpness']:.4f}" in capsys.readouterr().out


def test_cli_landscape_and_errors(finished_runs, capsys):
    run = store.list_runs(finished_runs)[0][0]
    assert main(["landscape", run.id, "--json", "--points", "3", "--batches", "1", "--batch-size", "32",
                 "--runs-dir", str(finished_runs)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["losses"]) == 3 and result["images"] == 32
    assert main(["sharpness", run.id, "--rho", "0", "--runs-dir", str(finished_runs)]) == 2
    assert capsys.readouterr().err.startswith("error: --rho: ")
    assert main(["sharpness", "no-such-run", "--runs-dir", str(finished_runs)]) == 1


def test_the_same_run_gets_the_same_images(finished_runs):
    run = store.list_runs(finished_runs)[0][0]
    x1, y1 = measures.fixed_batches(run, batches=1, batch_size=20)
    x2, y2 = measures.fixed_batches(run, batches=1, batch_size=20)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2) and len(x1) == 20


class FakeManager:
    def __init__(self, folder):
        self.folder, self.submitted = folder, []

    def submit(self, config, *, name=None, tags=None):
        self.submitted.append(config)
        return store.create_run(self.folder, arch=config.arch, config=config.to_dict(), name=name,
                                   status="queued", tags=tags)


def test_a_pair_differs_only_in_sam(runs_dir):
    manager = FakeManager(runs_dir)
    pair_id, plain, sam = sam_pairs.submit_pair(manager, TrainConfig(epochs=1, seed=3), 0.1)
    a, b = (c.to_dict() for c in manager.submitted)
    assert {k for k in a if a[k] != b[k]} == {"sam_rho"} and b["sam_rho"] == 0.1
    pairs = sam_pairs.sam_pairs(store.list_runs(runs_dir)[0])
    assert [(p["id"], p["plain"].id, p["sam"].id) for p in pairs] == [(pair_id, plain.id, sam.id)]
