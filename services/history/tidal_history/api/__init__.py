"""One module per operation, each with one entry function `handle(...) -> Outcome`."""
