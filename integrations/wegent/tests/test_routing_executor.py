"""The routing executor against the real wegent-codex service (see conftest.py)."""

import base64
import copy
import json
import time
import urllib.request

import pytest

from conftest import TOKEN, is_terminal, wait_until
from executor_manager.executors.base import Executor
from executor_manager.executors.docker import DockerExecutor
from executor_manager.services.task_heartbeat_manager import get_running_task_tracker
from wegent_codex import RoutingExecutor, ServiceClient, generation_of, is_codex_task

API_KEY = "sk-kit-test-0123456789abcdef"


def body_2026(fake_model, task_id, subtask_id, shell_type="Codex", text="Say done."):
    """A Responses body as executor_manager hands it to its executor (wegent-protocol-2026.md §2.11, trimmed)."""
    return {
        "model": "kit-model",
        "input": text,
        "instructions": "Be brief.",
        "tools": None,
        "stream": False,
        "background": True,
        "metadata": {
            "task_id": task_id,
            "subtask_id": subtask_id,
            "user": {"id": 7, "name": "alice", "git_token": None},
            "bot": [{"id": 1, "name": "codex-bot", "shell_type": shell_type, "agent_config": {"env": {"model": "openai"}}, "mcp_servers": [], "skills": []}],
            "bot_name": "codex-bot",
            "message_id": 1,
            "auth_token": None,
            "attachments": [],
            "executor_name": None,
            "executor_namespace": None,
            "type": None,
        },
        "model_config": {"model_id": "kit-model", "api_key": API_KEY, "base_url": fake_model.base_url, "reasoning": {"effort": "low"}},
    }


def payload_2025(fake_model, task_id, subtask_id):
    """The flat task payload of a 2025 Wegent (wegent-protocol.md §2)."""
    return {
        "task_id": task_id,
        "subtask_id": subtask_id,
        "type": "online",
        "executor_name": "",
        "task_title": "kit",
        "subtask_title": "kit",
        "user": {"id": 7, "name": "alice", "git_token": None},
        "bot": [{"id": 1, "name": "codex-bot", "shell_type": "Codex", "agent_config": {"env": {"model": "openai", "model_id": "kit-model", "api_key": API_KEY, "base_url": fake_model.base_url}}, "mcp_servers": {}, "skills": []}],
        "git_url": "",
        "prompt": "Say done.",
        "auth_token": None,
        "attachments": [],
    }


@pytest.fixture
def router(kit_env):
    get_running_task_tracker().added.clear()
    return RoutingExecutor(env=kit_env)


def test_loads_the_way_executor_manager_loads_it(kit_env, monkeypatch):
    # EXECUTOR_CONFIG='{"docker": "wegent_codex.RoutingExecutor"}': executor_manager imports the
    # module, takes the class and calls it without arguments; the fallback comes from the env.
    for name, value in kit_env.items():
        monkeypatch.setenv(name, value)
    import importlib

    router = getattr(importlib.import_module("wegent_codex"), "RoutingExecutor")()
    assert isinstance(router, Executor)
    assert isinstance(router._fallback, DockerExecutor)


def test_routes_a_2026_codex_body_to_v1_responses_and_registers_it_for_heartbeats(router, fake_model, sink):
    body = body_2026(fake_model, 8101, 1)

    result = router.submit_executor(body)

    assert result == {"status": "success", "executor_name": "wegent-codex-8101", "executor_namespace": ""}
    assert body["metadata"]["executor_name"] == "wegent-codex-8101"
    assert body["metadata"]["executor_namespace"] == ""
    assert router._fallback.calls == []
    assert get_running_task_tracker().added == [{"task_id": 8101, "subtask_id": 1, "executor_name": "wegent-codex-8101", "task_type": "online"}]
    terminal = sink.terminal_of(8101, 1)
    assert terminal.get("event_type") == "response.completed" or terminal.get("status") == "COMPLETED", terminal
    assert terminal.get("executor_name") in ("wegent-codex-8101", "wegent-codex")


