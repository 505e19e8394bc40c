"""`python -m cifar_tf.bench TASK JSON_ARGS`: one measurement, in this process (the parent starts it)."""
import json
import sys

from . import app, training
from .run import RESULT_TAG

TASKS = {"throughput": training.task_throughput, "pipeline": training.task_pipeline,
         "preset": training.task_preset, "predict": app.task_predict, "app_startup": app.app_startup,
         "pages": app.task_pages, "watched": app.task_fast_preset_watched}

if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
    print("usage: python -m cifar_tf bench [--quick] [--write docs/benchmarks.md]", file=sys.stderr)
    sys.exit(2)
result = TASKS[sys.argv[1]](**(json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}))
print(RESULT_TAG + json.dumps(result, default=str), flush=True)
