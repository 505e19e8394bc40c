import json

import numpy as np
import pytest

from cifar_tf.cli import main
from cifar_tf.labs import gradient_descent as gd
from cifar_tf.validation import InvalidArgument
from cifar_tf.views import labs as lab_charts
from helpers import chart_rows

GLOBAL, GLOBAL_F = (-1.0882, 0.5441), -2.2807
LOCAL, LOCAL_F = (0.6059, -0.3030), 1.2427


def test_report004_from_origin_reaches_the_global_minimum():
    path = gd.descend("seed004", (0, 0), "sgd", lr=0.01, steps=5000)
    assert np.allclose(path[-1], GLOBAL, atol=1e-3)
    assert gd.FUNCTIONS["seed004"].value(*path[-1]) == pytest.approx(GLOBAL_F, abs=1e-3)


def test_report004_from_one_one_stops_in_the_local_minimum():
    path = gd.descend("seed004", (1, 1), "sgd", lr=0.01, steps=5000)
    assert np.allclose(path[-1], LOCAL, atol=1e-3)
    assert gd.FUNCTIONS["seed004"].value(*path[-1]) == pytest.approx(LOCAL_F, abs=1e-3)


def test_report004_defaults_are_the_lesson():
    function = gd.FUNCTIONS["seed004"]
    path = gd.descend(function, function.start, "sgd", function.lr, function.steps)
    assert np.allclose(path[-1], GLOBAL, atol=1e-3)
    rows = gd.results_table(function, gd.race(function, gd.parse_points(gd.LESSON["starts"]), ["sgd"],
                                              gd.LESSON["lr"], gd.LESSON["steps"]), gd.LESSON["steps"])
    assert [row["where"] for row in rows] == ["global minimum", "local minimum"]


