"""Hyperparameter search with KerasTuner: spaces (`space`, and the page editor's offers in
`editor`), search folders (`store`), what a search found (`results`), its process (`process`) and
the KerasTuner side (`tuner`)."""
