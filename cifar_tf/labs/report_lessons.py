"""The experiments each report ran, as lessons: lists of run configurations a user starts in one
click, at the report's size (a GPU) or scaled for a CPU, and, once they ran, their figures beside
the report's.

A lesson of kind "runs" is one or more arms, each a preset (cifar_tf.training.presets) with a few
settings changed; the scaled version changes a few more (fewer epochs and images) and says so.
Runs a lesson starts carry the tags `lesson` (its id), `lesson_start` (one per click, so the runs
of one start form one comparison), `lesson_arm` and `lesson_scale`. Report 001's search is a
lesson of kind "search" (a Hyperband search, started like the Search page's); report 004's
gradient descent, of kind "gd", runs at once in numpy.

    start, runs = submit_lesson(manager, "000-transfer-vs-sam", "scaled")
    rows = side_by_side(get_report("000"), all_runs)
"""
import secrets
import time
from dataclasses import dataclass, field, replace

from ..runs.outputs import read_evaluation
from ..runs.store import FINISHED_STATUSES, clean_name
from ..training.config import TrainConfig
from ..training.presets import PRESETS, preset_config, preset_notes
from ..validation import InvalidArgument, check_choice
from .reports import REPORTS, get_report

SCALES = ("scaled", "full")
SCALE_LABELS = {"scaled": "scaled for a CPU", "full": "at the report's size (a GPU)"}
LESSON_TAG, START_TAG, ARM_TAG, SCALE_TAG = "lesson", "lesson_start", "lesson_arm", "lesson_scale"
FINISHED = FINISHED_STATUSES   # a lesson's figures come from these runs


@dataclass(frozen=True)
class Arm:
    name: str
    label: str
    preset: str
    overrides: dict = field(default_factory=dict)   # settings changed from the preset


@dataclass(frozen=True)
class Lesson:
    id: str
    report: str
    title: str
    kind: str = "runs"                               # "runs", "search" or "gd"
    arms: tuple = ()
    scaled: dict = field(default_factory=dict)       # what every arm changes in the CPU version
    scaled_note: str = ""
    full_note: str = ""
    search: dict = field(default_factory=dict)       # kind "search": the space and a budget per scale


_IMAGENET32 = {"weights": None, "image_size": 32}    # report 004: keras.applications without weights

