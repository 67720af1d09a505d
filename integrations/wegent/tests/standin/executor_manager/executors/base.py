"""Interface of executor_manager's Executor base class as of Wegent eebcf103 (2026-08-22).

The abstract methods and the heartbeat registration helper, as executor_manager calls them;
bodies are this stand-in's own.
"""

import abc
from typing import Any, Dict, Optional


class Executor(abc.ABC):
    @abc.abstractmethod
    def submit_executor(self, task: Dict[str, Any], callback: Optional[Any] = None) -> Dict[str, Any]: ...

    @abc.abstractmethod
    def get_current_task_ids(self, label_selector: Optional[str] = None) -> Dict[str, Any]: ...

    @abc.abstractmethod
    def delete_executor(self, pod_name: str) -> Dict[str, Any]: ...

    @abc.abstractmethod
    def get_executor_count(self, label_selector: Optional[str] = None) -> Dict[str, Any]: ...

    @abc.abstractmethod
    def get_container_status(self, executor_name: str) -> Dict[str, Any]: ...

    @abc.abstractmethod
    def create_instance(self, task: Dict[str, Any], task_info: Dict[str, Any], executor_name: str) -> None: ...

    @abc.abstractmethod
    def wait_instance_ready(self, executor_name: str) -> Dict[str, Any]: ...

    @abc.abstractmethod
    def dispatch_task_to_instance(self, task: Dict[str, Any], executor_name: str, ready_info: Dict[str, Any]) -> Dict[str, Any]: ...

    def get_executor_task_id(self, executor_name: str) -> Optional[str]:
        return None

    def delete_executor_by_task_id(self, task_id: str) -> Dict[str, Any]:
        return {"status": "not_found", "error_msg": "not implemented"}

    def register_task_for_heartbeat(self, task_id, subtask_id, executor_name: str, task_type: str = "online", context: str = "") -> bool:
        if task_type in ("validation", "sandbox"):
            return False
        from executor_manager.services.task_heartbeat_manager import get_running_task_tracker

        get_running_task_tracker().add_running_task(task_id=task_id, subtask_id=subtask_id, executor_name=executor_name, task_type=task_type)
        return True
