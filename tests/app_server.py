"""Start the real Gradio app on a free loopback port for HTTP-level tests (no model is loaded)."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from pathlib import Path

import httpx

from assistant.config import Settings


def make_settings(root: Path, **overrides: object) -> Settings:
    adapters = root / "adapters"
    adapters.mkdir(parents=True, exist_ok=True)
    values = {
        "data_dir": root / "data",
        "adapters_dir": adapters,
        "model": str(root / "no-model-needed"),
        "auto_index_knowledge": False,
        "chat_rate_per_minute": 0,  # suites send many turns from one owner; tests/test_limits.py tests the limit
        **overrides,
    }
    return Settings(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    app: object
    base: str
    port: int

    def raw_get(self, raw_path: str, headers: dict | None = None) -> tuple[int, bytes]:
        """GET with the path sent byte for byte (httpx would normalise `..` and percent escapes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", raw_path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def call(self, api_name: str, data: list, cookies: httpx.Cookies | None = None, errors: bool = False) -> list:
        """Call a named endpoint through Gradio's REST API (/gradio_api/call/NAME) and return its outputs
        (with `errors`, a refusal comes back as ["error", message] instead of raising)."""
        with httpx.Client(base_url=self.base, cookies=cookies, timeout=60) as client:
            response = client.post(f"/gradio_api/call/{api_name}", json={"data": data})
            response.raise_for_status()
            event_id = response.json()["event_id"]
            stream = client.get(f"/gradio_api/call/{api_name}/{event_id}")
        event, payload = None, None
        for line in stream.text.splitlines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                payload = line.split(":", 1)[1].strip()
        if event != "complete":
            if errors:
                return ["error", payload]
            raise RuntimeError(f"{api_name}: {event}: {payload}")
        return json.loads(payload)

    def login(self, name: str, password: str) -> httpx.Cookies:
        with httpx.Client(base_url=self.base, timeout=60) as client:
            response = client.post("/login", data={"username": name, "password": password})
            if response.status_code != 200:
                raise PermissionError(f"login failed: {response.status_code} {response.text[:200]}")
            return client.cookies

    def close(self) -> None:
        self.app.close()


def start(services, insecure: bool = False) -> Server:  # noqa: ANN001
    """build_app + launch exactly as `python app.py` does (same launch options), on a free port."""
    from assistant.ui.app import build_app, launch_options

    options = launch_options(services, insecure)
    options["server_port"] = port = free_port()
    app = build_app(services)
    app.queue(default_concurrency_limit=services.settings.concurrency, max_size=64)
    app.launch(prevent_thread_lock=True, quiet=True, show_error=True, **options)
    return Server(app, f"http://127.0.0.1:{port}", port)
