"""The deterministic workflow runtime: the event loop workflow code runs on, and the instance that
replays a run's history and produces its commands. The worker's entry point is
`WorkflowInstance(...).activate(task)`."""

from .instance import StaleInstanceError, WorkflowInstance, WorkflowTaskError
from .loop import WorkflowEventLoop
from .patches import PatchActivationInput

__all__ = [
    "PatchActivationInput",
    "StaleInstanceError",
    "WorkflowEventLoop",
    "WorkflowInstance",
    "WorkflowTaskError",
]