def test_a_resent_dispatch_is_one_run(router, fake_model, sink):
    body = body_2026(fake_model, 8102, 1)
    assert router.submit_executor(copy.deepcopy(body))["status"] == "success"
    assert router.submit_executor(copy.deepcopy(body))["status"] == "success"
    sink.terminal_of(8102, 1)
    time.sleep(1.5)  # a second run would have ended by now too
    assert len([b for b in sink.callbacks_of(8102, 1) if is_terminal(b)]) == 1


def test_routes_a_2025_codex_payload_to_api_tasks_execute(router, fake_model, sink):
    result = router.submit_executor(payload_2025(fake_model, 8103, 1))

    assert result == {"status": "success", "executor_name": "wegent-codex-8103", "executor_namespace": ""}
    terminal = sink.terminal_of(8103, 1)
    assert terminal["status"] == "COMPLETED" and terminal["progress"] == 100


def test_hands_every_other_task_to_the_docker_executor(router, fake_model):
    claude = body_2026(fake_model, 8104, 1, shell_type="ClaudeCode")
    validation = payload_2025(fake_model, 8105, 1)
    validation["type"] = "validation"

    assert router.submit_executor(claude) == {"status": "success", "executor_name": "wegent-task-docker-1", "executor_namespace": ""}
    assert router.submit_executor(validation)["executor_name"] == "wegent-task-docker-1"
    assert [c[0] for c in router._fallback.calls] == ["submit_executor", "submit_executor"]
    assert get_running_task_tracker().added == []
    # Methods the router does not route reach the Docker executor unchanged.
    assert router.archive_workspace(8104) == {"status": "success"}
    assert router.get_container_status("wegent-task-docker-1")["exists"] is False


def test_cancels_a_running_codex_task_through_the_service(router, fake_model, sink, script):
    script([{"steps": [], "end": {"kind": "hang"}}])
    assert router.submit_executor(body_2026(fake_model, 8106, 1))["status"] == "success"
    wait_until(lambda: sink.callbacks_of(8106, 1), 60, "a first callback of 8106.1")

    result = router.cancel_task(8106, 1)

    assert result == {"status": "success", "task_ids": ["8106"], "message": "Task 8106 cancellation requested"}
    assert router._fallback.calls == []  # dispatched here: the service first
    terminal = sink.terminal_of(8106, 1, timeout=60)
    assert terminal.get("event_type") == "response.incomplete" or terminal.get("status") == "CANCELLED", terminal
    # Nothing left to cancel: the service's reason comes back as a failure.
    again = router.cancel_task(8106, 1)
    assert again["status"] == "failed" and "8106" in again["error_msg"]


def test_after_a_restart_of_executor_manager_cancel_asks_docker_then_the_service(kit_env, fake_model, sink, script):
    script([{"steps": [], "end": {"kind": "hang"}}])
    first = RoutingExecutor(env=kit_env)
    assert first.submit_executor(body_2026(fake_model, 8107, 1))["status"] == "success"
    wait_until(lambda: sink.callbacks_of(8107, 1), 60, "a first callback of 8107.1")

    restarted = RoutingExecutor(env=kit_env)  # knows nothing of 8107
    result = restarted.cancel_task(8107, 1)

    assert [c[0] for c in restarted._fallback.calls] == ["cancel_task"]
    assert result["status"] == "success"
    sink.terminal_of(8107, 1, timeout=60)


def test_delete_of_a_codex_executor_cancels_its_task_and_never_touches_docker(router, fake_model, sink, script):
    script([{"steps": [], "end": {"kind": "hang"}}])
    assert router.submit_executor(body_2026(fake_model, 8108, 1))["status"] == "success"
    wait_until(lambda: sink.callbacks_of(8108, 1), 60, "a first callback of 8108.1")

    assert router.get_executor_task_id("wegent-codex-8108") == "8108"
    assert router.delete_executor("wegent-codex-8108") == {"status": "success"}
    assert router.delete_executor("wegent-codex") == {"status": "success"}
    assert router._fallback.calls == []
    sink.terminal_of(8108, 1, timeout=60)
    assert router.delete_executor("wegent-task-docker-9") == {"status": "success"}
    assert router._fallback.calls == [("delete_executor", "wegent-task-docker-9")]


