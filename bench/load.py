"""The benchmark's keys, operations and request bodies, and the wrk runs that drive them.

Both servers get the same keys, the same operations and the same bodies, except
where a body must hold a ciphertext or signature that only the server's own key
can produce (decrypt, rewrap, verify): those are made by the server itself before
the load starts.
"""

from __future__ import annotations

import base64
import json
import random
import re
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from servers import Client, Quiet, Server, wait_until_quiet

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "request.lua"

# 1 KiB of fixed pseudo-random bytes: the plaintext and input of every operation.
PLAINTEXT = base64.b64encode(random.Random(1024).randbytes(1024)).decode()
BATCH_ITEMS = 100
WRONG_TOKEN = "not-a-token"

# name -> the body of its creation request; the same on both servers.
KEYS = {
    "bench-chacha20": {"type": "chacha20-poly1305"},
    "bench-aes256": {"type": "aes256-gcm96"},
    "bench-ecdsa": {"type": "ecdsa-p256"},
    "bench-hmac": {"type": "hmac", "key_size": 32},
}
ED25519_KEY = ("bench-ed25519", {"type": "ed25519"})
# The type of the filler keys created for the memory and start-up figures.
FILLER_KEY_TYPE = "aes256-gcm96"


@dataclass(frozen=True)
class Operation:
    """One benchmarked request: what it is, and how a server's body is made."""

    name: str
    method: str
    path: str
    # The JSON body, or a function that makes it for one server's client (None: no body).
    body: object = None
    token: str | None = "root"
    expected_status: int = 200

    def body_for(self, client: Client) -> object:
        return self.body(client) if callable(self.body) else self.body


def _ciphertext(key: str):
    def make(client: Client) -> dict:
        answer = client.request("POST", f"transit/encrypt/{key}", {"plaintext": PLAINTEXT})
        return {"ciphertext": _data(answer, "encrypt")["ciphertext"]}

    return make


def _signed(key: str, hash_path: str):
    def make(client: Client) -> dict:
        answer = client.request("POST", f"transit/sign/{key}{hash_path}", {"input": PLAINTEXT})
        return {"input": PLAINTEXT, "signature": _data(answer, "sign")["signature"]}

    return make


def _data(answer, what: str) -> dict:
    if answer.status != 200:
        raise RuntimeError(f"{what} for a body answered {answer.status}: {answer.body[:300]!r}")
    return answer.json()["data"]


def operations(with_ed25519: bool) -> list[Operation]:
    """Every operation, in the order of the report."""
    encrypt = {"plaintext": PLAINTEXT}
    signed = {"input": PLAINTEXT}
    batch = {"batch_input": [{"plaintext": PLAINTEXT}] * BATCH_ITEMS}
    post = "POST"
    ops = [
        Operation("encrypt chacha20-poly1305 1 KiB", post, "transit/encrypt/bench-chacha20",
                  encrypt),
        Operation("decrypt chacha20-poly1305 1 KiB", post, "transit/decrypt/bench-chacha20",
                  _ciphertext("bench-chacha20")),
        Operation("encrypt aes256-gcm96 1 KiB", post, "transit/encrypt/bench-aes256", encrypt),
        Operation("decrypt aes256-gcm96 1 KiB", post, "transit/decrypt/bench-aes256",
                  _ciphertext("bench-aes256")),
        Operation("rewrap chacha20-poly1305 1 KiB", post, "transit/rewrap/bench-chacha20",
                  _ciphertext("bench-chacha20")),
        Operation("sign ecdsa-p256 sha2-256", post, "transit/sign/bench-ecdsa/sha2-256", signed),
        Operation("verify ecdsa-p256 sha2-256", post, "transit/verify/bench-ecdsa/sha2-256",
                  _signed("bench-ecdsa", "/sha2-256")),
    ]
    if with_ed25519:
        ops += [
            Operation("sign ed25519", post, "transit/sign/bench-ed25519", signed),
            Operation("verify ed25519", post, "transit/verify/bench-ed25519",
                      _signed("bench-ed25519", "")),
        ]
    ops += [
        Operation("hmac sha2-256, 32-byte key", post, "transit/hmac/bench-hmac/sha2-256", signed),
        Operation(f"batch encrypt {BATCH_ITEMS} x 1 KiB aes256-gcm96", post,
                  "transit/encrypt/bench-aes256", batch),
        Operation("read key (GET keys/:name)", "GET", "transit/keys/bench-chacha20"),
        Operation("wrong token (403)", post, "transit/encrypt/bench-chacha20", encrypt,
                  token=WRONG_TOKEN, expected_status=403),
        Operation("sys/health, no token", "GET", "sys/health", token=None),
    ]
    return ops