LESSONS = {lesson.id: lesson for lesson in (
    Lesson("000-transfer-vs-sam", "000", "DenseNet121 transfer learning, without and with SAM",
           arms=(Arm("transfer", "DenseNet121 transfer", "seed000"),
                 Arm("sam", "DenseNet121 transfer + SAM", "seed000_sam")),
           scaled=dict(epochs=3, train_limit=5000, val_size=1000),
           scaled_note="3 epochs on 5,000 training images (1,000 for validation): beside the report's epoch-3 "
                       "figures only; its epoch-10 figures need the full lesson. About 15 minutes on 2 cores.",
           full_note="10 epochs on 45,000 training images (5,000 for validation), as the report's 10 epochs."),
    Lesson("001-cnn", "001", "The report's CNN: augmentation and one learning-rate drop",
           arms=(Arm("cnn", "simple_cnn, report 001's recipe", "seed001"),),
           scaled=dict(epochs=12, train_limit=10000, val_size=2000),
           scaled_note="12 epochs on 10,000 training images (2,000 for validation): the drop to 1e-4 after "
                       "epoch 10 still shows, 18 of the report's 30 epochs do not. About 6 minutes on 2 cores.",
           full_note="30 epochs of batches of 32 on 45,000 training images, as the report's log."),
    Lesson("001-search", "001", "The report's Hyperband search over its two-conv hypermodel", kind="search",
           search={"space": "seed001",
                   "full": dict(iterations=2, epochs=10, train_limit=0, val_size=None),
                   "scaled": dict(iterations=1, epochs=4, train_limit=5000, val_size=1000)},
           scaled_note="one Hyperband iteration of at most 4 epochs (10 trials) on 5,000 training images: "
                       "the report ran two of at most 10 epochs (60 trials) on all of them.",
           full_note="two Hyperband iterations of at most 10 epochs (60 trials), early stopping with patience 3, "
                     "as the report; validated on 5,000 training images, not on the test set."),
    Lesson("002-best", "002", "The report's best ResNet-style configuration",
           arms=(Arm("resnet", "resnet_style, report 002's best", "seed002"),),
           scaled=dict(epochs=5, train_limit=5000, val_size=1000),
           scaled_note="5 epochs on 5,000 training images (1,000 for validation): the report trained 40 epochs "
                       "on 50,000. About 4 minutes on 2 cores.",
           full_note="40 epochs on 45,000 training images (5,000 for validation)."),
    Lesson("003-sharpness-grid", "003", "ResNet18 and VGG16, SGD and Adam, without and with SAM: eight runs",
           arms=tuple(Arm(f"{arch}-{opt}-{'sam' if rho else 'plain'}",
                          f"{label} · {opt_label}{' + SAM' if rho else ''}", "seed003",
                          dict(arch=arch, optimizer=opt, lr=lr, sam_rho=rho,
                               arch_params={"dense_units": 0} if arch == "vgg16" else {}))
                      for arch, label in (("resnet18", "ResNet18"), ("vgg16", "VGG16"))
                      for opt, opt_label, lr in (("sgd", "SGD", 0.01), ("adam", "Adam", 1e-3))
                      for rho in (0.0, 0.05)),
           scaled=dict(epochs=4, train_limit=4000, val_size=1000, arch_params={"width": 16}),
           scaled_note="both networks at a quarter of their width (16 filters first), 4 epochs on 4,000 training "
                       "images (1,000 for validation): the eight runs take about a quarter of an hour on 2 cores.",
           full_note="the full networks for 30 epochs on 45,000 training images."),
    Lesson("004-four-networks", "004", "VGG19, ResNet-50, DenseNet-121 and the concatenating CNN at batch 32",
           arms=(Arm("vgg19", "VGG19 (Keras' vgg19.py)", "seed004"),
                 Arm("resnet50", "ResNet-50", "seed004", dict(arch="resnet50", arch_params=_IMAGENET32)),
                 Arm("densenet121", "DenseNet-121", "seed004", dict(arch="densenet121", arch_params=_IMAGENET32)),
                 Arm("concat", "its concatenating CNN", "seed004", dict(arch="concat_cnn", epochs=10))),
           scaled=dict(epochs=3, train_limit=3000, val_size=1000),
           scaled_note="3 epochs on 3,000 CIFAR-10 training images (1,000 for validation), the full networks: "
                       "about 11 minutes on 2 cores.",
           full_note="5 epochs (10 for the CNN) with early stopping on 45,000 CIFAR-10 training images."),
    Lesson("004-gradient-descent", "004", "Part 1: gradient descent on f(x, y) = x² + y² + x(y + 2) + cos(3x)",
           kind="gd", scaled_note="1,000 steps of rate 0.01 from (0, 0), in numpy: instant anywhere.",
           full_note="1,000 steps of rate 0.01 from (0, 0), in numpy: instant anywhere."),
)}
GD_SETTINGS = dict(function="seed004", start=(0.0, 0.0), optimizer="sgd", lr=0.01, steps=1000)


def get_lesson(lesson_id):
    return LESSONS[check_choice("lesson", lesson_id, tuple(LESSONS))]


def report_lessons(report_id):
    """The lessons of a report, in order."""
    report = get_report(report_id)
    return [lesson for lesson in LESSONS.values() if lesson.report == report.id]


def arm_config(lesson, arm, scale="scaled"):
    """The TrainConfig of one arm: its preset, the arm's changes, and the scaled lesson's."""
    scale = check_choice("scale", scale, SCALES)
    config = preset_config(arm.preset)
    changes = dict(arm.overrides)
    if scale == "scaled":
        changes.update({key: value for key, value in lesson.scaled.items() if key != "arch_params"})
    arch = changes.get("arch", config.arch)
    # Another network than the preset's starts from its own defaults, not the preset's parameters.
    params = dict(config.arch_params) if arch == config.arch else {}
    params.update(arm.overrides.get("arch_params", {}))
    if scale == "scaled":
        params.update(lesson.scaled.get("arch_params", {}))
    changes["arch_params"] = params
    return replace(config, **changes).validated()


def lesson_configs(lesson, scale="scaled", overrides=None):
    """`[(arm, TrainConfig)]` of a lesson of kind "runs"; `overrides` (a smaller data set, fewer
    epochs...) change every arm after the scaling."""
    lesson = get_lesson(lesson) if isinstance(lesson, str) else lesson
    return [(arm, replace(arm_config(lesson, arm, scale), **(overrides or {})).validated()) for arm in lesson.arms]


