"""HTTP calls to the wegent-codex service (urllib only: nothing to add to executor_manager's image)."""

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Optional, Tuple


class ServiceError(Exception):
    """The service could not be reached, or answered with a status that means "not done"."""

    def __init__(self, message: str, status: Optional[int] = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


class ServiceClient:
    """One wegent-codex deployment. ``token`` is its API_TOKEN (sent as a bearer token)."""

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 10.0, attempts: int = 3):
        if not base_url:
            raise ValueError("WEGENT_CODEX_URL is not set: the address of the wegent-codex service, e.g. http://wegent-codex:10001")
        self.base_url = base_url.rstrip("/")
        self.token = token or None
        self.timeout = timeout
        self.attempts = max(1, attempts)

    @classmethod
    def from_env(cls, env=os.environ) -> "ServiceClient":
        return cls(
            env.get("WEGENT_CODEX_URL", ""),
            token=env.get("WEGENT_CODEX_TOKEN") or None,
            timeout=float(env.get("WEGENT_CODEX_TIMEOUT", "10")),
        )

    # -- routes ---------------------------------------------------------------------------

    def dispatch(self, task: Dict[str, Any], generation: str) -> Dict[str, Any]:
        """Posts a task; retried like executor_manager retries a container (the service de-duplicates)."""
        path = "/v1/responses" if generation == "2026" else "/api/tasks/execute"
        last: Optional[ServiceError] = None
        for attempt in range(self.attempts):
            try:
                status, body = self._request("POST", path, task)
            except ServiceError as error:  # unreachable or timed out: the same post again is safe
                last = error
                time.sleep(min(1.0 * (attempt + 1), 3.0))
                continue
            if status == 200 or status == 202:
                return body if isinstance(body, dict) else {}
            raise ServiceError(f"wegent-codex refused the task: HTTP {status}: {_reason(body)}", status, body)
        raise last or ServiceError("wegent-codex did not answer")

    def cancel(self, task_id: Any, subtask_id: Any = None) -> Tuple[bool, str]:
        """True when something was cancelled; else False and the service's reason."""
        query = {"task_id": str(task_id)}
        if subtask_id is not None:
            query["subtask_id"] = str(subtask_id)
        status, body = self._request("POST", "/api/tasks/cancel?" + urllib.parse.urlencode(query), None)
        return status == 200, _reason(body)

    def ready(self) -> Tuple[bool, str]:
        """executor_manager's own rule: any answer under 500 is ready."""
        try:
            status, body = self._request("GET", "/ready", None, authorize=False)
        except ServiceError as error:
            return False, str(error)
        return status < 500, _reason(body)

    def running(self) -> int:
        """Jobs the service is running now (its /readyz counts); 0 when it cannot tell."""
        try:
            status, body = self._request("GET", "/readyz", None, authorize=False)
        except ServiceError:
            return 0
        counts = body.get("counts") if isinstance(body, dict) else None
        return int(counts.get("active", 0)) if status == 200 and isinstance(counts, dict) else 0

    def address_with_credentials(self) -> str:
        """The base URL executor_manager posts attachment syncs to; it adds no header, so the token rides as the Basic password."""
        if not self.token:
            return self.base_url
        parts = urllib.parse.urlsplit(self.base_url)
        netloc = "kit:" + urllib.parse.quote(self.token, safe="") + "@" + parts.netloc
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    # -- transport ------------------------------------------------------------------------

    def _request(self, method: str, path: str, payload: Any, authorize: bool = True) -> Tuple[int, Any]:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if authorize and self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read())
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise ServiceError(f"wegent-codex at {self.base_url} is unreachable: {getattr(error, 'reason', error)}") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (ValueError, UnicodeDecodeError):
        return None


def _reason(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("detail", "error", "message"):
            if isinstance(body.get(key), str):
                return body[key]
    return ""

