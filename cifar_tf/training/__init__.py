"""Training a run: its configuration and presets (`config`, `presets`), one run life (`run`) with
two recipes (`keras_fit`, `airbench`), live callbacks (`live`), optimizers and schedules (`optim`),
device settings (`device`) and the worker process the run manager starts (`worker`)."""
