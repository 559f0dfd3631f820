"""The workflow runtime's shape (issue 11, docs/architecture.md): one explicit activation state
passed to small collaborators, no mixins, no module reaching into another's private names."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import tidal._runtime as runtime
from tidal._runtime import WorkflowInstance
from tidal._runtime.activation import ActivationState

RUNTIME = Path(runtime.__file__).parent


def test_the_instance_composes_collaborators_instead_of_inheriting_mixins() -> None:
    assert WorkflowInstance.__bases__ == (object,)
    inst_init = inspect.getsource(WorkflowInstance.__init__)
    collaborators = (
        "activities",
        "local_activities",
        "timers",
        "conditions",
        "patches",
        "children",
        "lifecycle",
    )
    for collaborator in collaborators:
        assert f"self.{collaborator} = " in inst_init, collaborator


def test_collaborators_share_one_activation_state() -> None:
    from tidal import workflow

    @workflow.defn
    class Tiny:
        @workflow.run
        async def run(self) -> None: ...

    inst = WorkflowInstance(
        definition=workflow.get_definition(Tiny), namespace="default", workflow_id="w", run_id="r"
    )
    assert isinstance(inst.state, ActivationState)
    for name in (
        "activities",
        "local_activities",
        "timers",
        "conditions",
        "patches",
        "children",
        "handlers",
        "lifecycle",
    ):
        assert getattr(inst, name)._state is inst.state, name


def test_no_runtime_module_imports_another_runtime_modules_private_names() -> None:
    offenders = []
    for path in sorted(RUNTIME.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                offenders += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_")]
    assert not offenders, offenders


def test_runtime_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in RUNTIME.glob("*.py")}
    too_big = {n: s for n, s in sizes.items() if s > 400}
    assert not too_big, too_big


def test_no_runtime_module_imports_inside_a_function_to_dodge_a_cycle() -> None:
    local = []
    for path in sorted(RUNTIME.glob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                local += [
                    f"{path.name}:{n.lineno} in {fn.name}"
                    for n in ast.walk(fn)
                    if isinstance(n, ast.Import | ast.ImportFrom)
                ]
    assert not local, local
