"""Stand-in RunningTaskTracker: records what is registered."""


class RunningTaskTracker:
    def __init__(self):
        self.added = []

    def add_running_task(self, task_id, subtask_id, executor_name, task_type="online"):
        self.added.append({"task_id": task_id, "subtask_id": subtask_id, "executor_name": executor_name, "task_type": task_type})


_tracker = RunningTaskTracker()


def get_running_task_tracker() -> RunningTaskTracker:
    return _tracker
