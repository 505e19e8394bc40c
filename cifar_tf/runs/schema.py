"""The shape a run.json must have, checked once where it is read.

A runs folder is shared: a record may have been edited by hand, copied, damaged or written by a
newer version. Every page and command reads records through `store.read_run`, which calls
`problem(record)` and skips a record that fails with the reason, as it skips unreadable JSON, so
that no page ever meets `metrics.test_accuracy == "0.9"` or `config.epochs == "x"`.
"""
import typing
from dataclasses import fields

from ..training.config import TrainConfig

NUMBER = (int, float)

# The fields of a run record and what each may hold (None allowed where the tuple has type(None)).
RECORD_FIELDS = {
    "id": (str,), "name": (str, type(None)), "arch": (str, type(None)), "status": (str,),
    "config": (dict,), "metrics": (dict, type(None)), "tags": (dict, type(None)),
    "device": (dict, type(None)), "params": (int, type(None)), "epochs_completed": (int, type(None)),
    "created_at": (str, type(None)), "created_ns": (int, type(None)), "started_at": (str, type(None)),
    "finished_at": (str, type(None)), "updated_at": (str, type(None)), "error": (str, type(None)),
    "pid": (int, type(None)), "host": (str, type(None)), "train_size": (int, type(None)),
    "val_size": (int, type(None)), "steps_per_epoch": (int, type(None)), "total_steps": (int, type(None)),
    "recipe": (str, type(None)), "data_path": (str, type(None)), "phase": (str, type(None)),
    "placement": (dict, type(None)), "epochs_trained": (*NUMBER, type(None)), "restored": (str, type(None)),
    "kind": (str, type(None)), "lrfind": (dict, type(None)), "fork": (dict, type(None)),   # training/lrfind, fork
}


def _kinds(annotation):
    """The JSON kinds a TrainConfig field's annotation allows: `float | None` → (int, float, NoneType)
    (JSON writes 1.0 as 1)."""
    kinds = typing.get_args(annotation) or (annotation,)
    return tuple(kind for each in kinds for kind in (NUMBER if each is float else (each,)))


# A TrainConfig's fields as a record holds them, from the dataclass itself.
CONFIG_FIELDS = {field.name: _kinds(field.type) for field in fields(TrainConfig)}
MAX_DEPTH = 32   # deeper than any record the lab writes; deep enough nesting breaks pages and charts


def problem(record, statuses):
    """Why `record` is not a run record the pages can show, or None if it is one."""
    if not isinstance(record, dict):
        return "it is not a JSON object"
    if _depth(record) > MAX_DEPTH:
        return f"it is nested more than {MAX_DEPTH} levels deep"
    for key in ("id", "status"):
        if not isinstance(record.get(key), str):
            return f"it has no {key}"
    if record["status"] not in statuses:
        return f"unknown status {record['status']!r}"
    if "config" not in record:
        return "it has no config"
    for key, kinds in RECORD_FIELDS.items():
        wrong = _wrong_type(key, record.get(key), kinds)
        if wrong:
            return wrong
    for key, value in record["config"].items():
        if key in CONFIG_FIELDS:
            wrong = _wrong_type(f"config.{key}", value, CONFIG_FIELDS[key])
            if wrong:
                return wrong
    for key, value in (record.get("metrics") or {}).items():
        wrong = _wrong_type(f"metrics.{key}", value, (*NUMBER, type(None)))
        if wrong:
            return wrong
    return None


def _wrong_type(key, value, kinds):
    if isinstance(value, bool) and bool not in kinds:
        return f"{key} is {value!r}, not a number"
    if not isinstance(value, kinds):
        names = " or ".join("none" if k is type(None) else {"str": "text", "dict": "an object", "int": "an integer",
                                                             "float": "a number", "bool": "true or false"}[k.__name__]
                            for k in kinds)
        return f"{key} is {value!r:.40}, expected {names}"
    return None


def _depth(value, level=1):
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level
