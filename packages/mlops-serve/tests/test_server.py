"""A real uvicorn in a thread (serve_in_background) and in the foreground (run_foreground)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from mlops_core.plugins import PluginManager
from mlops_core.settings import Settings
from mlops_serve.gateway import create_app
from mlops_serve.server import PortInUseError, bind_socket, serve_in_background, url_for


@pytest.fixture
def gateway_app(settings: Settings) -> FastAPI:
    return create_app(settings, PluginManager(settings, entrypoints=False))


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.ConnectError:
        return True
    return False


def test_serves_on_a_free_port_and_stops_cleanly(gateway_app: FastAPI) -> None:
    handle = serve_in_background(gateway_app)

    assert handle.port > 0 and handle.url == f"http://127.0.0.1:{handle.port}"
    assert httpx.get(f"{handle.url}/health").json()["status"] == "ok"
    handle.stop()

    assert not handle.running
    assert _refused(f"{handle.url}/health")


def test_stop_lets_the_request_in_flight_finish() -> None:
    app = FastAPI()
    entered = threading.Event()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/slow")
    def slow() -> dict[str, str]:
        entered.set()
        time.sleep(0.5)
        return {"done": "yes"}

    handle = serve_in_background(app)
    answers: list[httpx.Response] = []
    client = threading.Thread(target=lambda: answers.append(httpx.get(f"{handle.url}/slow", timeout=10)))
    client.start()
    assert entered.wait(5)
    handle.stop()
    client.join(10)

    assert answers and answers[0].json() == {"done": "yes"}
    assert not handle.running


def test_a_port_in_use_names_the_setting(occupied_port: int) -> None:
    with pytest.raises(PortInUseError) as caught:
        bind_socket("127.0.0.1", occupied_port)

    assert f"port {occupied_port} on 127.0.0.1 is already in use by another program" in caught.value.message
    assert "serve.port" in caught.value.fix and "MLOPS_SERVE__PORT" in caught.value.fix


def test_a_port_held_by_our_gateway_says_so(gateway_app: FastAPI) -> None:
    with serve_in_background(gateway_app) as running:
        with pytest.raises(PortInUseError) as caught:
            serve_in_background(gateway_app, port=running.port)

    assert f"an mlops gateway is already serving at {running.url}" in caught.value.message
    assert "MLOPS_SERVE__PORT" in (caught.value.fix or "")


def test_urls_for_wildcard_and_ipv6_hosts() -> None:
    assert url_for("0.0.0.0", 80) == "http://127.0.0.1:80"
    assert url_for("::1", 8765) == "http://[::1]:8765"
    assert url_for("localhost", 1) == "http://localhost:1"


def test_the_state_dir_is_untouched_by_serving(gateway_app: FastAPI, settings: Settings) -> None:
    with serve_in_background(gateway_app) as running:
        httpx.get(f"{running.url}/models")

    # Listing models discovers projects but must not persist a registry or write elsewhere.
    assert not Path(settings.state_dir).exists() or not any(Path(settings.state_dir).iterdir())