def search_budget(lesson, scale="scaled"):
    """A search lesson's budget for `store.new_search`: its space, trials (whole Hyperband
    iterations), epochs at most, images."""
    from ..search.space import hyperband_trials

    budget = dict(lesson.search[check_choice("scale", scale, SCALES)])
    iterations = budget.pop("iterations")
    return {"space": lesson.search["space"], "tuner": "hyperband",
            "max_trials": hyperband_trials(budget["epochs"], iterations), **budget}


def missing_weights(lesson, scale="scaled"):
    """For each pretrained base a lesson needs that is not in Keras' cache: a dict with the file
    name Keras expects, the folder to put it in and where Keras downloads it from."""
    missing = []
    for _, config in lesson_configs(lesson, scale) if lesson.kind == "runs" else ():
        if config.arch_params.get("weights") != "imagenet":
            continue
        from ..models.applications import imagenet_weights_available, imagenet_weights_filename, \
            imagenet_weights_source

        size = config.arch_params.get("image_size") or 96
        if not imagenet_weights_available(config.arch, size):
            url, folder = imagenet_weights_source(config.arch, size)
            entry = {"arch": config.arch, "file": imagenet_weights_filename(config.arch, size),
                     "folder": str(folder), "url": url}
            if entry not in missing:
                missing.append(entry)
    return missing


def weights_message(entry):
    """How to place a missing weights file, in words."""
    return (f"{entry['arch']} needs its ImageNet weights, which Keras downloads on first use; without internet, "
            f"copy the file {entry['file']} (from {entry['url']}) into {entry['folder']}/ (Keras looks in "
            "$KERAS_HOME/models/, else ~/.keras/models/), then start the lesson again.")


def submit_lesson(manager, lesson_id, scale="scaled", *, name=None, overrides=None):
    """Queue every run of a lesson on a RunManager (or anything with its `submit`), tagged with it:
    `(start id, runs)`. The configs are all checked (names, no TensorFlow) before the first is queued."""
    lesson = get_lesson(lesson_id)
    if lesson.kind != "runs":
        raise InvalidArgument("lesson", lesson_id, f"a lesson of runs ({lesson.id} is a {lesson.kind} lesson)")
    configs = [(arm, config.checked(build=False)) for arm, config in lesson_configs(lesson, scale, overrides)]
    start = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    label = clean_name(name) or f"Report {lesson.report}"
    runs = []
    for arm, config in configs:
        tags = {LESSON_TAG: lesson.id, START_TAG: start, ARM_TAG: arm.name, SCALE_TAG: scale, "report": lesson.report}
        suffix = " · scaled" if scale == "scaled" else ""
        runs.append(manager.submit(config, name=f"{label} · {arm.label}{suffix}", tags=tags))
    return start, runs


def start_search(lesson_id, scale="scaled", *, manager, data_dir=None):
    """Queue a search lesson's search on a RunManager (or anything with its `submit_search`),
    tagged with the lesson; it starts when the cap on training has room for it."""
    from ..search import store

    lesson = get_lesson(lesson_id)
    budget = search_budget(lesson, scale)

    def create(tags):
        search = store.new_search(manager.runs_dir, name=f"Report {lesson.report} · Hyperband ({scale})",
                                  data_dir=data_dir, tags=tags, **budget)
        return search.update(**{LESSON_TAG: lesson.id, SCALE_TAG: scale})

    return manager.submit_search(create)


# --- the runs a lesson started ----------------------------------------------------------------------

def _dict(value):
    return value if isinstance(value, dict) else {}


def _tags(run):
    return _dict(run.record.get("tags"))


def lesson_runs(runs, lesson_id, start=None):
    """The runs tagged with a lesson (and one start of it)."""
    return [run for run in runs if _tags(run).get(LESSON_TAG) == lesson_id
            and (start is None or _tags(run).get(START_TAG) == start)]


def run_lesson(run):
    """Which lesson (and report) a run belongs to, read from its record's tags: a dict with `lesson`,
    `report`, `title`, `start`, `arm`, `arm_label` and `scale`, or None for a run no lesson started. A lesson id
    this lab does not know (a copied folder, an older lab) still shows, as it is."""
    tags = _tags(run)
    lesson_id = tags.get(LESSON_TAG)
    if not isinstance(lesson_id, str) or not lesson_id.strip():
        return None
    lesson = LESSONS.get(lesson_id)
    arm = str(tags.get(ARM_TAG) or "")
    labels = {known.name: known.label for known in (lesson.arms if lesson else ())}
    return {"lesson": lesson_id, "report": lesson.report if lesson else str(tags.get("report") or "?"),
            "title": lesson.title if lesson else lesson_id, "start": str(tags.get(START_TAG) or ""),
            "arm": arm, "arm_label": labels.get(arm, arm), "scale": str(tags.get(SCALE_TAG) or "")}


