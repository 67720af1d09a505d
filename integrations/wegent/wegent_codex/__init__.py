"""wegent-codex kit for Wegent's executor_manager.

Install into executor_manager's image and set two variables::

    EXECUTOR_CONFIG='{"docker": "wegent_codex.RoutingExecutor"}'
    WEGENT_CODEX_URL=http://wegent-codex:10001

Codex-shell tasks then go to the wegent-codex service; every other task to Wegent's own
Docker executor, unchanged. Standard library only.
"""

from .routing_executor import RoutingExecutor
from .service_client import ServiceClient, ServiceError
from .tasks import generation_of, is_codex_task

__all__ = ["RoutingExecutor", "ServiceClient", "ServiceError", "generation_of", "is_codex_task"]