def test_reports_load_and_liveness_for_executor_manager(router, service):
    # A cancelled run's CANCELLED callback leaves before its process tree is gone; its job (and the
    # count) ends only then, which takes longer on a loaded machine.
    wait_until(lambda: router.get_executor_count()["codex_running"] == 0, 60, "the runs of earlier tests to end")
    count = router.get_executor_count()
    assert count["status"] == "success" and count["codex_running"] == 0 and count["running"] == 2
    status = router.get_container_status("wegent-codex-8101")
    assert status == {"exists": True, "status": "running", "oom_killed": False, "exit_code": 0, "error_msg": None}

    down = RoutingExecutor(fallback=DockerExecutor(), client=ServiceClient("http://127.0.0.1:9", timeout=1))
    assert down.get_container_status("wegent-codex-1")["exists"] is False


def test_attachment_sync_reaches_the_service_with_the_token_in_the_address(router, fake_model, service):
    # executor_manager: submit_executor(prepare_only) → get_container_address → POST <base>/v1/attachments/sync, no header of its own.
    prepared = router.submit_executor({"task_id": 8109, "subtask_id": 1, "bot": [{"shell_type": "Codex"}], "prepare_only": True, "attachments": []})
    assert prepared == {"status": "success", "executor_name": "wegent-codex-8109", "executor_namespace": ""}
    address = router.get_container_address("wegent-codex-8109", "")
    assert address["status"] == "success"
    assert address["base_url"] == service.url.replace("http://", f"http://kit:{TOKEN}@")

    # What httpx does with credentials in a URL: Basic auth.
    plain = address["base_url"].replace(f"kit:{TOKEN}@", "")
    request = urllib.request.Request(plain + "/v1/attachments/sync", data=json.dumps({"task_id": 8109, "subtask_id": 1, "attachments": []}).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"kit:{TOKEN}".encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read()) == {"task_id": "8109", "subtask_id": "1", "attachments": [], "success_count": 0, "failed_count": 0}
    assert router._fallback.calls == []


def test_a_refused_dispatch_returns_no_executor_name_so_executor_manager_requeues(router, fake_model):
    broken = body_2026(fake_model, 8110, 1)
    broken["metadata"]["subtask_id"] = -1

    result = router.submit_executor(broken)

    assert result["status"] == "failed" and "executor_name" not in result
    assert result["error_msg"].startswith("wegent-codex refused the task: HTTP 400")


def test_reads_fields_like_executor_manager():
    assert is_codex_task({"metadata": {"task_id": 1, "bot": [{"shell_type": " CodeX "}]}})
    assert not is_codex_task({"metadata": {"task_id": 1, "type": "sandbox", "bot": [{"shell_type": "Codex"}]}})
    # metadata without task_id: the legacy flat form, read from the top level
    assert is_codex_task({"metadata": {"bot": [{"shell_type": "Agno"}]}, "task_id": 1, "bot": [{"shell_type": "codex"}]})
    assert generation_of({"input": "x", "metadata": {"task_id": 1}}) == "2026"
    assert generation_of({"task_id": 1, "prompt": "x"}) == "2025"
    assert generation_of({"task_id": 1, "prompt": "x"}, forced="2026") == "2026"


def test_instance_methods_and_task_lists_route_by_name(router, fake_model, service):
    assert router.submit_executor(body_2026(fake_model, 8111, 1))["status"] == "success"

    ids = router.get_current_task_ids()
    assert ids["status"] == "success" and ids["task_ids"] == ["900", "8111"]
    assert router.wait_instance_ready("wegent-codex-8111") == {"base_url": service.url}
    assert router._get_container_port("wegent-codex-8111") == (None, "Codex tasks run in the shared wegent-codex service: cancel them by task_id")
    assert router.create_instance(body_2026(fake_model, 8111, 2), {}, "wegent-codex-8111") is None
    assert [c[0] for c in router._fallback.calls] == ["get_current_task_ids"]

    assert router._get_container_port("wegent-task-docker-1") == (10010, None)
    assert router.wait_instance_ready("wegent-task-docker-1") == {"port": 10010}
    assert router.get_container_address("wegent-task-docker-1") == {"status": "success", "base_url": "http://host.docker.internal:10010"}
    assert [c[0] for c in router._fallback.calls][1:] == ["_get_container_port", "wait_instance_ready", "get_container_address"]