def lesson_label(run):
    """"Report 003 · <the lesson's title> · scaled for a CPU" for a run a lesson started, else None."""
    found = run_lesson(run)
    if found is None:
        return None
    scale = SCALE_LABELS.get(found["scale"])
    return f"Report {found['report']} · {found['title']}" + (f" · {scale}" if scale else "")


def lesson_groups(runs):
    """The runs lessons started as comparisons: one group per start of a lesson (one click on its
    Start button), newest first; dicts with `lesson`, `report`, `title`, `start`, `scale` and `runs`
    (in the lesson's arm order)."""
    groups = {}
    for run in runs:
        found = run_lesson(run)
        if found is None:
            continue
        group = groups.setdefault((found["lesson"], found["start"]), {
            key: found[key] for key in ("lesson", "report", "title", "start", "scale")} | {"runs": []})
        group["runs"].append(run)
    for group in groups.values():
        lesson = LESSONS.get(group["lesson"])
        order = {arm.name: i for i, arm in enumerate(lesson.arms if lesson else ())}
        group["runs"].sort(key=lambda run: order.get(_tags(run).get(ARM_TAG), len(order)))
    return sorted(groups.values(), key=lambda group: (group["start"], group["lesson"]), reverse=True)


def lesson_starts(runs, lesson_id):
    """Each start of one lesson, newest first (`lesson_groups` of that lesson)."""
    lesson = get_lesson(lesson_id)
    return [group for group in lesson_groups(runs) if group["lesson"] == lesson.id]


def arm_run(runs, lesson_id, arm):
    """The newest finished run of one arm of a lesson, or None."""
    found = [run for run in lesson_runs(runs, lesson_id) if _tags(run).get(ARM_TAG) == arm
             and run.status in FINISHED]
    return max(found, key=lambda run: str(run.record.get("created_at") or ""), default=None)


# --- the report's figures beside ours ----------------------------------------------------------------

def gd_minimum():
    """Report 004's part 1 as our lab runs it: `(x, y, f)` where gradient descent ends."""
    from .gradient_descent import FUNCTIONS, descend

    settings = dict(GD_SETTINGS)
    path = descend(settings.pop("function"), **settings)
    x, y = (float(v) for v in path[-1])
    return x, y, float(FUNCTIONS[GD_SETTINGS["function"]].value(x, y))


def our_value(figure, run):
    """`(value, reason)`: our number for a report's figure from `run`; value None with the reason
    when the run cannot give it."""
    metric = figure.metric
    if metric == "gd_value":
        return gd_minimum()[2], ""
    if run is None:
        return None, "no finished run of this lesson yet"
    if metric.startswith("val_accuracy@"):
        epoch = int(metric.split("@")[1])
        for record in run.epochs():
            if record.get("epoch") == epoch and isinstance(record.get("val_accuracy"), (int, float)):
                return float(record["val_accuracy"]), ""
        return None, f"our run trained {run.epochs_trained() or 0:g} epochs, not {epoch}"
    if metric.startswith("class:"):
        evaluation = read_evaluation(run, missing_ok=True, corrupt_ok=True) or {}
        value = _dict(evaluation.get("per_class_accuracy")).get(metric.split(":", 1)[1])
        return (float(value), "") if isinstance(value, (int, float)) else (None, "our run has no per-class scores")
    value = _dict(run.record.get("metrics")).get(metric)
    return (float(value), "") if isinstance(value, (int, float)) else (None, f"our run has no {metric}")


def _scale_reason(run):
    if run is None:
        return ""
    scale = _tags(run).get(SCALE_TAG)
    lesson = LESSONS.get(_tags(run).get(LESSON_TAG))
    if scale == "scaled" and lesson:
        return "ours is scaled for a CPU: " + lesson.scaled_note
    return "ours at the report's size" + (f": {lesson.full_note}" if lesson and lesson.full_note else "")


