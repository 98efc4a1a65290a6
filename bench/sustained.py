"""Two figures beyond the maximum: latency at half the maximum throughput, and
resident memory over a long run.

Half load: after the load phase, each of a few operations runs again on each server
at half the median req/s that server reached, through bench/paced.lua. wrk stays
closed-loop: every connection pauses a fixed time after each answer, and the number
of connections sets the rate; a short probe run picks that number. No open-loop
schedule corrects for coordinated omission.

Long run: a fresh vault-kms answers an exact count of encrypt requests (10,000, then
the rest up to BENCH_LEAK_REQUESTS) through bench/counted.lua, and its resident
memory is read after each count.
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import load
import servers
from load import BENCH_DIR, KEYS, LoadSettings, Operation, Result
from servers import Client, Server

PACED_SCRIPT = BENCH_DIR / "paced.lua"
COUNTED_SCRIPT = BENCH_DIR / "counted.lua"

# The operations measured at half load, by their names in load.operations().
HALF_LOAD_OPERATIONS = (
    "encrypt chacha20-poly1305 1 KiB",
    "decrypt chacha20-poly1305 1 KiB",
    "sign ecdsa-p256 sha2-256",
    "verify ecdsa-p256 sha2-256",
)
# A paced probe this long, at the first guess of connections, measures the rate they
# reach; the measured run scales them by target / reached, within this factor.
PROBE_SECONDS = 2
PROBE_DURATION = f"{PROBE_SECONDS}s"
PROBE_MAX_SCALE = 4.0
# The measured half-load run: longer than a load round, so that its p99 rests on
# enough answers from the slower server.
HALF_LOAD_DURATION = "10s"
# The long run's operation and the count after which memory is first read.
LEAK_OPERATION = "encrypt chacha20-poly1305 1 KiB"
WARM_REQUESTS = 10_000
# wrk waits out --duration even when every thread has stopped; counted runs interrupt
# it as soon as the count is reached, so this is only a ceiling for a stuck run.
COUNTED_CEILING = "30m"
THREAD_DONE = "BENCH_THREAD_DONE"


@dataclass
class HalfLoad:
    """One operation on one server, paced to half of that server's maximum."""

    operation: str
    server: str
    maximum: float
    pause_ms: int
    connections: int
    result: Result

    @property
    def target(self) -> float:
        return self.maximum / 2


@dataclass
class Leak:
    """Resident memory of vault-kms after a first and after the total count of requests."""

    warm_requests: int
    warm_rss_kib: int | None
    total_requests: int
    total_rss_kib: int | None
    # Answers with another status than expected, plus socket errors, over both runs.
    unexpected: int

    @property
    def ratio(self) -> float | None:
        if not self.warm_rss_kib or self.total_rss_kib is None:
            return None
        return self.total_rss_kib / self.warm_rss_kib


def paced_connections(target: float, pause_ms: int, threads: int) -> int:
    """Connections that would send `target` req/s if every answer were instant: each
    sends one request per pause. Rounded to a multiple of `threads` (wrk gives every
    thread connections // threads of them), and at least one per thread."""
    per_thread = round(target * pause_ms / 1000 / threads)
    return max(1, per_thread) * threads


def rescaled(connections: int, target: float, achieved: float, threads: int) -> int:
    """`connections` scaled by target / achieved (at most PROBE_MAX_SCALE either way),
    as a multiple of `threads`: each connection's rate is one request per pause plus
    answer time, which the probe measured and the first guess left out."""
    if achieved <= 0:
        return connections
    factor = min(PROBE_MAX_SCALE, max(1 / PROBE_MAX_SCALE, target / achieved))
    return max(1, round(connections * factor / threads)) * threads


def half_load(settings: LoadSettings, pause_ms: int, server: Server, op: Operation,
              body: Path | None, maximum: float) -> HalfLoad:
    """Drives `server` with `op` at half of `maximum` req/s for HALF_LOAD_DURATION,
    after a short probe that sets the number of connections."""
    target = maximum / 2
    extra = (str(pause_ms),)
    guess = paced_connections(target, pause_ms, settings.threads)
    probe_settings = replace(settings, connections=guess, duration=PROBE_DURATION)
    probe = load.run_wrk(probe_settings, server, op, body, script=PACED_SCRIPT, extra=extra)
    connections = rescaled(guess, target, probe.per_second, settings.threads)
    paced = replace(settings, connections=connections, duration=HALF_LOAD_DURATION)
    result = load.run_wrk(paced, server, op, body, script=PACED_SCRIPT, extra=extra)
    return HalfLoad(op.name, server.name, maximum, pause_ms, connections, result)


def run_counted(settings: LoadSettings, server: Server, op: Operation, body: Path | None,
                requests: int) -> Result:
    """Sends exactly `requests` requests of `op` to `server`, then ends wrk."""
    counted = replace(settings, duration=COUNTED_CEILING)
    command = load.wrk_command(counted, server, op, body, script=COUNTED_SCRIPT,
                               extra=(str(requests), str(settings.threads)))
    quiet = servers.wait_until_quiet()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    lines = []
    done = 0
    assert process.stdout is not None  # Popen was given stdout=PIPE.
    for line in process.stdout:
        lines.append(line)
        if line.startswith(THREAD_DONE):
            done += 1
            if done == settings.threads:
                # Every thread has its count: wrk's main thread need not wait out
                # --duration. SIGINT makes it join the threads and report.
                process.send_signal(signal.SIGINT)
    stderr = process.stderr.read() if process.stderr else ""
    process.wait()
    result = load.parse_result(process.returncode, "".join(lines), stderr, op, server.name)
    result.quiet = quiet
    return result


def leak(binary: Path, settings: LoadSettings, workdir: Path, total: int) -> Leak:
    """A fresh in-memory vault-kms with one key: `WARM_REQUESTS` encrypts, its memory,
    the rest up to `total`, its memory again."""
    if total <= WARM_REQUESTS:
        raise ValueError(f"BENCH_LEAK_REQUESTS must exceed {WARM_REQUESTS:,}, not {total:,}")
    op = next(op for op in load.operations(False) if op.name == LEAK_OPERATION)
    key = op.path.rsplit("/", 1)[1]
    server = servers.start_vault_kms(binary, workdir, "vault-kms-long-run", in_memory=True)
    try:
        server.seconds_until_health()
        client = Client(server.port)
        status = load.create_keys(client, {key: KEYS[key]})[key]
        if status not in (200, 204):
            raise servers.ServerError(f"{server.name}: creating key {key} answered {status}")
        body = load.write_body(op, client, workdir / "long-run.json")
        client.close()

        warm = run_counted(settings, server, op, body, WARM_REQUESTS)
        warm_rss = servers.settled_rss_kib(server)
        rest = run_counted(settings, server, op, body, total - warm.requests)
        total_rss = servers.settled_rss_kib(server)
    finally:
        server.stop()
    return Leak(
        warm_requests=warm.requests,
        warm_rss_kib=warm_rss,
        total_requests=warm.requests + rest.requests,
        total_rss_kib=total_rss,
        unexpected=warm.unexpected + rest.unexpected,
    )
