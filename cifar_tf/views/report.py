"""A run's report as one self-contained HTML file: it opens offline, in any browser, years later.

Configuration, headline numbers, learning curves (inline SVG), the per-class report, the
confusion matrix and the most confident mistakes (inline PNG), all in one file with its own
styles and no script. Every string from a run or a user is escaped.
"""
import base64
import io
from html import escape

import numpy as np

from ..evaluation.metrics import most_confident_mistakes
from ..runs.files import now
from ..runs.outputs import load_probabilities, read_evaluation
from .comparison import flat_config, settings_table
from .evaluation import probability_caption, report_table
from .formatting import as_number, format_seconds
from .pictures import enlarge
from .svg import line_chart

MISTAKES_SHOWN = 12
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: .2rem; } .sub { color: #666; margin-top: 0; }
.numbers { display: flex; flex-wrap: wrap; gap: 1rem; margin: 1rem 0; }
.numbers div { border: 1px solid #ddd; border-radius: 8px; padding: .6rem 1rem; min-width: 8rem; }
.numbers b { display: block; font-size: 1.6rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.confusion td { min-width: 2.6rem; text-align: center; }
.mistakes { display: flex; flex-wrap: wrap; gap: .8rem; }
figure { margin: 0; width: 128px; font-size: .8rem; } figure img { image-rendering: pixelated; }
footer { color: #888; font-size: .8rem; margin-top: 2rem; }
"""


def run_report(run, *, owner=None, dataset=None):
    """The report of `run` as an HTML string. `dataset` (a loaded CIFAR-10, optional) supplies
    the test images of its mistakes; without it the report says they are not included."""
    record = run.record
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    evaluation = read_evaluation(run, corrupt_ok=True)
    subtitle = [f"run {run.id}", str(record.get("arch") or ""), str(run.status)]
    if owner:
        subtitle.append(f"by {owner}")
    if record.get("created_at"):
        subtitle.append(f"created {str(record['created_at'])[:16].replace('T', ' ')}")
    body = [f"<h1>{escape(run.name)}</h1>", f'<p class="sub">{escape(" · ".join(subtitle))}</p>',
            _numbers(record, metrics), "<h2>Learning curves</h2>", _curves(run)]
    if evaluation:
        body += ["<h2>Per-class report</h2>", _per_class(evaluation),
                 "<h2>Confusion matrix</h2>", '<p class="sub">Rows: the true class; columns: what the model said.</p>',
                 _confusion(evaluation), "<h2>Most confident mistakes</h2>", _mistakes(run, evaluation, dataset)]
    else:
        body.append("<p>This run has no test-set evaluation (it did not finish).</p>")
    body += ["<h2>Configuration</h2>", _configuration(run),
             f"<footer>CIFAR-10 Lab report, made {escape(now())}. This file needs no network and no program "
             "besides a browser.</footer>"]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(run.name)} · '
            f'CIFAR-10 Lab report</title><style>{STYLE}</style></head><body>{"".join(body)}</body></html>\n')


def _numbers(record, metrics):
    shown = [("test accuracy", _percent(metrics.get("test_accuracy"))),
             ("test loss", _fixed(metrics.get("test_loss"), 3)),
             ("weighted F1", _fixed(metrics.get("weighted_f1"), 3)),
             ("top-3 accuracy", _percent(metrics.get("top3_accuracy"))),
             ("best val accuracy", _percent(metrics.get("best_val_accuracy"))),
             ("training time", format_seconds(metrics.get("train_seconds")) if _ok(metrics.get("train_seconds"))
              else "–"),
             ("parameters", f"{int(record['params']):,}" if _ok(record.get("params")) else "–"),
             ("epochs", str(record.get("epochs_completed") or 0))]
    return '<div class="numbers">' + "".join(f"<div>{escape(label)}<b>{escape(value)}</b></div>"
                                            for label, value in shown) + "</div>"


def _curves(run):
    epochs = run.epochs()
    if not epochs:
        return "<p>No finished epochs were recorded.</p>"

    def series(key):
        return [(as_number(e.get("epoch")), _value(e.get(key))) for e in epochs if _ok(e.get("epoch"))]
    def drawn(lines):  # a run without validation images has no validation curve
        return {label: line for label, line in lines.items() if any(y is not None for _, y in line)}
    loss = drawn({"training": series("loss"), "validation": series("val_loss")})
    accuracy = drawn({"training": series("accuracy"), "validation": series("val_accuracy")})
    return ('<div class="charts">' + line_chart(loss, title="Loss", y_label="loss")
            + line_chart(accuracy, title="Accuracy", y_label="accuracy", percent=True) + "</div>")


def _per_class(evaluation):
    table = report_table(evaluation)
    rows = ["<tr><th>class</th>" + "".join(f"<th>{escape(c)}</th>" for c in table.columns) + "</tr>"]
    for name, row in table.iterrows():
        cells = [_fixed(row[c], 3) for c in ("precision", "recall", "f1")]
        support = "" if row["support"] is None or row["support"] != row["support"] else f"{int(row['support']):,}"
        rows.append(f"<tr><td>{escape(str(name))}</td>" + "".join(f"<td>{v}</td>" for v in [*cells, support]) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _confusion(evaluation):
    names, matrix = evaluation["class_names"], np.asarray(evaluation["confusion_matrix"], dtype=np.int64)
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    rows = ["<tr><th>true \\ predicted</th>" + "".join(f"<th>{escape(str(n))}</th>" for n in names) + "</tr>"]
    for i, name in enumerate(names):
        cells = []
        for j in range(len(names)):
            share = matrix[i, j] / totals[i, 0]
            colour = f"rgba(49,130,189,{share:.2f})"
            ink = "#fff" if share > 0.55 else "#222"
            cells.append(f'<td style="background:{colour};color:{ink}">{matrix[i, j]}</td>')
        rows.append(f"<tr><th>{escape(str(name))}</th>{''.join(cells)}</tr>")
    return '<table class="confusion">' + "".join(rows) + "</table>"


def _mistakes(run, evaluation, dataset):
    if dataset is None:
        return "<p>The CIFAR-10 test images were not on the machine that made this report.</p>"
    try:
        probabilities = load_probabilities(run, count=len(dataset.y_test))
    except ValueError as error:
        return f"<p>{escape(str(error))}</p>"
    names = evaluation["class_names"]
    figures = []
    for index in most_confident_mistakes(probabilities, dataset.y_test, k=MISTAKES_SHOWN):
        answer = probability_caption(probabilities[index], names, 1)
        caption = f"#{index}: {names[int(dataset.y_test[index])]} → {answer}"
        figures.append(f'<figure><img alt="test image {index}" width="128" height="128" '
                       f'src="data:image/png;base64,{_png(dataset.x_test[index])}"><figcaption>{escape(caption)}'
                       "</figcaption></figure>")
    if not figures:
        return "<p>It made no mistakes on the test set.</p>"
    return '<p class="sub">True class → the model\'s answer and its confidence.</p><div class="mistakes">' \
        + "".join(figures) + "</div>"


def _configuration(run):
    table = settings_table([run])
    rows = "".join(f"<tr><td>{escape(str(key))}</td><td>{escape(str(value))}</td></tr>"
                   for key, value in zip(table.index, table.iloc[:, 0]))
    tags = {key: value for key, value in (run.record.get("tags") or {}).items() if key != "owner"}
    extra = "".join(f"<tr><td>tag: {escape(str(k))}</td><td>{escape(str(v))}</td></tr>" for k, v in tags.items())
    return f"<table><tr><th>setting</th><th>value</th></tr>{rows}{extra}</table>" if flat_config(run) else \
        "<p>No configuration recorded.</p>"


def _png(image):
    buffer = io.BytesIO()
    enlarge(image, 128).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _ok(value):
    return not np.isnan(as_number(value))


def _value(value):
    return as_number(value) if _ok(value) else None


def _percent(value):
    return f"{as_number(value):.1%}" if _ok(value) else "–"


def _fixed(value, digits):
    return f"{as_number(value):.{digits}f}" if _ok(value) else ""
