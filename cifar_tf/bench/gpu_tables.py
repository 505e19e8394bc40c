"""The GPU check's results as Markdown: every figure beside its goal, and why one is missing."""
import statistics

from .tables import _markdown


def _table(header, rows):
    return _markdown(header, [[row.get(column, "") for column in header] for row in rows])


def render_gpu_check(results):
    machine = results.get("machine") or {}
    versions = ", ".join(f"{k} {v}" for k, v in (machine.get("versions") or {}).items() if v)
    gpus = ", ".join(machine.get("gpus") or []) or "no GPU"
    lines = [f"# GPU check{' (tiny: figures mean nothing)' if results.get('tiny') else ''}", "",
             f"{results.get('started', '')}: {gpus}; {machine.get('cpu', '')}, {machine.get('cpu_count', '?')} cores; "
             f"Python {machine.get('python', '?')}; {versions}", ""]
    sections = results.get("sections", {})
    goals = results.get("goals", {})
    for name, title, render in (("anchor", "Speed against airbench94", _speed), ("class", "A class on one GPU", _class),
                                ("throughput", "Training throughput of every architecture", _throughput),
                                ("tests", "The training core's tests", _tests)):
        section = sections.get(name)
        if section is None:
            continue
        lines += [f"## {title}", ""]
        problem = section.get("error") or (section.get("skipped") if isinstance(section.get("skipped"), str) else None)
        lines += [f"Not measured: {problem}", ""] if problem and name != "anchor" else render(sections, goals) + [""]
    return "\n".join(lines)


def _speed(sections, goals):
    anchor, ours = sections.get("anchor") or {}, sections.get("ours") or {}
    rows = []
    if "train_seconds" in anchor:
        rows.append({"what": f"airbench94, PyTorch {anchor.get('torch')} ({anchor.get('dtype')}, "
                             f"torch.compile {anchor.get('compile_mode') or 'off'}), {len(anchor['train_seconds'])} runs",
                     "training (s)": f"{anchor['train_seconds_median']:.2f}",
                     "compile, beside (s)": f"{anchor['compile_seconds']:.1f}",
                     "start to saved (s)": "-",
                     "TTA accuracy": f"{anchor['accuracy_mean']:.4f}", "goal": "the anchor"})
    else:
        rows.append({"what": "airbench94", "training (s)": "-", "compile, beside (s)": "-", "start to saved (s)": "-",
                     "TTA accuracy": "-", "goal": f"not measured: {anchor.get('error') or anchor.get('skipped')}"})
    if "warm" in ours:
        ratio = ours["loop_seconds_median"] / anchor["train_seconds_median"] if "train_seconds_median" in anchor else None
        gap = (ours["accuracy_mean"] - anchor["accuracy_mean"]) * 100 if "accuracy_mean" in anchor else None
        verdict = []
        if ratio is not None:
            verdict.append(f"{ratio:.2f}x airbench (goal {goals.get('train_ratio')}x): "
                           f"{'met' if ratio <= goals.get('train_ratio', 1.5) else 'missed'}")
        if gap is not None:
            verdict.append(f"{gap:+.2f} points (goal within {goals.get('accuracy_points')}): "
                           f"{'met' if gap >= -goals.get('accuracy_points', 0.3) else 'missed'}")
        device = ours.get("device") or {}
        rows.append({"what": f"fast preset, Keras {device.get('keras')} on JAX {device.get('jax')} "
                             f"({device.get('precision')}), {len(ours['warm'])} warm runs",
                     "training (s)": f"{ours['loop_seconds_median']:.2f} loop, {ours['train_seconds_median']:.2f} in fit",
                     "compile, beside (s)": f"{ours['compile_seconds']:.1f}",
                     "start to saved (s)": f"{ours['wall_seconds_median']:.1f} warm, {ours['cold']['wall_seconds']:.1f} cold",
                     "TTA accuracy": f"{ours['accuracy_mean']:.4f}", "goal": "; ".join(verdict) or "-"})
    elif ours:
        rows.append({"what": "fast preset on JAX", "training (s)": "-", "compile, beside (s)": "-",
                     "start to saved (s)": "-", "TTA accuracy": "-",
                     "goal": f"not measured: {ours.get('error') or ours.get('skipped')}"})
    return [_table(list(rows[0]), rows),
            "", "Training: airbench's clock (its training loop after a warm-up run that compiled it); ours, the "
                "epochs' own seconds with the first epoch's tracing and compiling replaced by the median epoch "
                "(`loop`), and the whole `fit` of a run whose compiled step came from the persistent cache "
                "(`in fit`). Start to saved: `python -m cifar_tf train` from process start to the saved model."]


def _class(sections, goals):
    section = sections["class"]
    alone, group = section.get("alone") or {}, section.get("class") or {}
    times = [t for t in group.get("train_seconds", []) if t is not None]
    rows = [{"what": "one run alone: training (s)", "figure": alone.get("train_seconds"), "goal": "-"},
            {"what": "one run alone: first curve point after submit (s)", "figure": alone.get("first_point_seconds"),
             "goal": "-"},
            {"what": f"{group.get('size')} runs at once ({group.get('runs_at_once')} training at a time): "
                     "all saved after the last submit (s)",
             "figure": group.get("seconds_after_last_submit"),
             "goal": f"{goals.get('class_seconds')} s: "
                     f"{'met' if group.get('all_ended') and group.get('seconds_after_last_submit', 1e9) <= goals.get('class_seconds', 180) and not group.get('failed') else 'missed'}"},
            {"what": "completed / failed / out of memory",
             "figure": f"{group.get('completed')} / {len(group.get('failed') or [])} / {group.get('out_of_memory')}",
             "goal": "none failed, none out of memory"},
            {"what": "each run's training (s), median (min-max), against alone",
             "figure": f"{statistics.median(times):.1f} ({min(times):.1f}-{max(times):.1f})" if times else "-",
             "goal": "-"}]
    return [_table(["what", "figure", "goal"], rows)]


def _throughput(sections, goals):
    section = sections["throughput"]
    rows = [{"architecture": r["arch"], "parameters": f"{r['params']:,}", "images/s": f"{r['images_per_second']:,.0f}",
             "epoch (s)": r["epoch_seconds"]} for r in section.get("rows", [])]
    device = section.get("device") or {}
    skipped = section.get("skipped") or []
    return [f"Batch {section.get('batch_size')}, Adam, {section.get('steps')} timed steps after a warm-up, "
            f"{device.get('backend')} on {device.get('name')} ({device.get('precision')}); an epoch is 45,000 images.",
            "", _table(["architecture", "parameters", "images/s", "epoch (s)"], rows) if rows else "no rows"] + (
        ["", f"Not measured: {', '.join(skipped)} (the check stops starting architectures after its time for "
             "this section; each compiles for tens of seconds first)."] if skipped else [])


def _tests(sections, goals):
    section = sections["tests"]
    return [f"{'passed' if section.get('passed') else 'FAILED'}: {section.get('summary')}"]
