"""The benchmark's results as Markdown tables (which also read well as plain text)."""
EPOCH_IMAGES = 45000            # a training epoch: 50,000 images less the 5,000 kept for validation
THRESHOLDS = (0.70, 0.80, 0.85, 0.90, 0.94)

# The first report's recipe on this project's 2-core machine (issue 4): 30 epochs took 1,001 s and
# peaked at 77.7 % test accuracy on the JPEG copy of CIFAR-10 (never 80 %). Quoted, not re-run.
REFERENCE_RECIPE = {"epochs": 30, "seconds_here": 1001, "peak_accuracy": 0.777}


def render(results):
    """All sections as Markdown (which also reads well as plain text)."""
    m = results["machine"]
    lines = [f"# Benchmarks{' (quick)' if results['quick'] else ''}", "",
             f"Measured {results['started']} on {m['description']}, Python {m['python']}; "
             f"`python -m cifar_tf bench{' --quick' if results['quick'] else ''}` took {results['seconds']:.0f} s. "
             f"Load average at the end: {', '.join(f'{v:.1f}' for v in results['load_average'])} "
             "(other jobs on the same cores slow the wall-clock figures; CPU seconds are given beside them).", ""]
    if results.get("slow_cpu"):
        lines += ["**Slow-CPU setting** (`--slow-cpu`): the training and the app's server ran on one core, so "
                  "the app's share of the CPU shows as it would on a slower machine; Chromium, standing for the "
                  "students' machines, ran on the other cores (its CPU is still measured).", ""]
    sections = results["sections"]
    if "throughput" in sections:
        t = sections["throughput"]
        lines += ["## Training throughput at each architecture's defaults", "",
                  f"Batch {t['batch_size']}, Adam, no augmentation, {t['steps']} steps after a warm-up; "
                  f"{t['device']['precision']}, XLA {'on' if t['device']['xla'] else 'off'}, "
                  f"{t['device']['threads']} threads. An epoch is {EPOCH_IMAGES:,} images.", "",
                  _markdown(["architecture", "parameters", "images/s", "s per epoch", "CPU s per epoch"],
                            [[r["arch"], f"{r['params']:,}", f"{r['images_per_second']:,.0f}",
                              f"{r['epoch_seconds']:.1f}", f"{r['epoch_cpu_seconds']:.1f}"] for r in t["rows"]]), ""]
    if "pipeline" in sections:
        p = sections["pipeline"]
        by = {r["name"]: r for r in p["rows"]}
        lines += ["## Input pipeline: the same model, three ways to feed it", "",
                  f"simple_cnn, batch 64, Adam, {p['images']:,} images per epoch"
                  f"{' (synthetic: CIFAR-10 not found)' if p.get('synthetic') else ''}; "
                  f"{p['rounds']} steady-state epochs each, taken in turn after one warm-up epoch each; "
                  f"{p['device']['precision']}. Wall-clock figures are each pipeline's fastest epoch, CPU "
                  f"seconds the median; per-epoch figures are scaled to {EPOCH_IMAGES:,} images. Speed ratios "
                  "from wall-clock time, from CPU time in brackets.", "",
                  _markdown(["pipeline", "images/s", "s per epoch", "CPU s per epoch", "vs no augmentation",
                             "vs ImageDataGenerator"],
                            [[_PIPELINE_NAMES[r["name"]], f"{r['images_per_second']:,.0f}", f"{r['epoch_seconds']:.1f}",
                              f"{r['epoch_cpu_seconds']:.1f}",
                              f"{by['none']['epoch_seconds'] / r['epoch_seconds']:.0%} "
                              f"({by['none']['epoch_cpu_seconds'] / r['epoch_cpu_seconds']:.0%})",
                              f"{by['idg']['epoch_seconds'] / r['epoch_seconds']:.2f}x "
                              f"({by['idg']['epoch_cpu_seconds'] / r['epoch_cpu_seconds']:.2f}x)"]
                             for r in p["rows"]]), ""]
    if "presets" in sections:
        rows = []
        for r in sections["presets"]:
            if r.get("skipped"):
                rows.append([r["label"], r["skipped"]] + [""] * (len(THRESHOLDS) + 3))
                continue
            rows.append([r["label"], r["setup"]] + [_seconds(r["time_to"].get(f"{t:.2f}")) for t in THRESHOLDS]
                        + [f"{r['final_accuracy']:.2%} ({r['final_accuracy_no_tta']:.2%} without TTA)",
                           f"{r['train_seconds']:.0f} s ({r['cpu_seconds']:.0f} CPU s)",
                           f"{r['peak_memory_mb']:,} MB" if r.get("peak_memory_mb") else "-"])
        reference = _reference_row(sections)
        if reference:
            rows.append(reference)
        lines += ["## Time to accuracy", "",
                  "Wall-clock training time until the test accuracy first reached each level, measured after "
                  "every epoch with the clock stopped; the last point is the final model with test-time "
                  "augmentation (its inference time counted). Training on all 50,000 training images unless "
                  "said otherwise.", "",
                  _markdown(["recipe", "setup"] + [f"{t:.0%}" for t in THRESHOLDS]
                            + ["final test accuracy", "training time", "peak memory"], rows), ""]
        curves = [r for r in sections["presets"] if not r.get("skipped")]
        for r in curves:
            lines += [f"Curve, {r['label']}: " + ", ".join(
                f"{p['seconds']:.0f} s {p['accuracy']:.1%}" + (" (TTA)" if p.get("tta") else "")
                for p in r["curve"]), ""]
    if "cli" in sections:
        lines += _cli_section(sections["cli"])
    if "app" in sections:
        a = sections["app"]
        lines += ["## The app", "",
                  _markdown(["measure", "value"], [
                      ["`streamlit run app.py` to a healthy server", _seconds(a.get("server_seconds"))],
                      ["first page (app.py and Home, cold, one websocket client)", _seconds(a.get("first_page_seconds"))],
                      ["to the first page, in all", _seconds(a.get("to_first_page_seconds"))],
                      [f"one prediction, {a['model']} loaded (median of {a['count']})", f"{a['median_ms']:.1f} ms"],
                      ["one prediction, 95th percentile", f"{a['p95_ms']:.1f} ms"],
                      ["one prediction with TTA, 6 views (median)", f"{a['tta_median_ms']:.1f} ms"],
                  ]), ""]
    if "pages" in sections:
        lines += _pages_section(sections["pages"])
    if "watched" in sections:
        lines += _watched_section(sections["watched"])
    return "\n".join(lines).rstrip()


