"""Every bound a page's number box or slider offers is the library's limit for what it sets: one
table per limit (training.config.LIMITS, models.limits, search.store.BUDGET_LIMITS,
training.lrfind.LIMITS, runs.repeats.REPEATS), and the widgets only read it. Walked widget by widget, so a bound typed
into a page again (the dropout slider's 0.9 against TrainConfig's 0.95) fails here."""
from cifar_tf.runs import store
from cifar_tf.models import limits as architecture_limits
from cifar_tf.models.registry import ARCHITECTURES, editable_hyperparameters
from cifar_tf.runs.repeats import REPEATS
from cifar_tf.search import store as search_store
from cifar_tf.training import lrfind
from cifar_tf.training.config import LIMITS, TrainConfig
from cifar_tf.views.train_form import OPEN_LOW_STEP
from helpers import open_app


def bounds(at):
    """`{key: (min, max)}` of every number box and slider on the page as it is drawn now."""
    return {w.key: (w.min, w.max) for kind in ("number_input", "slider") for w in getattr(at, kind) if w.key}


def assert_within_the_table(widget, shown, limit, *, high=None):
    low, top = shown
    if limit.low_open:   # the low end itself is refused: the box starts just above it
        assert limit.low < low <= 1e-3 or (widget in OPEN_LOW_STEP and low == OPEN_LOW_STEP[widget]), (widget, low)
    else:
        assert low == limit.low, (widget, low, limit)
    assert top == (limit.high if high is None else high), (widget, top, limit)


def test_the_train_pages_boxes_and_sliders_offer_exactly_the_limits_of_train_config(app_env):
    at = open_app("pages/train.py")
    seen = bounds(at)
    at.selectbox(key="cfg_optimizer").set_value("sgd")       # momentum shows
    at.selectbox(key="cfg_schedule").set_value("cosine")     # the warm-up
    at.checkbox(key="cfg_dropout_on").check()
    at.toggle(key="cfg_sam").set_value(True)
    at.run()
    seen |= bounds(at)
    at.selectbox(key="cfg_schedule").set_value("step").run()  # the decay
    seen |= bounds(at)
    assert not at.exception
    fields = {key.removeprefix("cfg_"): shown for key, shown in seen.items() if key.startswith("cfg_")}
    assert set(fields) == set(LIMITS) - {"fine_tune_epochs", "fine_tune_lr_factor", "train_limit", "batch_size"}, \
        "every TrainConfig number but fine-tuning (pretrained bases only) and two choices (images, batch size)"
    for field, shown in fields.items():
        if field == "sam_rho":   # its box shows while SAM is on: above 0, which is SAM off
            assert shown == (OPEN_LOW_STEP["sam_rho"], LIMITS["sam_rho"].high) and OPEN_LOW_STEP["sam_rho"] > 0
        else:
            high = TrainConfig().epochs if field == "warmup_epochs" else None   # the warm-up fits in the run
            assert_within_the_table(field, shown, LIMITS[field], high=high)
    assert fields["dropout"] == (LIMITS["dropout"].low, LIMITS["dropout"].high) == (0, 0.9)
    assert seen["train_repeats"] == (REPEATS.low, REPEATS.high)
    for name in ("start_lr", "end_lr", "steps"):   # the learning-rate finder's boxes
        assert_within_the_table(name, seen[{"start_lr": "lrfind_start", "end_lr": "lrfind_end",
                                            "steps": "lrfind_steps"}[name]], lrfind.LIMITS[name])


def test_every_architecture_hyperparameter_box_offers_exactly_the_builders_limit(app_env):
    at = open_app("pages/train.py")
    walked = 0
    for arch in ARCHITECTURES:
        at.selectbox(key="cfg_arch").set_value(arch).run()
        assert not at.exception, arch
        shown = bounds(at)
        for name, default in editable_hyperparameters(arch).items():
            limit = architecture_limits.limit(arch, name)
            if isinstance(default, bool) or not isinstance(default, (int, float)):
                continue   # a switch, a choice of weights, or text (a list of widths)
            assert limit, (arch, name)   # every number box has a row in the table
            assert shown[f"hp_{arch}_{name}"] == (limit.low, limit.high), (arch, name)
            walked += 1
    assert walked > 30
    assert architecture_limits.limit("deep_cnn", "blocks").high == 5 and architecture_limits.limit("vgg16", "dense_units").low == 0


