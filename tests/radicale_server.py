"""A real CalDAV server for the tests and benchmarks: Radicale, started as its own process
with a temporary storage folder, plain-text htpasswd logins and a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import caldav
from requests.auth import HTTPBasicAuth

PASSWORD = "app-password-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RadicaleServer:
    """``with RadicaleServer(folder, users) as server:``; ``server.calendar(user)`` makes one."""

    def __init__(self, folder: Path, users: list[str]) -> None:
        self.folder = folder
        self.users = users
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def storage(self) -> Path:
        return self.folder / "collections" / "collection-root"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "users").write_text("".join(f"{user}:{PASSWORD}\n" for user in self.users))
        config = self.folder / "config"
        config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n"
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {self.folder / 'users'}\nhtpasswd_encryption = plain\n"
            f"[storage]\nfilesystem_folder = {self.folder / 'collections'}\n"
            "[logging]\nlevel = error\n"
        )
        self._process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "radicale.log").open("wb"),
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self._process.poll() is not None:
                    raise RuntimeError((self.folder / "radicale.log").read_text()) from None
                time.sleep(0.05)
        raise RuntimeError("radicale did not start")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)

    def __enter__(self) -> RadicaleServer:
        self.start()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.stop()

    def client(self, user: str, password: str = PASSWORD) -> caldav.DAVClient:
        return caldav.DAVClient(url=f"{self.base}/{user}/", auth=HTTPBasicAuth(user, password), timeout=10)

    def calendar(self, user: str, name: str = "work") -> caldav.Calendar:
        """A new calendar collection of ``user`` (its URL is what a staff member connects)."""
        return self.client(user).principal().make_calendar(name=name, cal_id=name)
