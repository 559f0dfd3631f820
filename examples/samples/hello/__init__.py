"""Temporal's `hello` samples written in temporalio's idiom with only `tidal` imports.

Each module is one pattern: a workflow, its activities, and `run(client)` which starts a worker
and the workflow and returns the result (what the sample would print). `python -m
examples.samples.hello.hello_activity` runs one against `tidal-server dev`; tests/e2e/test_hello_samples.py
runs every one embedded and on the real stack.
"""