def _cli_section(c):
    if c.get("skipped"):
        return ["## The command line, start to saved", "", f"Not measured: {c['skipped']}", ""]
    rows = [[r["run"], f"{r['start_to_saved']:.1f} s", f"{r['train_seconds']:.1f} s", f"{r['before_training']:.1f} s",
             f"{r['fit_returned_after_last_epoch']:.2f} s", f"{r['evaluate_and_save']:.1f} s",
             "yes" if r["within_training_plus_10s"] else "no", f"{r['accuracy']:.2%}"] for r in c["rows"]]
    settings = ", ".join(f"{k} {v}" for k, v in c["overrides"].items())
    return ["## The command line, start to saved", "",
            f"`python -m cifar_tf train --preset {c['preset']}`{' (' + settings + ')' if settings else ''}, "
            f"{len(rows)} runs in a row: process start to saved model against the training time, and where "
            "the rest went (start-up before training; fit's return after the last epoch's record; the "
            "test-set evaluation with TTA and the save). Target: within the training time + 10 s.", "",
            _markdown(["run", "start to saved", "training", "before training", "fit returned after last epoch",
                       "evaluate and save", "within training + 10 s", "test accuracy"], rows), ""]


# The targets the class tests set (issues 13, 14 and 17), checked beside the figures.
PAGE_IDLE_TARGET_S, PAGE_CPU_TARGET_S = 1.5, 0.15
CLASS_P95_TARGET_S, HEALTH_TARGET_S = 6.0, 2.0


