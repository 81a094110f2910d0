"""`sera demo` on an empty folder: migrates, loads the demo shop, serves, prints what to try."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_URL


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(bool(PG_URL), reason="the demo is the embedded SQLite setup")
def test_demo_serves_the_demo_shop_from_an_empty_folder(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERA_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "sera", "demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("sera demo did not start within 60 s")
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert f"{base}/docs" in output
    key = re.search(r"Demo API key: (\S+)", output)
    assert key is not None
    assert (tmp_path / "var" / "sera.env").stat().st_mode & 0o077 == 0
    assert (tmp_path / "var" / "sera.db").stat().st_mode & 0o077 == 0

    # a second start reuses the same data and secrets, and the printed key works
    process = subprocess.Popen(
        [sys.executable, "-m", "sera", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(
                    f"{base}/api/v1/customers",
                    headers={"Authorization": f"Bearer {key.group(1)}"},
                    timeout=2,
                )
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert response is not None and response.status_code == 200
        assert "Priya Shah" in {c["name"] for c in response.json()["data"]}
    finally:
        process.terminate()
        process.wait(timeout=30)
