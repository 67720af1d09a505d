"""Stand-in DockerExecutor: records every call and answers like Wegent's (shapes from its interface)."""

from ..base import Executor


class DockerExecutor(Executor):
    def __init__(self):
        self.calls = []

    def _record(self, name, *args):
        self.calls.append((name,) + args)

    def submit_executor(self, task, callback=None):
        self._record("submit_executor", task)
        return {"status": "success", "executor_name": "wegent-task-docker-1", "executor_namespace": ""}

    def get_current_task_ids(self, label_selector=None):
        self._record("get_current_task_ids", label_selector)
        return {"status": "success", "task_ids": ["900"]}

    def delete_executor(self, pod_name):
        self._record("delete_executor", pod_name)
        return {"status": "success"}

    def get_executor_count(self, label_selector=None):
        self._record("get_executor_count", label_selector)
        return {"status": "success", "task_ids": ["900", "901"], "running": 2}

    def get_container_status(self, executor_name):
        self._record("get_container_status", executor_name)
        return {"exists": False, "status": "not_found", "oom_killed": False, "exit_code": None, "error_msg": "no such container"}

    def create_instance(self, task, task_info, executor_name):
        self._record("create_instance", executor_name)

    def wait_instance_ready(self, executor_name):
        self._record("wait_instance_ready", executor_name)
        return {"port": 10010}

    def dispatch_task_to_instance(self, task, executor_name, ready_info):
        self._record("dispatch_task_to_instance", executor_name)
        return {"status": "success"}

    def cancel_task(self, task_id, subtask_id=None):
        self._record("cancel_task", task_id, subtask_id)
        return {"status": "failed", "error_msg": f"Task {task_id} is not currently running"}

    def get_container_address(self, executor_name, executor_namespace=None):
        self._record("get_container_address", executor_name)
        return {"status": "success", "base_url": "http://host.docker.internal:10010"}

    def _get_container_port(self, executor_name):
        self._record("_get_container_port", executor_name)
        return 10010, None

    def archive_workspace(self, task_id):
        self._record("archive_workspace", task_id)
        return {"status": "success"}
