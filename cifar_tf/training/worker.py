"""The training process the run manager starts: `python -m cifar_tf worker RUN_FOLDER`."""
from ..runs import store
from .config import TrainConfig
from .run import train


def run_worker(run_path):
    """Train the queued run in `run_path` with the config stored in it; the exit status."""
    run = store.read_run(run_path)
    tags = run.record.get("tags") or {}
    try:
        config = TrainConfig.from_dict(run.record["config"])
    except (TypeError, ValueError) as error:
        run.finish("failed", error=f"invalid configuration: {error}")
        return 1
    train(config, run=run, data_dir=tags.get("data_dir"))
    return 0
