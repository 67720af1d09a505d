"""The executor executor_manager loads from ``EXECUTOR_CONFIG``.

Codex-shell tasks go to the wegent-codex service (2026 bodies to ``POST /v1/responses``, 2025
payloads to ``POST /api/tasks/execute``); everything else goes to Wegent's own Docker executor,
unchanged. Written from the interface of ``executor_manager/executors/base.py`` and the calls
executor_manager makes on its executor (dispatch, cancel, delete, counts, container status and
address); Wegent's files stay as they are.
"""

import importlib
import logging
import os
import threading
from typing import Any, Dict, Optional, Tuple

from .service_client import ServiceClient, ServiceError
from .tasks import field, generation_of, is_codex_task, set_field

logger = logging.getLogger("wegent_codex")

try:  # inside executor_manager
    from executor_manager.executors.base import Executor as _Base  # type: ignore
except ImportError:  # outside it (documentation builds, linters)
    _Base = object

DEFAULT_FALLBACK = "executor_manager.executors.docker.DockerExecutor"
DEFAULT_NAME_PREFIX = "wegent-codex"


def _load_class(path: str):
    module, _, name = path.strip().rpartition(".")
    if not module:
        raise ValueError(f"WEGENT_CODEX_FALLBACK must be module.Class, got {path!r}")
    return getattr(importlib.import_module(module), name)


