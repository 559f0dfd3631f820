"""Tidal's Python SDK: durable workflows as plain async Python.

The module layout mirrors `temporalio`: `from tidal import activity, workflow`,
`from tidal.client import Client`, `from tidal.worker import Worker`.
"""

from . import activity, client, common, converter, exceptions, worker, workflow
from .client import Client, WorkflowHandle
from .common import RetryPolicy
from .worker import Worker

__all__ = [
    "Client",
    "RetryPolicy",
    "Worker",
    "WorkflowHandle",
    "activity",
    "client",
    "common",
    "converter",
    "exceptions",
    "worker",
    "workflow",
]
