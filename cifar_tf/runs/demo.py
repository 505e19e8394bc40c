"""The demo run that ships with the project: read-only, whoever asks, so that Predict and Evaluate
have a model before any run is trained."""
DEMO_RUN = "demo-fast-cnn"  # shipped in the project's models/ folder


def is_shipped(run):
    """Whether `run` is the demo run that ships with the project (or a copy of its folder)."""
    return run.path.name == DEMO_RUN


def check_writable(run, action):
    """Refuse to `action` ("delete", "rename") a run that ships with the project."""
    if is_shipped(run):
        raise PermissionError(f"run {run.id} ships with the lab and cannot be {action}d: Predict and Evaluate "
                              "show it before any run is trained")
    return run