def _pages_section(p):
    idle = {r["page"]: r for r in p["idle"]}
    busy = {r["page"]: r for r in p["training"] or []}
    rows = []
    for name, r in idle.items():
        b = busy.get(name)
        limit = max(4.0, 2 * r["seconds"])
        rows.append([name, _seconds(r["first_seconds"]), _seconds(r["seconds"]), f"{r['cpu_seconds']:.3f} s",
                     _seconds(b["seconds"]) if b else "-", _ok(b["seconds"] <= limit) if b else "-",
                     _ok(r["seconds"] <= PAGE_IDLE_TARGET_S and r["cpu_seconds"] <= PAGE_CPU_TARGET_S)])
    c = p["class"]
    return ["## Page views", "",
            "Each page opened as a new browser tab does (a websocket client asking for one script run), 3 times "
            "after a first view; the server's CPU time per view from /proc. \"While training\": the fast preset "
            f"trains beside them{'' if p.get('trained_throughout') else ' (it had ended or not begun: no dataset?)'}. "
            f"Targets: {PAGE_IDLE_TARGET_S} s and {PAGE_CPU_TARGET_S} s of CPU idle; max(4 s, 2x idle) while training.",
            "", _markdown(["page", "first view", "view", "server CPU per view", "view while training",
                           "within max(4 s, 2x idle)", "within the idle targets"], rows), "",
            f"{c['sessions']} sessions opening {' and '.join(c['pages'])} at once: p50 {_seconds(c['p50'])}, "
            f"p95 {_seconds(c['p95'])}, slowest {_seconds(c['slowest'])} ({c['answered']} answered); "
            f"/_stcore/health at worst {_seconds(c['health_slowest'])} meanwhile. Targets: p95 <= "
            f"{CLASS_P95_TARGET_S:g} s ({_ok(c['p95'] is not None and c['p95'] <= CLASS_P95_TARGET_S)}), health "
            f"<= {HEALTH_TARGET_S:g} s ({_ok(c['health_slowest'] is not None and c['health_slowest'] <= HEALTH_TARGET_S)}).", ""]


def _watched_section(w):
    if w.get("skipped"):
        return ["## The fast preset, watched", "", f"Skipped: {w['skipped']}.", ""]
    rows, cli = [], w["rows"][0]
    for r in w["rows"]:
        ratio = r["seconds"] / cli["seconds"]
        target = "" if not r["tabs"] else (" (target 1.15x)" if r["tabs"] == 1 else " (target 1.3x)")
        rows.append([r["how"], f"{r['seconds']:.0f} s", f"{r['train_seconds']:.0f} s",
                     f"{r['seconds'] / r['train_seconds']:.2f}x, {r['seconds'] - 1.3 * r['train_seconds']:+.0f} s"
                     if r["tabs"] else "-", f"{ratio:.2f}x{target}", _seconds(r["first_point_seconds"]),
                     _share(r.get("server_cpu_share")), _share(r.get("browser_cpu_share")), f"{r['accuracy']:.1%}"])
    settings = ", ".join(f"{k} {v}" for k, v in (w.get("overrides") or {}).items())
    return ["## The fast preset, watched", "",
            f"`--preset fast`{' (' + settings + ')' if settings else ''} from the command line, then started from "
            "the Train page in headless Chromium and "
            "watched to the end in 1 and in 5 tabs, one after another in one run: the first tab clicks Start once "
            "the server is idle (its standby worker ready), the others open the run's link once the first curve "
            "point shows there. "
            "Start to Completed must stay within 1.3x the training time plus 10 s, and within 1.15x (1 tab) and "
            "1.3x (5 tabs) of the command line's start to saved; the first curve point within 10 s of Start. "
            "The CPU the watching took is per second of it, in % of one core: the server's own threads (the "
            "training is another process) and every Chromium process.", "",
            _markdown(["how", "start to end", "training time", "end vs 1.3x training", "vs command line",
                       "first curve point", "server CPU", "browser CPU", "test accuracy"], rows), ""]


def _share(share):
    return "-" if share is None else f"{share:.1%}"


def _ok(condition):
    return "yes" if condition else "**no**"


_PIPELINE_NAMES = {"idg": "ImageDataGenerator (`seed001` settings)", "ours": "ours, in-graph (`--augment seed001`)",
                   "none": "no augmentation"}


def _reference_row(sections):
    """The first report's recipe: its epochs timed here by the ImageDataGenerator row, times 30."""
    pipeline = sections.get("pipeline")
    ref = REFERENCE_RECIPE
    if pipeline:
        idg = next(r for r in pipeline["rows"] if r["name"] == "idg")
        estimate = idg["epoch_seconds"] * ref["epochs"]
        timing = (f"~{estimate:.0f} s (estimated: the ImageDataGenerator row's s per epoch x {ref['epochs']}; "
                  f"the full run took {ref['seconds_here']:,} s here)")
    else:
        timing = f"{ref['seconds_here']:,} s (issue 4's measurement of the full run)"
    reached = ["n/a" if t < ref["peak_accuracy"] else "never" for t in THRESHOLDS]
    return (["first report's recipe (reference, not re-run)",
             f"simple_cnn, ImageDataGenerator, Adam, batch 64, {ref['epochs']} epochs"] + reached
            + [f"peak {ref['peak_accuracy']:.1%} (measured in issue 4)", timing, ""])


def _seconds(value):
    if value is None:
        return "-"
    return f"{value:.1f} s" if value < 100 else f"{value:,.0f} s"


def _markdown(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
