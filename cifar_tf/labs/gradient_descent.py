"""The gradient-descent playground: two-variable functions, the usual optimizers, their paths.

Everything here is numpy, so the playground opens without TensorFlow and a path of thousands of
steps takes milliseconds. The optimizers follow the update rules of `keras.optimizers` (SGD with
and without Nesterov momentum, Adam, RMSprop), written out for one point in the plane:

    path = descend("seed004", start=(0, 0), optimizer="sgd", lr=0.01, steps=1000)
    path[-1]                      # array([-1.0882,  0.5441]): the global minimum
    FUNCTIONS["seed004"].value(*path[-1])   # -2.2807

Report 004's function f(x, y) = x^2 + y^2 + x(y + 2) + cos(3x) is the lesson: from (0, 0) plain
gradient descent finds the global minimum, from (1, 1) it settles in a local one.
"""
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..validation import InvalidArgument, Limit, check_choice, check_int

# Beyond this distance from the origin a path counts as diverged: it is cut there, so a too-large
# learning rate shows as a path flying off the plot instead of overflowing to inf.
DIVERGED_AT = 1e6


@dataclass(frozen=True)
class Function:
    """A function of (x, y) with its analytic gradient, its formulas and where to look at it."""
    name: str
    title: str
    value: Callable            # (x, y) -> f, elementwise on arrays
    gradient: Callable         # (x, y) -> (df/dx, df/dy)
    formula: str               # LaTeX of f
    gradient_formula: str      # LaTeX of the gradient
    window: tuple              # ((x_min, x_max), (y_min, y_max)) to draw
    minima: tuple              # ((x, y), ...) known minima, for markers and summaries
    start: tuple               # a start point that tells the function's story
    lr: float                  # a learning rate that works for plain gradient descent
    steps: int
    description: str
    log_scale: bool = False    # colour contours by log(f - min): for steep valleys


def _seed004_value(x, y):
    return x ** 2 + y ** 2 + x * (y + 2) + np.cos(3 * x)


def _seed004_gradient(x, y):
    return 2 * x + y + 2 - 3 * np.sin(3 * x), 2 * y + x


def _rosenbrock_value(x, y):
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


def _rosenbrock_gradient(x, y):
    return -2 * (1 - x) - 400 * x * (y - x ** 2), 200 * (y - x ** 2)


def _himmelblau_value(x, y):
    return (x ** 2 + y - 11) ** 2 + (x + y ** 2 - 7) ** 2


def _himmelblau_gradient(x, y):
    a, b = x ** 2 + y - 11, x + y ** 2 - 7
    return 4 * x * a + 2 * b, 2 * a + 4 * y * b


def _saddle_value(x, y):
    return x ** 2 + y ** 4 / 4 - y ** 2 / 2


def _saddle_gradient(x, y):
    return 2 * x, y ** 3 - y


def _bowl_value(x, y):
    return (x ** 2 + 25 * y ** 2) / 2


def _bowl_gradient(x, y):
    return x, 25 * y