@pytest.mark.parametrize("name", list(gd.FUNCTIONS))
def test_gradients_match_finite_differences(name):
    function = gd.FUNCTIONS[name]
    (x0, x1), (y0, y1) = function.window
    rng = np.random.default_rng(0)
    h = 1e-6
    for x, y in zip(rng.uniform(x0, x1, 20), rng.uniform(y0, y1, 20)):
        gx, gy = function.gradient(x, y)
        assert gx == pytest.approx((function.value(x + h, y) - function.value(x - h, y)) / (2 * h), rel=1e-5, abs=1e-5)
        assert gy == pytest.approx((function.value(x, y + h) - function.value(x, y - h)) / (2 * h), rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("name", list(gd.FUNCTIONS))
def test_known_minima_are_stationary_and_defaults_are_slider_choices(name):
    function = gd.FUNCTIONS[name]
    for point in function.minima:
        assert np.hypot(*function.gradient(*point)) < 2e-3
    assert function.lr in gd.LEARNING_RATES and function.steps in gd.STEP_CHOICES


@pytest.mark.parametrize("optimizer", gd.OPTIMIZERS)
def test_every_optimizer_matches_keras(optimizer):
    keras = pytest.importorskip("keras")
    make = {"sgd": lambda: keras.optimizers.SGD(0.03),
            "momentum": lambda: keras.optimizers.SGD(0.03, momentum=0.9),
            "nesterov": lambda: keras.optimizers.SGD(0.03, momentum=0.9, nesterov=True),
            "adam": lambda: keras.optimizers.Adam(0.03),
            "rmsprop": lambda: keras.optimizers.RMSprop(0.03)}[optimizer]()
    function = gd.FUNCTIONS["bowl"]
    variable = keras.Variable(np.array([-2.5, 1.0]), dtype="float64")
    points = []
    for _ in range(20):
        gradient = np.array(function.gradient(*variable.numpy()))
        make.apply_gradients([(keras.ops.convert_to_tensor(gradient), variable)])
        points.append(variable.numpy())
    ours = gd.descend(function, (-2.5, 1.0), optimizer, 0.03, 20)
    assert np.allclose(ours[1:], points, atol=1e-4)


def test_momentum_beats_plain_descent_in_the_ill_conditioned_bowl():
    f = gd.FUNCTIONS["bowl"]
    plain = gd.descend(f, f.start, "sgd", 0.01, 100)[-1]
    momentum = gd.descend(f, f.start, "momentum", 0.01, 100)[-1]
    assert f.value(*momentum) < f.value(*plain) / 10


def test_saddle_stops_on_the_ridge_and_escapes_off_it():
    f = gd.FUNCTIONS["saddle"]
    stuck = gd.descend(f, (1.5, 0.0), "sgd", 0.05, 300)
    assert gd.results_table(f, {"on": stuck}, 300)[0]["where"] == "flat point, not a minimum"
    escaped = gd.descend(f, (1.5, 0.001), "sgd", 0.05, 300)
    assert abs(escaped[-1, 1]) == pytest.approx(1, abs=1e-3)


def test_divergence_cuts_the_path():
    path = gd.descend("bowl", (-2.5, 1.0), "sgd", lr=1.0, steps=1000)
    assert len(path) < 1001 and np.all(np.isfinite(path))
    assert gd.summarize("bowl", path, 1000)["diverged"]


@pytest.mark.parametrize("kwargs, name", [
    (dict(optimizer="newton"), "optimizer"), (dict(lr=0), "lr"), (dict(steps=-1), "steps"),
    (dict(momentum=1.0), "momentum"), (dict(start="1"), "start"), (dict(function="nope"), "function"),
])
def test_bad_values_name_the_argument(kwargs, name):
    args = dict(function="seed004", start=(0, 0)) | kwargs
    with pytest.raises(InvalidArgument) as error:
        gd.descend(**args)
    assert error.value.name == name


def test_parse_points():
    assert [p.tolist() for p in gd.parse_points("0, 0; 1,1")] == [[0, 0], [1, 1]]
    with pytest.raises(InvalidArgument):
        gd.parse_points("; ;")
    with pytest.raises(InvalidArgument):
        gd.parse_point("nan, 1")


def test_path_chart_draws_every_path_up_to_the_chosen_step_in_colours_off_the_contours():
    for name, function in gd.FUNCTIONS.items():
        paths = gd.race(function, [function.start], ["sgd", "adam"], function.lr, 50)
        chart = lab_charts.path_chart(function, paths, upto=10)
        drawn = [row for row in chart_rows(chart) if "path" in row and "where" not in row]
        assert {row["path"] for row in drawn} == set(paths), name
        assert max(row["step"] for row in drawn) == 10
        now = [row for row in chart_rows(chart) if row.get("where") == "now"]
        assert len(now) == 2 and all(row["step"] == 10 for row in now)
    # Viridis ends in yellow: no path may be drawn in yellow on it.
    assert not any(colour.lower() in ("#ffff33", "#fde725", "#ffff00") for colour in lab_charts.PATH_COLOURS)


def test_animation_steps_start_at_zero_and_end_at_the_last_step():
    frames = gd.animation_steps(1000)
    assert frames[0] == 0 and frames[-1] == 1000 and frames == sorted(set(frames)) and len(frames) <= 31


def test_cli_defaults_reach_the_global_minimum(capsys):
    assert main(["gd", "--function", "seed004", "--start", "0,0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert np.allclose(result["final_point"], GLOBAL, atol=1e-3)
    assert result["final_value"] == pytest.approx(GLOBAL_F, abs=1e-3)
    assert result["nearest_minimum"]["distance"] < 1e-3 and not result["diverged"]


def test_cli_issue_command_and_text_output(capsys):
    assert main(["gd", "--function", "seed004", "--start", "1,1", "--optimizer", "sgd", "--lr", "0.01",
                 "--steps", "5000"]) == 0
    out = capsys.readouterr().out
    assert "final point (0.6059" in out and "f = 1.2427" in out


@pytest.mark.parametrize("argv, flag", [
    (["--start", "1"], "--start"), (["--lr", "-1"], "--lr"), (["--steps", "1.5"], "--steps"),
    (["--function", "nope"], "--function"), (["--optimizer", "newton"], "--optimizer"),
])
def test_cli_bad_values(capsys, argv, flag):
    assert main(["gd", *argv]) == 2
    assert capsys.readouterr().err.startswith(f"error: {flag}: ")
