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

from .validation import InvalidArgument, check_choice, check_float, check_int

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
    "nesterov": r"v \leftarrow \beta v - \eta\,\nabla f(p),\quad p \leftarrow p + \beta v - \eta\,\nabla f(p)",
    "adam": r"m \leftarrow \beta_1 m + (1 - \beta_1) g,\ \ s \leftarrow \beta_2 s + (1 - \beta_2) g^2,\ \ "
            r"p \leftarrow p - \eta\,\hat m / (\sqrt{\hat s} + \epsilon)",
    "rmsprop": r"s \leftarrow \rho s + (1 - \rho) g^2,\quad p \leftarrow p - \eta\, g / \sqrt{s + \epsilon}",
}
# The defaults of keras.optimizers, so the playground behaves like training does.
OPTIMIZER_DEFAULTS = dict(momentum=0.9, beta1=0.9, beta2=0.999, rho=0.9, epsilon=1e-7)


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


def descend(function, start, optimizer="sgd", lr=0.01, steps=1000, *, momentum=0.9, beta1=0.9,
            beta2=0.999, rho=0.9, epsilon=1e-7):
    """Run `optimizer` on `function` from `start`: the visited points, shape (steps + 1, 2).

    The path is cut short if it diverges (leaves the plane's 1e6 box or overflows).
    """
    function = get_function(function) if isinstance(function, str) else function
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    lr = check_float("lr", lr, low=0, high=100, low_open=True)
    steps = check_int("steps", steps, low=0, high=1_000_000)
    momentum = check_float("momentum", momentum, low=0, high=0.999)
    beta1 = check_float("beta1", beta1, low=0, high=0.9999)
    beta2 = check_float("beta2", beta2, low=0, high=0.99999)
    rho = check_float("rho", rho, low=0, high=0.9999)
    epsilon = check_float("epsilon", epsilon, low=0, high=1, low_open=True)

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


# --- charts ------------------------------------------------------------------------------------

def filled_contours(xs, ys, values, *, levels=12, edges=None, log_scale=False, value_title="f", x_title="x",
                    y_title="y", x_domain=None, y_domain=None):
    """An Altair layer of filled contour bands: a heatmap whose colours step at `levels` quantiles.

    Quantile levels spread the bands evenly over the picture whatever the function's range, which
    is what makes a steep valley (Rosenbrock) and a gentle bowl equally readable. Pictures to be
    compared pass the same `edges` (values where the colour steps) instead.
    """
    import altair as alt
    import pandas as pd

    xs, ys, values = np.asarray(xs, float), np.asarray(ys, float), np.asarray(values, float)
    if edges is None:
        shade = np.log1p(values - np.nanmin(values)) if log_scale else values
        edges = np.unique(np.nanquantile(shade, np.linspace(0, 1, levels + 1)))
    else:
        shade, edges = values, np.asarray(edges, float)
    band = np.clip(np.searchsorted(edges, shade, side="right") - 1, 0, max(len(edges) - 2, 0))
    gx, gy = np.meshgrid(xs, ys)
    # Rounded and only the cell centres: the chart's JSON is resent on every redraw (an animation
    # redraws many times); Vega works out the cell edges.
    frame = pd.DataFrame({"x": gx.ravel(), "y": gy.ravel()}).round(5)
    frame["value"] = [float(f"{v:.4g}") for v in values.ravel()]
    frame["band"] = band.ravel()
    hx, hy = _half_step(xs), _half_step(ys)
    x_scale = alt.Scale(domain=[float(v) for v in (x_domain or (xs[0] - hx, xs[-1] + hx))], nice=False, zero=False)
    y_scale = alt.Scale(domain=[float(v) for v in (y_domain or (ys[0] - hy, ys[-1] + hy))], nice=False, zero=False)
    # Cells overlap a little: abutting rectangles leave hairline antialiasing seams.
    wx, wy = 1.08 * hx, 1.08 * hy
    return alt.Chart(frame).transform_calculate(
        x0=f"datum.x - {wx!r}", x1=f"datum.x + {wx!r}", y0=f"datum.y - {wy!r}", y1=f"datum.y + {wy!r}",
    ).mark_rect(stroke=None, opacity=1, clip=True).encode(
        x=alt.X("x0:Q", scale=x_scale, title=x_title), x2="x1:Q",
        y=alt.Y("y0:Q", scale=y_scale, title=y_title), y2="y1:Q",
        # fill, not color: layers drawn over the contours keep the color channel to themselves.
        fill=alt.Fill("band:Q", scale=alt.Scale(scheme="viridis", domain=[0, max(len(edges) - 2, 1)]), legend=None),
        tooltip=[alt.Tooltip("value:Q", title=value_title, format=".4g")])


