"""Latency of one prediction through the gateway, against a bare FastAPI endpoint.

Both run on a real uvicorn in a thread (``serve_in_background``) and serve the same in-test
model (the tests' nearest-centroid ``toy`` project, 3 features). One keep-alive httpx client
sends one-row requests one after the other; the bare endpoint does nothing but call the model,
so the ratio is what the gateway's checks, cache and error handling cost.

    uv run --frozen python packages/mlops-serve/bench/latency.py [--requests 200] [--rows 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from mlops_serve.server import serve_in_background

HERE = Path(__file__).resolve().parent


def _test_world() -> Any:
    # The in-test project and tracker live in the tests' conftest; load it as a plain module.
    spec = importlib.util.spec_from_file_location("mlops_serve_test_world", HERE.parent / "tests" / "conftest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _one(client: httpx.Client, path: str, body: dict[str, Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    response = client.post(path, json=body)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, response.json()


def _summary(name: str, ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=20)
    return f"{name:<28} median {statistics.median(ms):6.2f} ms   p95 {q[18]:6.2f} ms   min {min(ms):6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1)
    args = parser.parse_args()

    world_module = _test_world()
    body = {"inputs": [[0.0, 0.5, 1]] * args.rows}
    with tempfile.TemporaryDirectory() as tmp:
        world = world_module.start_world(Path(tmp), ttl=2.0)
        # Baseline: the same loaded model behind the thinnest FastAPI endpoint.
        model = world.tracker.load_model("toy", "toy")
        bare = FastAPI()

        @bare.get("/health")
        def health() -> dict[str, str]:
            return {"status": "ok"}

        @bare.post("/predict")
        def predict(payload: dict[str, Any]) -> dict[str, Any]:
            return {"predictions": model.predict(payload["inputs"])}

        gateway_ms: list[float] = []
        bare_ms: list[float] = []
        answers: list[Any] = []
        with serve_in_background(bare) as server, httpx.Client(base_url=server.url) as client:
            try:
                for _ in range(20):  # warm up: first load, connections, code paths
                    _one(world.client, "/predict/toy/toy", body)
                    _one(client, "/predict", body)
                # Interleaved in small rounds, so that noise from other work on the machine
                # falls on both sides alike.
                rounds = max(1, args.requests // 10)
                for _ in range(rounds):
                    for _ in range(10):
                        ms, answer = _one(world.client, "/predict/toy/toy", body)
                        gateway_ms.append(ms)
                        answers.append(answer)
                    for _ in range(10):
                        bare_ms.append(_one(client, "/predict", body)[0])
            finally:
                world.client.close()
                world.server.stop()

    server_ms = [a["latency_ms"] for a in answers]
    print(f"{args.requests} sequential requests of {args.rows} row(s), keep-alive, real uvicorn")
    print(_summary("gateway (client wall time)", gateway_ms))
    print(_summary("bare FastAPI (baseline)", bare_ms))
    print(_summary("gateway latency_ms field", server_ms))
    print(f"gateway / baseline median: {statistics.median(gateway_ms) / statistics.median(bare_ms):.2f}x")


if __name__ == "__main__":
    main()
