"""The dashboard in a real headless browser, after the real loop: trained, served, drifted.

Chromium renders the page the gateway serves (``--dump-dom``), then takes a screenshot of it,
kept as ``<state_dir>/reports/dashboard.png`` (so the dashboard itself serves it).
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlops_core.loop import check_drift
from mlops_core.plugins import PluginManager
from mlops_core.providers import GatewayHandle
from mlops_core.registry import ProjectRegistry
from mlops_core.settings import Settings

PROJECT = "cpu-compression"
BROWSER_SECONDS = 120

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _installed_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed with apt-get when missing (these machines run tests as root)."""
    found = _installed_chromium()
    if found:
        return found
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get): "
                    "apt-get install -y chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=1200, env=env)
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"`{' '.join(command)}` failed ({exc.returncode}): {exc.stderr.strip()[-500:]}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"`{' '.join(command)}` failed: {exc}")
    found = _installed_chromium()
    if not found:
        pytest.skip("apt-get installed chromium but no chromium executable is on PATH")
    return found


def _send(plugins: PluginManager, model: str, rows: Sequence[Sequence[float]]) -> None:
    gateway = plugins.start_gateway(port=0)
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            for i in range(0, len(rows), 25):
                answer = client.post(f"/predict/{PROJECT}/{model}", json={"inputs": rows[i:i + 25]})
                assert answer.status_code == 200, answer.text
    finally:
        gateway.stop()  # graceful: the captured batches reach the monitor first


@pytest.fixture(scope="module")
def drifted(loop_settings: Settings, loop_plugins: PluginManager, trained: dict) -> dict[str, Any]:
    """Shifted traffic through the gateway, then a drift check: the dashboard has a DRIFT to show."""
    project = ProjectRegistry(loop_settings, loop_plugins).get(PROJECT)
    data_dir = Path(trained["prepare"]["data_dir"])
    model = trained["register"]["name"]
    _send(loop_plugins, model, project.samples(data_dir, "shifted", 150))
    report, _request = check_drift(loop_plugins, PROJECT, model, last_n=150)
    assert report.drift_detected
    return {"report": report, "model": model, "run_id": trained["train"]["run_id"],
            "version": trained["deploy"]["version"]}


@pytest.fixture(scope="module")
def gateway(loop_plugins: PluginManager, drifted: dict[str, Any]) -> Iterator[GatewayHandle]:
    handle = loop_plugins.start_gateway(port=0)
    yield handle
    handle.stop()


def _browse(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless chromium once; on a hang, end its process group (only the one started here)."""
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        # containers give /dev/shm 64 MB, too little for the renderer
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=BROWSER_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"chromium did not finish in {BROWSER_SECONDS}s: {err[-2000:]}")
    finally:
        try:  # helpers chromium may leave behind in its group
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    return width, height


def test_the_browser_renders_project_run_version_champion_and_drift(
    chromium: str, gateway: GatewayHandle, drifted: dict[str, Any], tmp_path: Path
) -> None:
    url = f"{gateway.url}/dashboard"

    shown = _browse(chromium, tmp_path / "profile", "--dump-dom", url)

    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = shown.stdout
    assert "<title>mlops dashboard</title>" in dom
    for expected in (PROJECT, drifted["model"], drifted["run_id"], f'v{drifted["version"]}', "champion",
                     "DRIFT", drifted["report"].report_id):
        assert expected in dom, f"{expected!r} is not in the rendered page"
    assert f'id="project-{PROJECT}"' in dom
    assert "stack down" in dom  # no `mlops up` here: the UIs are not linked
    drift = next(p for p in httpx.get(f"{gateway.url}/dashboard.json", timeout=30).json()["projects"]
                 if p["project"] == PROJECT)["drift"]
    for link, kind in ((drift["html_url"], "text/html"), (drift["json_url"], "application/json")):
        assert f'href="{link}"' in dom
        report = httpx.get(gateway.url + link, timeout=30)
        assert report.status_code == 200 and report.headers["content-type"].startswith(kind), link


def test_the_screenshot_is_a_full_page(
    chromium: str, gateway: GatewayHandle, loop_settings: Settings, tmp_path: Path
) -> None:
    shot = tmp_path / "dashboard.png"

    taken = _browse(chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,1600",
                    "--hide-scrollbars", f"{gateway.url}/dashboard")

    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    data = shot.read_bytes()
    assert _png_size(data) == (1280, 1600)
    # A blank or error page compresses to a few KB; the dashboard has text, tables and colour.
    assert len(data) > 40_000, len(data)
    kept = loop_settings.state_dir / "reports" / "dashboard.png"
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, kept)
    served = httpx.get(f"{gateway.url}/dashboard/reports/dashboard.png", timeout=30)
    assert served.status_code == 200 and served.content == data
