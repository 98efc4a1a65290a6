"""Start-up figures: time from exec to the first 200, empty and over 1,000 keys on disk.

Each start is repeated (`runs` times) because a single start-up time swings with
the page cache and whatever else the machine does; the report shows the median
and the range.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import load
import servers
from servers import Client, Server


@dataclass
class Restarts:
    """One server's figures over keys on disk."""

    # Seconds to create the keys one after another, before the first stop.
    fill_seconds: float = 0.0
    # Per restart: seconds from exec to a 200 on sys/health, then on an encrypt with
    # the last key, and the resident memory (KiB) just after.
    health: list[float] = field(default_factory=list)
    encrypt: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)


def in_memory_starts(vault_kms_bin: Path, workdir: Path, runs: int) -> list[list[float]]:
    """[vault-kms seconds, OpenBao seconds] to the first 200 on sys/health, no keys."""
    figures: list[list[float]] = [[], []]
    for _ in range(runs):
        for side, start in enumerate((
            lambda: servers.start_vault_kms(vault_kms_bin, workdir, "vault-kms-start", True),
            lambda: servers.start_openbao_dev(workdir),
        )):
            server = start()
            try:
                figures[side].append(server.seconds_until_health())
            finally:
                server.stop()
    return figures


def vault_kms_restarts(vault_kms_bin: Path, workdir: Path, keys: int, runs: int) -> Restarts:
    """vault-kms in development mode on a data dir (SQLite), not in memory."""
    figures = Restarts()
    first = servers.start_vault_kms(vault_kms_bin, workdir, "vault-kms-disk", False)
    try:
        first.seconds_until_health()
        figures.fill_seconds = _fill(Client(first.port), keys)
    finally:
        first.stop()

    for _ in range(runs):
        server = servers.start_vault_kms(vault_kms_bin, workdir, "vault-kms-disk", False)
        try:
            figures.health.append(server.seconds_until_health())
            _first_encrypt(server, keys, servers.ROOT_TOKEN, figures)
        finally:
            server.stop()
    return figures


def openbao_restarts(workdir: Path, keys: int, runs: int) -> Restarts:
    """OpenBao on single-node Raft storage. Its times include the unseal request, sent
    as soon as the server answers 503 (sealed), as an operator's automation would."""
    figures = Restarts()
    first = servers.start_openbao_raft(workdir, "openbao-disk")
    try:
        first.seconds_until_health(accept=(501,))
        unseal_key, root_token = servers.init_openbao(first)
        servers.unseal_openbao(first, unseal_key)
        first.seconds_until_health()
        client = Client(first.port, root_token)
        servers.mount_transit(client)
        figures.fill_seconds = _fill(client, keys)
    finally:
        first.stop()

    for _ in range(runs):
        server = servers.start_openbao_raft(workdir, "openbao-disk")
        try:
            server.seconds_until_health(accept=(503,))
            servers.unseal_openbao(server, unseal_key)
            figures.health.append(server.seconds_until_health())
            _first_encrypt(server, keys, root_token, figures)
        finally:
            server.stop()
    return figures


def _fill(client: Client, keys: int) -> float:
    started = time.monotonic()
    load.create_filler_keys(client, keys)
    return time.monotonic() - started


def _first_encrypt(server: Server, keys: int, token: str, figures: Restarts) -> None:
    answer = Client(server.port, token).request(
        "POST", f"transit/encrypt/filler-{keys - 1:04d}", {"plaintext": load.PLAINTEXT}
    )
    if answer.status != 200:
        raise servers.ServerError(f"{server.name}: encrypt after restart answered {answer.status}")
    figures.encrypt.append(time.monotonic() - server.started)
    rss = server.rss_kib()
    if rss is not None:
        figures.rss_kib.append(rss)