def side_by_side(report, runs):
    """One row per figure of a report: the figure, the report's value, ours, the difference (ours
    minus theirs) and why they may differ; `run` is the run ours comes from (or None)."""
    report = get_report(report) if isinstance(report, str) else report
    rows = []
    for figure in report.figures:
        run = None if figure.metric == "gd_value" else arm_run(runs, figure.lesson, figure.arm)
        ours, missing = our_value(figure, run)
        reasons = [missing, figure.note, _scale_reason(run)]
        if figure.metric != "gd_value":
            reasons += list(report.caveats)
        rows.append({"figure": figure.label, "report": figure.value, "ours": ours,
                     "difference": None if ours is None else ours - figure.value, "percent": figure.percent,
                     "run": run, "lesson": figure.lesson, "arm": figure.arm, "source": figure.source,
                     "why": "; ".join(reason for reason in reasons if reason)})
    return rows


def sharpness_rows(runs):
    """Report 003's grid, one row per run: its arm, accuracy, the report-style gap (validation loss
    minus training loss after the last epoch) and our sharpness measures where they are cached."""
    from .measures import cached

    rows = []
    for run in runs:
        config = _dict(run.record.get("config"))
        last = next((e for e in reversed(run.epochs()) if isinstance(e.get("val_loss"), (int, float))
                     and isinstance(e.get("loss"), (int, float))), None)
        measured = (cached(run, "sharpness") or {}) if run.status in FINISHED else {}
        rows.append({"run": run.name, "arch": config.get("arch"), "optimizer": config.get("optimizer"),
                     "SAM ρ": config.get("sam_rho") or 0.0, "status": run.status,
                     "test accuracy": _dict(run.record.get("metrics")).get("test_accuracy"),
                     "gap (val loss − loss)": None if last is None else last["val_loss"] - last["loss"],
                     "sharpness (ρ 0.05)": measured.get("sharpness"), "λ max": measured.get("hessian_eigenvalue")})
    return rows


def unmeasured_runs(runs):
    """The finished runs among `runs` with a saved model whose sharpness (at the measure's
    defaults) is not measured yet."""
    from .measures import cached

    return [run for run in runs if run.status in FINISHED and run.model_path.exists() and not cached(run, "sharpness")]


# --- handing a lesson out as a class challenge --------------------------------------------------------

def challenge_settings(lesson_id, scale="scaled"):
    """Keyword arguments of `classroom.challenge.new_challenge` for a lesson: its first arm's config
    to start from, the settings its arms vary left open, its epochs and images as the limits."""
    from ..classroom.challenge import EDITABLE

    lesson = get_lesson(lesson_id)
    configs = [config.to_dict() for _, config in lesson_configs(lesson, scale)]
    if not configs:
        raise InvalidArgument("lesson", lesson_id, "a lesson of runs")
    varied = {name for name in configs[0] if any(c[name] != configs[0][name] for c in configs)}
    editable = [group for group, names in EDITABLE.items() if varied & set(names)]
    archs = sorted({c["arch"] for c in configs})
    images = max(c["train_limit"] for c in configs) if all(c["train_limit"] for c in configs) else None
    return {"title": f"Report {lesson.report}: {lesson.title}"[:80], "base": TrainConfig.from_dict(configs[0]),
            "editable": editable, "max_epochs": max(c["epochs"] + c["fine_tune_epochs"] for c in configs),
            "max_train_images": images, "archs": archs if len(archs) > 1 else None,
            "preset": lesson.arms[0].preset}


# --- as plain data -----------------------------------------------------------------------------------

def lesson_dict(lesson):
    """A lesson as plain data (the CLI's --json): its arms' configs at both scales."""
    out = {"id": lesson.id, "report": lesson.report, "title": lesson.title, "kind": lesson.kind,
           "scaled_note": lesson.scaled_note, "full_note": lesson.full_note}
    if lesson.kind == "runs":
        out["arms"] = [{"name": arm.name, "label": arm.label, "preset": arm.preset,
                        "preset_notes": preset_notes(arm.preset),
                        **{scale: arm_config(lesson, arm, scale).to_dict() for scale in SCALES}}
                       for arm in lesson.arms]
    elif lesson.kind == "search":
        out["search"] = {scale: search_budget(lesson, scale) for scale in SCALES}
    else:
        out["gd"] = {**GD_SETTINGS, "start": list(GD_SETTINGS["start"])}
    return out


def report_presets(report_id):
    """The presets a report's lessons use, in order."""
    names = [arm.preset for lesson in report_lessons(report_id) for arm in lesson.arms]
    return [name for name in dict.fromkeys(names) if name in PRESETS]


def all_reports():
    return list(REPORTS.values())
