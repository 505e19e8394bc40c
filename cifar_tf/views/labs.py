"""The classroom labs' charts: a function's contours with descent paths, and loss landscapes."""
import math

import altair as alt
import numpy as np
import pandas as pd

from ..labs.gradient_descent import contour_grid, get_function


def filled_contours(xs, ys, values, *, levels=12, edges=None, log_scale=False, value_title="f", x_title="x",
                    y_title="y", x_domain=None, y_domain=None):
    """An Altair layer of filled contour bands: a heatmap whose colours step at `levels` quantiles.

    Quantile levels spread the bands evenly over the picture whatever the function's range, which
    is what makes a steep valley (Rosenbrock) and a gentle bowl equally readable. Pictures to be
    compared pass the same `edges` (values where the colour steps) instead.
    """
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
    wx, wy = 1.3 * hx, 1.3 * hy
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


# Path colours that stand out on every colour of viridis' contours (no yellow: the peaks are yellow).
PATH_COLOURS = ["#e41a1c", "#00d2ff", "#ff7f00", "#f781bf", "#a65628", "#984ea3", "#000000", "#ffffff"]


def path_chart(function, paths, *, upto=None, resolution=60, max_points=400, width="container", height=420):
    """Contours of `function` with one line per labelled path, start (circle) and end (square) markers.

    `paths` maps a label ("sgd from (0, 0)") to a path from `descend`; `upto` shows each path only
    up to that step, with a marker at its current point, for stepping through or animating.
    """
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
                      scale=alt.Scale(domain=list(paths), range=PATH_COLOURS))  # colours in the order given
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
        # A dark edge under each path: it reads on the light contours and on the dark ones.
        layers.append(alt.Chart(lines).mark_line(strokeWidth=5, clip=True, color="#222", opacity=0.6).encode(
            x="x:Q", y="y:Q", order="step:Q", detail="path:N"))
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


def landscape_1d_chart(results, *, height=320):
    """Loss along the random direction, one line per run: `results` maps a label to `run_landscape(dims=1)`."""
    frame = pd.DataFrame([{"run": label, "step along the direction": a, "training loss": v}
                          for label, result in results.items() for a, v in zip(result["alphas"], result["losses"])])
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("step along the direction:Q", title="distance along the direction (in filter norms)"),
        y=alt.Y("training loss:Q", scale=alt.Scale(type="log"), title="training loss (log scale)"),
        color=alt.Color("run:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=400),
                        scale=alt.Scale(domain=list(results), scheme="set1")),
        tooltip=["run:N", alt.Tooltip("step along the direction:Q", format="+.2f"),
                 alt.Tooltip("training loss:Q", format=".4f")],
    ).properties(height=height)


def landscape_2d_charts(results, *, size=300, levels=12):
    """Filled loss contours on the plane of the two directions, one chart per run side by side, with
    the trained weights marked at the centre. The colours step at the same losses (spaced evenly on a
    log scale over all runs) so that a wider dark basin really is a flatter minimum."""
    everything = np.concatenate([np.ravel(r["losses"]) for r in results.values()])
    low, high = float(np.nanmin(everything)), float(np.nanmax(everything))
    edges = np.geomspace(max(low, 1e-6), max(high, low * 1.0001, 2e-6), levels + 1)
    centre = alt.Chart(pd.DataFrame({"x": [0.0], "y": [0.0]})).mark_point(
        shape="cross", size=120, color="white", filled=True).encode(x="x:Q", y="y:Q")
    charts = [alt.layer(filled_contours(r["alphas"], r["betas"], np.asarray(r["losses"]), edges=edges,
                                        value_title="training loss", x_title="direction 1", y_title="direction 2"),
                        centre).properties(width=size, height=size, title=label)
              for label, r in results.items()]
    return alt.hconcat(*charts, spacing=40)