class RoutingExecutor(_Base):
    """Codex tasks → wegent-codex; anything else → the fallback executor (Wegent's Docker executor).

    Configuration (environment of executor_manager):

    * ``WEGENT_CODEX_URL`` (required): the service, e.g. ``http://wegent-codex:10001``.
    * ``WEGENT_CODEX_TOKEN``: the service's ``API_TOKEN``, when it has one.
    * ``WEGENT_CODEX_FALLBACK``: executor for other tasks (default Wegent's DockerExecutor).
    * ``WEGENT_CODEX_PROTOCOL``: ``2025``/``2026`` to force the route (default: by the body's shape).
    * ``WEGENT_CODEX_NAME_PREFIX``: executor names of Codex tasks (default ``wegent-codex``).
    """

    def __init__(self, fallback: Any = None, client: Optional[ServiceClient] = None, env=os.environ):
        self._client = client or ServiceClient.from_env(env)
        self._fallback = fallback if fallback is not None else _load_class(env.get("WEGENT_CODEX_FALLBACK", DEFAULT_FALLBACK))()
        self._forced = env.get("WEGENT_CODEX_PROTOCOL") or None
        self._prefix = env.get("WEGENT_CODEX_NAME_PREFIX", DEFAULT_NAME_PREFIX)
        self._lock = threading.Lock()
        # task id → executor name, for Codex tasks this process dispatched (cancel goes to the service first).
        self._codex_tasks: Dict[str, str] = {}

    def __getattr__(self, name: str):
        # Anything executor_manager calls that is not routed here is the fallback's business.
        if name.startswith("__") or name in ("_fallback", "_client"):
            raise AttributeError(name)
        return getattr(self._fallback, name)

    # -- names ----------------------------------------------------------------------------

    def name_for(self, task_id: Any) -> str:
        return f"{self._prefix}-{task_id}"

    def is_codex_name(self, executor_name: Optional[str]) -> bool:
        return bool(executor_name) and (executor_name == self._prefix or executor_name.startswith(self._prefix + "-"))

    def _task_of_name(self, executor_name: str) -> Optional[str]:
        rest = executor_name[len(self._prefix) + 1:] if executor_name.startswith(self._prefix + "-") else ""
        return rest if rest.isdigit() else None

    # -- dispatch -------------------------------------------------------------------------

    def submit_executor(self, task: Dict[str, Any], callback: Optional[Any] = None) -> Dict[str, Any]:
        if not is_codex_task(task):
            return self._fallback.submit_executor(task, callback)
        task_id, subtask_id = field(task, "task_id"), field(task, "subtask_id")
        current = field(task, "executor_name")
        name = current if self.is_codex_name(current) else self.name_for(task_id)
        # What the Docker executor writes before it dispatches; the service echoes both in every callback.
        set_field(task, "executor_name", name)
        set_field(task, "executor_namespace", "")
        if field(task, "prepare_only"):
            # Attachment sync asks for a runtime first: the service is always there.
            return {"status": "success", "executor_name": name, "executor_namespace": ""}
        generation = generation_of(task, self._forced)
        try:
            self._client.dispatch(task, generation)
        except ServiceError as error:
            logger.error("Codex task %s.%s not dispatched: %s", task_id, subtask_id, error)
            # No executor_name: executor_manager's consumer then re-queues the task and, at the
            # end, reports it failed (a name would make it count a dead dispatch as a success).
            return {"status": "failed", "error_msg": str(error)}
        with self._lock:
            self._codex_tasks[str(task_id)] = name
        # Today's base class registers with RunningTaskTracker (heartbeat crash detection); 2025 has none.
        register = getattr(self, "register_task_for_heartbeat", None)
        if callable(register):
            register(task_id, subtask_id, name, field(task, "type") or "online", context="wegent-codex")
        logger.info("Codex task %s.%s dispatched to wegent-codex (%s protocol)", task_id, subtask_id, generation)
        return {"status": "success", "executor_name": name, "executor_namespace": ""}

    # -- cancel and delete ----------------------------------------------------------------

    def cancel_task(self, task_id: Any, subtask_id: Any = None) -> Dict[str, Any]:
        """The service first for tasks dispatched here; otherwise Docker, then the service (after a restart of executor_manager)."""
        ours = str(task_id) in self._codex_tasks
        if not ours:
            result = self._fallback_cancel(task_id, subtask_id)
            if result.get("status") == "success":
                return result
        try:
            cancelled, reason = self._client.cancel(task_id, subtask_id)
        except ServiceError as error:
            return {"status": "failed", "error_msg": str(error)}
        if cancelled:
            return {"status": "success", "task_ids": [str(task_id)], "message": f"Task {task_id} cancellation requested"}
        return {"status": "failed", "error_msg": reason or f"Task {task_id} is not currently running"}

    def _fallback_cancel(self, task_id: Any, subtask_id: Any) -> Dict[str, Any]:
        cancel = getattr(self._fallback, "cancel_task", None)
        if not callable(cancel):
            return {"status": "failed", "error_msg": "no cancel in the fallback executor"}
        try:
            return cancel(task_id, subtask_id)
        except TypeError:  # 2025 executors take the task id only
            return cancel(task_id)

    def delete_executor(self, pod_name: str) -> Dict[str, Any]:
        """Deleting a Codex "container" stops the task's work; the shared service itself stays up."""
        if not self.is_codex_name(pod_name):
            return self._fallback.delete_executor(pod_name)
        task_id = self._task_of_name(pod_name)
        if task_id is not None:
            try:
                self._client.cancel(task_id)
            except ServiceError as error:
                logger.warning("cancel on delete of %s failed: %s", pod_name, error)
            with self._lock:
                self._codex_tasks.pop(task_id, None)
        return {"status": "success"}

    def delete_executor_by_task_id(self, task_id: str) -> Dict[str, Any]:
        if str(task_id) in self._codex_tasks:
            return self.delete_executor(self._codex_tasks[str(task_id)])
        return self._fallback.delete_executor_by_task_id(task_id)

    def get_executor_task_id(self, executor_name: str) -> Optional[str]:
        if self.is_codex_name(executor_name):
            return self._task_of_name(executor_name)
        return self._fallback.get_executor_task_id(executor_name)

    # -- state and load -------------------------------------------------------------------

    def get_container_status(self, executor_name: str) -> Dict[str, Any]:
        """For the heartbeat checker: a reachable service counts as a running container (the service reports its own lost runs)."""
        if not self.is_codex_name(executor_name):
            return self._fallback.get_container_status(executor_name)
        up, reason = self._client.ready()
        if up:
            return {"exists": True, "status": "running", "oom_killed": False, "exit_code": 0, "error_msg": None}
        return {"exists": False, "status": "not_found", "oom_killed": False, "exit_code": None, "error_msg": reason}

    def get_executor_count(self, label_selector: Optional[str] = None) -> Dict[str, Any]:
        """Docker's count plus the Codex jobs the service runs now, so executor_manager's capacity limit sees the whole load."""
        result = dict(self._fallback.get_executor_count(label_selector) or {})
        if label_selector:
            return result
        codex = self._client.running()
        result["codex_running"] = codex
        if result.get("status") == "success":
            result["running"] = int(result.get("running", 0)) + codex
        return result

    def get_current_task_ids(self, label_selector: Optional[str] = None) -> Dict[str, Any]:
        result = dict(self._fallback.get_current_task_ids(label_selector) or {})
        if not label_selector and result.get("status") == "success":
            with self._lock:
                ours = list(self._codex_tasks)
            result["task_ids"] = list(result.get("task_ids", [])) + [t for t in ours if t not in result.get("task_ids", [])]
        return result

    def get_container_address(self, executor_name: str, executor_namespace: Optional[str] = None) -> Dict[str, Any]:
        if self.is_codex_name(executor_name):
            return {"status": "success", "base_url": self._client.address_with_credentials()}
        return self._fallback.get_container_address(executor_name, executor_namespace) if executor_namespace is not None else self._fallback.get_container_address(executor_name)

    def _get_container_port(self, executor_name: str, *args: Any) -> Tuple[Optional[int], Optional[str]]:
        if self.is_codex_name(executor_name):
            return None, "Codex tasks run in the shared wegent-codex service: cancel them by task_id"
        return self._fallback._get_container_port(executor_name, *args)

    # -- runtime instances (used by executor_manager's prepare/recovery paths) ------------

    def create_instance(self, task: Dict[str, Any], task_info: Dict[str, Any], executor_name: str) -> None:
        if is_codex_task(task) or self.is_codex_name(executor_name):
            return None
        return self._fallback.create_instance(task, task_info, executor_name)

    def wait_instance_ready(self, executor_name: str) -> Dict[str, Any]:
        if self.is_codex_name(executor_name):
            return {"base_url": self._client.base_url}
        return self._fallback.wait_instance_ready(executor_name)

    def dispatch_task_to_instance(self, task: Dict[str, Any], executor_name: str, ready_info: Dict[str, Any]) -> Dict[str, Any]:
        if is_codex_task(task) or self.is_codex_name(executor_name):
            return self.submit_executor(task)
        return self._fallback.dispatch_task_to_instance(task, executor_name, ready_info)


# A base class of a later Wegent may declare more abstract methods; executor_manager must still be
# able to build the router (anything not routed above reaches the fallback through __getattr__).
if hasattr(RoutingExecutor, "__abstractmethods__"):
    RoutingExecutor.__abstractmethods__ = frozenset()