def _half_step(axis):
    """Half the spacing of an evenly spaced axis, as a plain float."""
    return float(axis[1] - axis[0]) / 2 if len(axis) > 1 else 0.5


def path_chart(function, paths, *, upto=None, resolution=60, max_points=400, width=560, height=460):
    """Contours of `function` with one line per labelled path, start (circle) and end (square) markers.

    `paths` maps a label ("sgd from (0, 0)") to a path from `descend`; `upto` shows each path only
    up to that step, with a marker at its current point, for stepping through or animating.
    """
    import altair as alt
    import pandas as pd

    function = get_function(function) if isinstance(function, str) else function
    xs, ys, values = contour_grid(function, resolution=resolution)
    (x0, x1), (y0, y1) = function.window
    rows, ends = [], []
    for label, path in paths.items():
        shown = path if upto is None else path[:max(1, min(upto, len(path) - 1) + 1)]
        for step in _thin(shown, max_points, tolerance=math.hypot(x1 - x0, y1 - y0) / 600):
            rows.append({"path": label, "step": int(step), "x": shown[step, 0], "y": shown[step, 1],
                         "f": float(function.value(*shown[step]))})
        last = shown[-1]
        ends.append({"path": label, "where": "start", "step": 0, "x": path[0, 0], "y": path[0, 1],
                     "f": float(function.value(*path[0]))})
        ends.append({"path": label, "where": "end" if upto is None else "now", "step": len(shown) - 1,
                     "x": last[0], "y": last[1], "f": float(function.value(*last))})
    lines, points = pd.DataFrame(rows), pd.DataFrame(ends)
    # The contour layer fixes the axes to the window; paths leaving it are clipped.
    color = alt.Color("path:N", title=None, legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=400,
                                                              symbolStrokeWidth=4),
                      scale=alt.Scale(domain=list(paths), scheme="set1"))  # colours in the order given
    tooltip = ["path:N", "step:Q", alt.Tooltip("x:Q", format=".4f"), alt.Tooltip("y:Q", format=".4f"),
               alt.Tooltip("f:Q", format=".4f")]
    layers = [filled_contours(xs, ys, values, log_scale=function.log_scale, x_domain=(x0, x1),
                              y_domain=(y0, y1))]
    if function.minima:
        minima = pd.DataFrame([{"x": x, "y": y, "f": float(function.value(x, y))} for x, y in function.minima])
        layers.append(alt.Chart(minima).mark_point(shape="diamond", size=140, color="white", filled=True,
                                                   stroke="black", strokeWidth=1, clip=True).encode(
            x="x:Q", y="y:Q", tooltip=[alt.Tooltip("x:Q", format=".4f"), alt.Tooltip("y:Q", format=".4f"),
                                       alt.Tooltip("f:Q", title="minimum f", format=".4f")]))
    if len(lines):
        layers.append(alt.Chart(lines).mark_line(strokeWidth=2.5, clip=True, point=False).encode(
            x="x:Q", y="y:Q", color=color, order="step:Q", detail="path:N", tooltip=tooltip))
        layers.append(alt.Chart(points).mark_point(filled=True, size=110, stroke="white", strokeWidth=1.5,
                                                   opacity=1, clip=True).encode(
            x="x:Q", y="y:Q", color=color, tooltip=["where:N"] + tooltip,
            shape=alt.Shape("where:N", legend=None, scale=alt.Scale(domain=["start", "end", "now"],
                                                                     range=["circle", "square", "triangle-up"]))))
    return alt.layer(*layers).properties(width=width, height=height)


def _thin(path, max_points, tolerance):
    """Indices of the points worth drawing: each at least `tolerance` from the last one kept, at most
    `max_points`, always the first and the last. A path that has converged is thousands of points
    on one pixel; dropping them keeps charts light without changing the picture."""
    kept, last = [0], path[0]
    for i in range(1, len(path)):
        if abs(path[i, 0] - last[0]) + abs(path[i, 1] - last[1]) > tolerance:
            kept.append(i)
            last = path[i]
    if kept[-1] != len(path) - 1:
        kept.append(len(path) - 1)
    if len(kept) > max_points:
        kept = [kept[int(round(j))] for j in np.linspace(0, len(kept) - 1, max_points)]
    return kept