def test_the_search_pages_budget_boxes_offer_exactly_the_search_budgets_limits(app_env):
    search = search_store.new_search(app_env, space="seed001", max_trials=1, epochs=2, check_values=False)
    run = store.create_run(app_env, arch="hyper_cnn", config=TrainConfig(arch="hyper_cnn", epochs=2).to_dict(),
                           name="trial 0", status="queued", tags={"search": search.id, "trial": "0"})
    run.finish("completed", metrics={"best_val_accuracy": 0.5, "test_accuracy": 0.5})
    (search.project_dir / "trial_0").mkdir(parents=True)
    (search.project_dir / "trial_0" / "trial.json").write_text(
        '{"trial_id": "0", "status": "COMPLETED", "score": 0.5, "hyperparameters": {"values": {"lr": 0.001}}}')
    search.update(status="completed", ended_by="every trial done")
    at = open_app("pages/search.py")
    assert not at.exception
    widgets = {w.label: (w.min, w.max) for w in at.number_input}
    limits = search_store.BUDGET_LIMITS
    assert widgets["Trials at most"] == (limits["max_trials"].low, limits["max_trials"].high) == (1, 10_000)
    # seed001 is a Hyperband search: its epochs per trial are the most a trial gets.
    assert widgets["Most epochs per trial"] == (limits["epochs"].low, limits["epochs"].high) == (1, LIMITS["epochs"].high)
    assert widgets["Validation images"] == (limits["val_size"].low, None)
    # Training the best configuration fully: a run's epochs and repeats.
    assert widgets["Epochs"] == (LIMITS["epochs"].low, LIMITS["epochs"].high)
    assert widgets["Repeat ×"] == (REPEATS.low, REPEATS.high)


def test_the_labs_sliders_and_boxes_offer_exactly_their_libraries_limits(app_env):
    from cifar_tf.labs import gradient_descent, sam_pairs, sharpness

    at = open_app("pages/lab_gradient_descent.py")
    assert not at.exception
    for name in ("momentum", "beta1", "beta2", "rho"):
        limit = gradient_descent.LIMITS[name]
        assert bounds(at)[f"gd_{name}"] == (limit.low, limit.high), name
    at = open_app("pages/lab_sharpness.py")
    assert not at.exception
    shown = {w.label: (w.min, w.max) for kind in ("number_input", "slider") for w in getattr(at, kind)}
    for label, limit in (("Epochs", sam_pairs.PAIR_LIMITS["epochs"]), ("Seed", sam_pairs.PAIR_LIMITS["seed"])):
        assert shown[label] == (limit.low, limit.high), label
    for label, limit in (("SAM radius ρ", sam_pairs.PAIR_LIMITS["rho"]), ("ρ for measuring", sharpness.LIMITS["rho"])):
        low, high = shown[label]
        assert limit.low < low < 0.05 and high == limit.high, label   # above 0, which is no SAM


def test_the_search_pages_custom_space_and_time_limit_offer_the_limits_a_run_is_checked_against(app_env):
    from cifar_tf.search import editor

    at = open_app("pages/search.py")
    at.segmented_control(key="search_space").set_value("custom").run()
    at.selectbox(key="search_arch").set_value("deep_cnn").run()
    numeric = [name for name, spec in {**editor.TRAINING_RANGES, **editor.architecture_ranges("deep_cnn")}.items()
               if spec["type"] != "choice"]
    at.multiselect(key="search_vary_deep_cnn").set_value(numeric).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = bounds(at)
    for name in numeric:
        limit = editor.range_limit("deep_cnn", name)
        for end in ("min", "max"):
            assert_within_the_table(name, shown[f"search_deep_cnn_{name}_{end}"], limit)
    assert shown["search_deep_cnn_blocks_max"] == (1, 5) and at.number_input(key="search_deep_cnn_blocks_max").value <= 5
    low, high = search_store.BUDGET_LIMITS["time_limit"].low, search_store.BUDGET_LIMITS["time_limit"].high
    assert shown["search_minutes"] == (low, high) == (0, None)