FUNCTIONS = {f.name: f for f in (
    Function(
        "seed004", "Report 004: x² + y² + x(y + 2) + cos(3x)", _seed004_value, _seed004_gradient,
        r"f(x, y) = x^2 + y^2 + x\,(y + 2) + \cos 3x",
        r"\nabla f = \begin{pmatrix} 2x + y + 2 - 3 \sin 3x \\ 2y + x \end{pmatrix}",
        ((-2.5, 2.0), (-1.5, 2.0)), ((-1.0882, 0.5441), (0.6059, -0.3030)), (0.0, 0.0), 0.01, 1000,
        "A bowl with a ripple: one global minimum and one local minimum. Where gradient descent ends "
        "depends on where it starts."),
    Function(
        "rosenbrock", "Rosenbrock's banana valley", _rosenbrock_value, _rosenbrock_gradient,
        r"f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2",
        r"\nabla f = \begin{pmatrix} -2(1 - x) - 400\,x\,(y - x^2) \\ 200\,(y - x^2) \end{pmatrix}",
        ((-2.0, 2.0), (-1.0, 3.0)), ((1.0, 1.0),), (-1.5, 2.0), 0.001, 2000,
        "A long curved valley with steep walls: easy to fall into, slow to follow to its minimum at (1, 1).",
        log_scale=True),
    Function(
        "himmelblau", "Himmelblau's function", _himmelblau_value, _himmelblau_gradient,
        r"f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
        r"\nabla f = \begin{pmatrix} 4x\,(x^2 + y - 11) + 2\,(x + y^2 - 7) \\ "
        r"2\,(x^2 + y - 11) + 4y\,(x + y^2 - 7) \end{pmatrix}",
        ((-5.0, 5.0), (-5.0, 5.0)),
        ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
        (0.0, 0.0), 0.01, 500,
        "Four minima, all with f = 0: which one you reach depends on the start and the optimizer.",
        log_scale=True),
    Function(
        "saddle", "A saddle: x² + y⁴/4 − y²/2", _saddle_value, _saddle_gradient,
        r"f(x, y) = x^2 + \tfrac{1}{4} y^4 - \tfrac{1}{2} y^2",
        r"\nabla f = \begin{pmatrix} 2x \\ y^3 - y \end{pmatrix}",
        ((-2.0, 2.0), (-2.0, 2.0)), ((0.0, 1.0), (0.0, -1.0)), (1.5, 0.001), 0.05, 300,
        "A saddle point at the origin between two minima at (0, ±1). The gradient vanishes at the "
        "saddle too: start on the line y = 0 and plain gradient descent stops there for good; start "
        "a hair off it and it crawls away."),
    Function(
        "bowl", "An ill-conditioned bowl: (x² + 25y²)/2", _bowl_value, _bowl_gradient,
        r"f(x, y) = \tfrac{1}{2}\,(x^2 + 25\,y^2)",
        r"\nabla f = \begin{pmatrix} x \\ 25\,y \end{pmatrix}",
        ((-3.0, 3.0), (-1.5, 1.5)), ((0.0, 0.0),), (-2.5, 1.0), 0.07, 100,
        "Curvature 25 times stronger along y than along x. A learning rate small enough for y "
        "(below 2/25 = 0.08) crawls along x; plain gradient descent zig-zags across the valley, "
        "momentum and Adam go straight."),
)}

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "rmsprop")
OPTIMIZER_TITLES = {"sgd": "Gradient descent", "momentum": "Momentum", "nesterov": "Nesterov",
                    "adam": "Adam", "rmsprop": "RMSprop"}
OPTIMIZER_FORMULAS = {
    "sgd": r"p \leftarrow p - \eta\,\nabla f(p)",
    "momentum": r"v \leftarrow \beta v - \eta\,\nabla f(p),\quad p \leftarrow p + v",
    "nesterov": r"\begin{aligned} v &\leftarrow \beta v - \eta\,\nabla f(p) \\ p &\leftarrow p + \beta v - \eta\,\nabla f(p) "
                r"\end{aligned}",
    # One update per line: a phone's column is narrow.
    "adam": r"\begin{aligned} m &\leftarrow \beta_1 m + (1 - \beta_1) g \\ s &\leftarrow \beta_2 s + (1 - \beta_2) g^2 "
            r"\\ p &\leftarrow p - \eta\,\hat m / (\sqrt{\hat s} + \epsilon) \end{aligned}",
    "rmsprop": r"s \leftarrow \rho s + (1 - \rho) g^2,\quad p \leftarrow p - \eta\, g / \sqrt{s + \epsilon}",
}
# The defaults of keras.optimizers, so the playground behaves like training does: `descend`'s,
# the page's sliders' and the command line's.
OPTIMIZER_DEFAULTS = dict(momentum=0.9, beta1=0.9, beta2=0.999, rho=0.9, epsilon=1e-7)
# What `descend`'s settings may hold: read by its check, the command line and the page's sliders.
LIMITS = {
    "lr": Limit(float, 0, 100, low_open=True),
    "steps": Limit(int, 0, 1_000_000),
    "momentum": Limit(float, 0.0, 0.99),    # at 1 nothing damps the velocity: the path never settles
    "beta1": Limit(float, 0.0, 0.99),
    "beta2": Limit(float, 0.9, 0.9999),     # below 0.9 Adam's step size jumps with every gradient
    "rho": Limit(float, 0.0, 0.99),
    "epsilon": Limit(float, 0, 1, low_open=True),
}


