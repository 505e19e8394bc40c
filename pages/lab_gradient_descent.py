import time

import pandas as pd
import streamlit as st

from cifar_tf.labs import gradient_descent as gd
from cifar_tf.validation import InvalidArgument
from cifar_tf.views.bounds import widget_bounds
from cifar_tf.views.labs import path_chart

st.title("Gradient descent")
st.markdown("Training a network is walking downhill on its loss. Here the hill is a function of two "
            "variables you can see whole: pick a start, a learning rate and an optimizer, and watch "
            "each step follow the slope, $p \\leftarrow p - \\eta\\,\\nabla f(p)$.")


def use_function_defaults():
    function = gd.FUNCTIONS[st.session_state["gd_function"]]
    st.session_state.update(gd_starts=f"{function.start[0]:g}, {function.start[1]:g}",
                            gd_lr=function.lr, gd_steps=function.steps)


def load_lesson():
    lesson = gd.LESSON
    st.session_state.update(gd_function=lesson["function"], gd_starts=lesson["starts"],
                            gd_optimizers=lesson["optimizers"], gd_lr=lesson["lr"], gd_steps=lesson["steps"])


if "gd_function" not in st.session_state:
    load_lesson()

with st.container(border=True):
    text, button = st.columns([4, 1], vertical_alignment="center")
    text.markdown("**The lesson of report 004.** Plain gradient descent on $f(x, y) = x^2 + y^2 + x(y + 2) + "
                  "\\cos 3x$ with learning rate 0.01: from (0, 0) it reaches the global minimum, from (1, 1) "
                  "it stops in a local one. Gradient descent only sees the slope where it stands.")
    button.button("Show the lesson", on_click=load_lesson, icon=":material/school:", key="gd_lesson",
                  width="stretch")

controls, picture = st.columns([1, 2], gap="large")
with controls:
    function = gd.FUNCTIONS[st.selectbox("Function", list(gd.FUNCTIONS), key="gd_function",
                                         format_func=lambda name: gd.FUNCTIONS[name].title,
                                         on_change=use_function_defaults)]
    st.caption(function.description)
    starts_text = st.text_input("Start points", key="gd_starts",
                                help="x, y of the start; several starts separated by ';' race each other, "
                                     "e.g. 0, 0; 1, 1")
    optimizers = st.multiselect("Optimizers", gd.OPTIMIZERS, key="gd_optimizers",
                                format_func=gd.OPTIMIZER_TITLES.get,
                                help="Pick several to race them from the same start.")
    lr = st.select_slider("Learning rate η", gd.LEARNING_RATES, key="gd_lr")
    steps = st.select_slider("Steps", gd.STEP_CHOICES, key="gd_steps")
    with st.expander("Optimizer settings"):
        params = dict(
            momentum=st.slider("Momentum β (momentum, Nesterov)", value=gd.OPTIMIZER_DEFAULTS["momentum"], step=0.01,
                               key="gd_momentum", **widget_bounds(gd.LIMITS["momentum"])),
            beta1=st.slider("Adam β₁", value=gd.OPTIMIZER_DEFAULTS["beta1"], step=0.01, key="gd_beta1",
                            **widget_bounds(gd.LIMITS["beta1"])),
            beta2=st.slider("Adam β₂", value=gd.OPTIMIZER_DEFAULTS["beta2"], step=0.0001, format="%.4f",
                            key="gd_beta2", **widget_bounds(gd.LIMITS["beta2"])),
            rho=st.slider("RMSprop ρ", value=gd.OPTIMIZER_DEFAULTS["rho"], step=0.01, key="gd_rho",
                          **widget_bounds(gd.LIMITS["rho"])))

try:
    starts = gd.parse_points(starts_text)
except InvalidArgument:
    picture.error("Start points must be numbers x, y, several separated by ';', for example `0, 0; 1, 1`.")
    st.stop()
if not optimizers:
    picture.info("Pick at least one optimizer.")
    st.stop()
paths = gd.race(function, starts, optimizers, lr, steps, **params)


@st.cache_data(show_spinner=False, max_entries=256)
def path_picture(function_name, starts, optimizers, lr, steps, params, upto):
    """The contours and paths as a Vega-Lite dict, once per setting: slider moves and reruns reuse it."""
    function = gd.FUNCTIONS[function_name]
    return path_chart(function, gd.race(function, starts, optimizers, lr, steps, **params), upto=upto).to_dict()


setting = (function.name, tuple(map(tuple, starts)), tuple(optimizers), lr, steps, params)

with picture:
    step_col, play_col = st.columns([4, 1], vertical_alignment="bottom")
    upto = step_col.slider("Show the path up to step", 0, steps, steps, key=f"gd_upto_{steps}",
                           help="Step through the descent; the triangle marks where each path is now.")
    animate = play_col.button("Animate", icon=":material/play_arrow:", key="gd_animate", width="stretch")
    chart = st.empty()
    if animate:
        for frame in gd.animation_steps(steps):
            chart.vega_lite_chart(path_picture(*setting, frame), width="stretch")
            time.sleep(0.05)
    chart.vega_lite_chart(path_picture(*setting, None if upto == steps else upto), width="stretch")
    st.caption("Colours step from low (dark) to high (yellow) values of f; white diamonds mark the known "
               "minima. Circles are the starts, squares the ends, triangles where each path is at the chosen "
               "step. Hover over the picture for values.")

    rows = gd.results_table(function, paths, steps, upto=None if upto == steps else upto)
    st.markdown(f"##### Where each path is {'at step ' + str(upto) if upto < steps else 'at the end'}")
    for row in rows:
        st.markdown(f"**{row['path']}**: ({row['x']:.4f}, {row['y']:.4f}), f = {row['f(x, y)']:.4f}, "
                    f"{row['where']}.")
    with st.container(border=True):
        st.markdown("**The function and its gradient**")
        st.latex(function.formula)
        st.latex(function.gradient_formula)
        for optimizer in optimizers:
            st.caption(gd.OPTIMIZER_TITLES[optimizer])
            st.latex(gd.OPTIMIZER_FORMULAS[optimizer])
    with st.expander("All the numbers"):
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
            "x": st.column_config.NumberColumn(format="%.4f"), "y": st.column_config.NumberColumn(format="%.4f"),
            "f(x, y)": st.column_config.NumberColumn(format="%.4f"),
            "|∇f|": st.column_config.NumberColumn(format="%.1e"),
            "distance to it": st.column_config.NumberColumn(format="%.4f")})