def create_keys(client: Client, keys: dict[str, dict]) -> dict[str, int]:
    """Creates each key; name -> the status the server answered."""
    return {name: client.request("POST", f"transit/keys/{name}", body).status
            for name, body in keys.items()}


def create_filler_keys(client: Client, count: int) -> None:
    for index in range(count):
        answer = client.request("POST", f"transit/keys/filler-{index:04d}",
                                {"type": FILLER_KEY_TYPE})
        if answer.status not in (200, 204):
            raise RuntimeError(f"creating filler key {index} answered {answer.status}")


def write_body(op: Operation, client: Client, path: Path) -> Path | None:
    """Makes the server's body for `op`, checks that one request with it answers as
    expected, and writes it to `path` for wrk; None when the operation has no body."""
    body = op.body_for(client)
    checker = Client(client.port, op.token)
    answer = checker.request(op.method, op.path, body)
    checker.close()
    if answer.status != op.expected_status:
        raise RuntimeError(f"{op.name}: a check request answered {answer.status}, "
                           f"not {op.expected_status}: {answer.body[:300]!r}")
    data = answer.json().get("data") or {}
    if "valid" in data and data["valid"] is not True:
        raise RuntimeError(f"{op.name}: the check request's signature did not verify")
    for item in data.get("batch_results", []):
        if item.get("error"):
            raise RuntimeError(f"{op.name}: a batch item failed: {item['error']}")
    if body is None:
        return None
    path.write_text(json.dumps(body))
    return path


# wrk's Linux scheduling policies (chrt's names): "batch" keeps wrk's threads from
# preempting the server they drive when an answer wakes them; "other" is the default.
WRK_POLICIES = ("batch", "other")


@dataclass
class LoadSettings:
    threads: int
    connections: int
    duration: str
    timeout: str
    # One of WRK_POLICIES.
    wrk_policy: str = "batch"


@dataclass
class Result:
    """One wrk run's figures."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    # Requests that did not get the expected status, plus socket errors and timeouts.
    unexpected: int
    peak_rss_kib: int | None = None
    raw: dict = field(default_factory=dict)
    # How the wait for a quiet machine before the run ended (None: no wait).
    quiet: Quiet | None = None

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def median_run(results: list[Result]) -> Result:
    """Of repeated runs, the one with the median req/s (the lower middle one of an even
    count), so that its latencies belong to the rate shown beside them."""
    ordered = sorted(results, key=lambda result: result.per_second)
    return ordered[(len(ordered) - 1) // 2]


RESULT_LINE = re.compile(r"^BENCH_RESULT (\{.*\})$", re.MULTILINE)
RSS_SAMPLE_SECONDS = 0.25


def wrk_command(settings: LoadSettings, server: Server, op: Operation, body: Path | None,
                script: Path = LUA_SCRIPT, extra: tuple[str, ...] = ()) -> list[str]:
    """wrk driving `server` with `op` through `script`, whose arguments are the method,
    the body file, the token, then `extra`."""
    return [
        "chrt", f"--{settings.wrk_policy}", "0",
        "wrk", "--threads", str(settings.threads), "--connections", str(settings.connections),
        "--duration", settings.duration, "--timeout", settings.timeout, "--latency",
        "--script", str(script), f"http://127.0.0.1:{server.port}/v1/{op.path}",
        "--", op.method, str(body) if body else "-", op.token or "-", *extra,
    ]


def run_wrk(settings: LoadSettings, server: Server, op: Operation, body: Path | None,
            script: Path = LUA_SCRIPT, extra: tuple[str, ...] = ()) -> Result:
    """Drives `server` with `op` for the configured time, sampling its memory, once
    the machine is quiet."""
    command = wrk_command(settings, server, op, body, script, extra)
    quiet = wait_until_quiet()
    peak = [server.rss_kib()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(RSS_SAMPLE_SECONDS):
            rss = server.rss_kib()
            if rss is not None and (peak[0] is None or rss > peak[0]):
                peak[0] = rss

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        stop.set()
        sampler.join()

    result = parse_result(finished.returncode, finished.stdout, finished.stderr, op,
                          server.name)
    result.peak_rss_kib = peak[0]
    result.quiet = quiet
    return result


def parse_result(returncode: int, stdout: str, stderr: str, op: Operation,
                 server_name: str) -> Result:
    """The figures of the BENCH_RESULT line that request.lua's done() prints."""
    match = RESULT_LINE.search(stdout)
    if returncode != 0 or not match:
        raise RuntimeError(f"wrk failed for {op.name} on {server_name}:\n{stdout}\n{stderr}")
    raw = json.loads(match.group(1))
    status_errors = raw["status_errors"]
    wrong = status_errors if op.expected_status < 400 else raw["requests"] - status_errors
    socket_errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors",
                                         "timeouts"))
    return Result(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        unexpected=wrong + socket_errors,
        raw=raw,
    )