def get_function(name):
    check_choice("function", name, tuple(FUNCTIONS))
    return FUNCTIONS[name]


def parse_point(text, name="start"):
    """"0,0" or "-1.5, 2" (or a pair of numbers) → a float array (x, y)."""
    allowed = "two numbers x,y such as 0,0"
    parts = text.replace(";", ",").split(",") if isinstance(text, str) else text
    try:
        x, y = (float(part) for part in parts)
    except (TypeError, ValueError):
        raise InvalidArgument(name, text, allowed) from None
    if not all(math.isfinite(v) for v in (x, y)):
        raise InvalidArgument(name, text, allowed)
    return np.array([x, y])


def parse_points(text, name="start"):
    """"0,0; 1,1" → a list of points: several starts raced on one plot."""
    chunks = [chunk for chunk in str(text).split(";") if chunk.strip()]
    if not chunks:
        raise InvalidArgument(name, text, "one or more points x,y separated by ';', such as 0,0; 1,1")
    return [parse_point(chunk, name) for chunk in chunks]


def descend(function, start, optimizer="sgd", lr=0.01, steps=1000, *, momentum=None, beta1=None,
            beta2=None, rho=None, epsilon=None):
    """Run `optimizer` on `function` from `start`: the visited points, shape (steps + 1, 2).

    An optimizer setting left out (None) is its `OPTIMIZER_DEFAULTS` value. The path is cut short
    if it diverges (leaves the plane's 1e6 box or overflows).
    """
    given = dict(momentum=momentum, beta1=beta1, beta2=beta2, rho=rho, epsilon=epsilon)
    momentum, beta1, beta2, rho, epsilon = (OPTIMIZER_DEFAULTS[key] if value is None else value
                                            for key, value in given.items())
    function = get_function(function) if isinstance(function, str) else function
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    lr, steps, momentum, beta1, beta2, rho, epsilon = (
        LIMITS[name].check(name, value) for name, value in
        dict(lr=lr, steps=steps, momentum=momentum, beta1=beta1, beta2=beta2, rho=rho, epsilon=epsilon).items())

    p = parse_point(start)
    path = np.empty((steps + 1, 2))
    path[0] = p
    v, m, s = np.zeros(2), np.zeros(2), np.zeros(2)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            g = np.array(function.gradient(p[0], p[1]), dtype=float)
            if optimizer == "sgd":
                p = p - lr * g
            elif optimizer == "momentum":
                v = momentum * v - lr * g
                p = p + v
            elif optimizer == "nesterov":
                # Keras' form: the same as taking the gradient at the look-ahead point p + beta v.
                v = momentum * v - lr * g
                p = p + momentum * v - lr * g
            elif optimizer == "adam":
                # Keras' form: the bias corrections folded into the step size.
                m = beta1 * m + (1 - beta1) * g
                s = beta2 * s + (1 - beta2) * g * g
                step = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
                p = p - step * m / (np.sqrt(s) + epsilon)
            else:  # rmsprop
                s = rho * s + (1 - rho) * g * g
                p = p - lr * g / np.sqrt(s + epsilon)
            if not np.all(np.isfinite(p)) or np.abs(p).max() > DIVERGED_AT:
                return path[:t]
            path[t] = p
    return path


