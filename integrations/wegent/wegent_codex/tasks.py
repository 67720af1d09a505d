"""Reading a task dict the way executor_manager does.

executor_manager hands its executors either today's Responses body (Wegent fields in
``metadata``, docs/protocol/wegent-protocol-2026.md §2) or, from a 2025 Wegent, the flat task
payload (docs/protocol/wegent-protocol.md §2). A field is read from ``metadata`` when it holds a
``task_id``, else from the top level; ``None`` counts as absent (§2.1).
"""

from typing import Any, Dict, Optional

CODEX_SHELL_TYPES = {"codex"}
"""``bot[0].shell_type`` values (lower-cased) that run on wegent-codex; Wegent also writes ``CodeX``."""

NOT_FOR_THE_SERVICE = {"validation", "sandbox"}
"""Task types Wegent's own executors handle (image validation, E2B sandboxes)."""


def fields_of(task: Dict[str, Any]) -> Dict[str, Any]:
    metadata = task.get("metadata")
    if isinstance(metadata, dict) and metadata.get("task_id") is not None:
        return metadata
    return task


def field(task: Dict[str, Any], name: str, default: Any = None) -> Any:
    value = fields_of(task).get(name)
    return default if value is None else value


def shell_type_of(task: Dict[str, Any]) -> str:
    bots = field(task, "bot")
    first = bots[0] if isinstance(bots, list) and bots else None
    shell = first.get("shell_type") if isinstance(first, dict) else None
    return shell.strip().lower() if isinstance(shell, str) else ""


def is_codex_task(task: Dict[str, Any]) -> bool:
    if field(task, "type") in NOT_FOR_THE_SERVICE:
        return False
    return shell_type_of(task) in CODEX_SHELL_TYPES


def generation_of(task: Dict[str, Any], forced: Optional[str] = None) -> str:
    """``2026`` for a Responses body (``input`` or ``metadata.task_id``), else ``2025``."""
    if forced in ("2025", "2026"):
        return forced
    metadata = task.get("metadata")
    if "input" in task or (isinstance(metadata, dict) and metadata.get("task_id") is not None):
        return "2026"
    return "2025"


def set_field(task: Dict[str, Any], name: str, value: Any) -> None:
    """Writes where executor_manager's Docker executor writes it: ``metadata`` of a 2026 body, else the top level."""
    fields_of(task)[name] = value
