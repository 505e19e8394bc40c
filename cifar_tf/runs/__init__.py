"""Saved runs: their folders (`store`, `files`), whether their worker lives (`liveness`), where
they stand (`progress`), and the manager that queues and starts them (`manager`)."""