def summarize(function, path, requested_steps=None):
    """The end of a path in numbers: final point and value, distance walked, nearest known minimum."""
    function = get_function(function) if isinstance(function, str) else function
    final = path[-1]
    steps_taken = len(path) - 1
    summary = {
        "final_point": [float(final[0]), float(final[1])],
        "final_value": float(function.value(final[0], final[1])),
        "steps": steps_taken,
        "path_length": float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()),
        "gradient_norm": float(np.hypot(*function.gradient(final[0], final[1]))),
        "diverged": requested_steps is not None and steps_taken < requested_steps,
    }
    if function.minima:
        minima = np.array(function.minima)
        distances = np.linalg.norm(minima - final, axis=1)
        i = int(np.argmin(distances))
        summary["nearest_minimum"] = {"point": [float(v) for v in minima[i]],
                                      "value": float(function.value(*minima[i])),
                                      "distance": float(distances[i])}
    return summary


def contour_grid(function, window=None, resolution=60):
    """f on a resolution x resolution grid over the window: `(xs, ys, values)` with values[j, i] = f(xs[i], ys[j])."""
    function = get_function(function) if isinstance(function, str) else function
    (x0, x1), (y0, y1) = window or function.window
    resolution = check_int("resolution", resolution, low=2, high=400)
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, function.value(gx, gy)


# --- what the playground page shows ------------------------------------------------------------

# Choices for the page's sliders: every function's own learning rate and step count is among them.
LEARNING_RATES = (1e-4, 2e-4, 5e-4, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.07, 0.1, 0.2, 0.5, 1.0)
STEP_CHOICES = (10, 20, 50, 100, 200, 300, 500, 1000, 2000, 5000)
# Report 004's lesson: the same descent from two starts ends in two different minima.
LESSON = dict(function="seed004", starts="0, 0; 1, 1", optimizers=["sgd"], lr=0.01, steps=1000)


def format_point(point, digits=4):
    return "(" + ", ".join(f"{float(v):.{digits}f}" for v in point) + ")"


def race(function, starts, optimizers, lr, steps, **params):
    """Paths of every optimizer from every start, labelled for a legend: {label: path}."""
    paths = {}
    for start in starts:
        for optimizer in optimizers:
            label = OPTIMIZER_TITLES[check_choice("optimizer", optimizer, OPTIMIZERS)]
            if len(starts) > 1:
                label += f" from ({float(start[0]):g}, {float(start[1]):g})"
            paths[label] = descend(function, start, optimizer, lr, steps, **params)
    return paths


def results_table(function, paths, steps, upto=None):
    """One row per path: where it is at step `upto` (default: its end), f there, the nearest known
    minimum, and what the point is: the global minimum, a local one, a flat point (a saddle) or not
    there yet."""
    function = get_function(function) if isinstance(function, str) else function
    lowest = min((float(function.value(*m)) for m in function.minima), default=None)
    rows = []
    for label, path in paths.items():
        shown = path if upto is None else path[:min(upto, len(path) - 1) + 1]
        summary = summarize(function, shown, None)
        nearest = summary.get("nearest_minimum") or {}
        if len(path) - 1 < steps and len(shown) == len(path):
            verdict = "diverged"
        elif nearest and nearest["distance"] < 1e-2:
            verdict = "global minimum" if nearest["value"] <= lowest + 1e-3 else "local minimum"
        elif summary["gradient_norm"] < 1e-4:
            verdict = "flat point, not a minimum"
        else:
            verdict = "still moving"
        rows.append({"path": label, "step": summary["steps"], "x": summary["final_point"][0],
                     "y": summary["final_point"][1], "f(x, y)": summary["final_value"],
                     "|∇f|": summary["gradient_norm"],
                     "nearest minimum": format_point(nearest["point"]) if nearest else None,
                     "distance to it": nearest.get("distance"), "where": verdict})
    return rows


def animation_steps(steps, frames=30):
    """Steps to show when animating: closer together at the start, where most of the motion is."""
    if steps <= frames:
        return list(range(steps + 1))
    return sorted({0, steps, *np.unique(np.geomspace(1, steps, frames - 1).round().astype(int)).tolist()})
