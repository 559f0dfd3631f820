"""The HTTP API: one module per operation, wired together in `router`."""
