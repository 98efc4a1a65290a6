"""Runs the benchmark that bench/run prepares, and writes its report.

Steps: time the start-up of both servers, empty and in memory; start vault-kms
(dev, in memory), OpenBao (dev) and the echo server; create the same keys in both
and 1,000 filler keys; drive every operation with wrk on both servers in rounds, then a
few again at half the median req/s reached, and a few under each of wrk's scheduling
policies; send a million encrypts to a fresh vault-kms,
reading its memory; time restarts of each server over 1,000 keys on disk; read the
criterion results; write docs/benchmarks.md and docs/benchmarks.svg and print the
tables. Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import load
import report
import servers
import startup
import sustained
from load import KEYS, ED25519_KEY, LoadSettings, Operation, Result, median_run
from report import PolicyRow, Report, Row, mib, millis, rate
from servers import Client, Server

# The criterion benchmarks of benches/crypto.rs, in report order, with their labels.
CRYPTO_BENCHES = [
    ("chacha20_poly1305_seal_1kib", "ChaCha20-Poly1305 seal of 1 KiB"),
    ("aes256_gcm_seal_1kib", "AES-256-GCM seal of 1 KiB"),
    ("ecdsa_p256_sha256_sign_1kib", "ECDSA P-256 sign (SHA-256 of 1 KiB)"),
    ("ecdsa_p256_sha256_verify_1kib", "ECDSA P-256 verify (SHA-256 of 1 KiB)"),
    ("hmac_sha256_1kib", "HMAC-SHA256 of 1 KiB"),
]


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def command_output(*command: str) -> str:
    try:
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "n/a"
    text = (finished.stdout or finished.stderr).strip()
    return text.splitlines()[0] if text else "n/a"


def machine(vault_kms_bin: Path, load_average: str) -> list[tuple[str, str]]:
    cpu = "n/a"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    commit = command_output("git", "rev-parse", "--short", "HEAD")
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                             capture_output=True, text=True, check=False).stdout.strip()
    if changed:
        commit += " with uncommitted changes"
    return [
        ("cores (nproc)", command_output("nproc")),
        ("CPU", cpu),
        ("memory", memory_total()),
        ("kernel", f"{platform.system()} {platform.release()}"),
        ("date", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("load average before the run", load_average),
        ("vault-kms", f"{command_output(str(vault_kms_bin), '--version')}, commit {commit}"),
        ("OpenBao", command_output(servers.bao_binary(), "version")),
        ("wrk", command_output("wrk", "-v").split(" Copyright")[0]),
        ("rustc", command_output("rustc", "--version")),
        ("Python", platform.python_version()),
    ]


def memory_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "n/a"


def created(statuses: dict[str, int], server: str) -> None:
    for name, status in statuses.items():
        if status not in (200, 204):
            raise servers.ServerError(f"{server}: creating key {name} answered {status}")


def throughput(args, settings: LoadSettings, workdir: Path, figures: dict) -> list[Row]:
    """The load phase: every operation on both servers, a few again at half load, plus
    the echo limit."""
    vault_kms = servers.start_vault_kms(args.vault_kms_bin, workdir, "vault-kms", in_memory=True)
    openbao = echo = None
    try:
        vault_kms.seconds_until_health()
        openbao = servers.start_openbao_dev(workdir)
        openbao.seconds_until_health()
        echo = servers.start_echo(args.echo_bin, workdir)
        echo.seconds_until_health()
        pair = [(vault_kms, Client(vault_kms.port)), (openbao, Client(openbao.port))]
        servers.mount_transit(pair[1][1])

        for server, client in pair:
            created(load.create_keys(client, KEYS), server.name)
        ed25519 = load.create_keys(pair[0][1], dict([ED25519_KEY]))[ED25519_KEY[0]]
        with_ed25519 = ed25519 in (200, 204)
        if with_ed25519:
            created(load.create_keys(pair[1][1], dict([ED25519_KEY])), openbao.name)
        figures["ed25519_status"] = ed25519
        figures["rss_start"] = [servers.settled_rss_kib(server) for server, _ in pair]

        figures["fill_memory"] = []
        for server, client in pair:
            progress(f"creating {args.keys} filler keys in {server.name}")
            started = time.monotonic()
            load.create_filler_keys(client, args.keys)
            figures["fill_memory"].append(time.monotonic() - started)
        figures["rss_keys"] = [servers.settled_rss_kib(server) for server, _ in pair]

        operations = load.operations(with_ed25519)
        body_dir = workdir / "bodies"
        body_dir.mkdir()
        # bodies[index][side]: the body file of operation `index` on server `side`.
        bodies = [[load.write_body(op, client, body_dir / f"{server.name}-{index}.json")
                   for server, client in pair]
                  for index, op in enumerate(operations)]
        echo_op = Operation("echo", "POST", "transit/encrypt/bench-chacha20",
                            {"plaintext": load.PLAINTEXT})
        echo_body = body_dir / "echo.json"
        echo_body.write_text(json.dumps(echo_op.body))

        # runs[index][side]: the results of operation `index` on server `side`, by round.
        runs: list[tuple[list[Result], list[Result]]] = [([], []) for _ in operations]
        peaks: list[list[int]] = [[], []]
        figures["echo"] = []
        for round_number in range(1, args.rounds + 1):
            for index, op in enumerate(operations):
                # Which server goes first alternates from round to round.
                order = list(enumerate(pair))
                if round_number % 2 == 0:
                    order.reverse()
                for side, (server, _) in order:
                    result = load.run_wrk(settings, server, op, bodies[index][side])
                    progress(f"round {round_number}/{args.rounds}: {op.name} on "
                             f"{server.name}: {rate(result.per_second)} req/s, "
                             f"p50 {millis(result.p50_ms)}, p99 {millis(result.p99_ms)}")
                    if result.peak_rss_kib is not None:
                        peaks[side].append(result.peak_rss_kib)
                    runs[index][side].append(result)
            echo_result = load.run_wrk(settings, echo, echo_op, echo_body)
            progress(f"round {round_number}/{args.rounds}: echo: "
                     f"{rate(echo_result.per_second)} req/s")
            figures["echo"].append(echo_result)

        rows = [Row(op.name, *runs[index]) for index, op in enumerate(operations)]
        if not with_ed25519:
            rows.insert(7, Row("sign and verify ed25519", [], [], note="not served"))
        figures["rss_load"] = [max(peak) if peak else None for peak in peaks]
        # (server, operation, body, median req/s) for the half-load runs.
        driven = [(server, op, bodies[index][side], median_run(runs[index][side]).per_second)
                  for index, op in enumerate(operations)
                  if op.name in sustained.HALF_LOAD_OPERATIONS
                  for side, (server, _) in enumerate(pair)]
        figures["half_load"] = half_loads(settings, args.half_load_pause_ms, driven)
        figures["policies"] = policy_comparison(args.policy_rounds, settings, pair,
                                                operations, bodies)
        return rows
    finally:
        for server in (vault_kms, openbao, echo):
            if server is not None:
                server.stop()


def policy_comparison(rounds: int, settings: LoadSettings, pair: list[tuple[Server, Client]],
                      operations: list[Operation], bodies: list[list[Path | None]]
                      ) -> list[PolicyRow]:
    """A few operations again on each server, under each of wrk's scheduling policies
    in turn, `rounds` times: what the policy of the load phase changes."""
    found: list[PolicyRow] = []
    if rounds == 0:
        return found
    for index, op in enumerate(operations):
        if op.name not in report.POLICY_OPERATIONS:
            continue
        for side, (server, _) in enumerate(pair):
            runs: dict[str, list[Result]] = {policy: [] for policy in load.WRK_POLICIES}
            for round_number in range(rounds):
                policies = list(load.WRK_POLICIES)
                if round_number % 2 == 1:
                    policies.reverse()
                for policy in policies:
                    result = load.run_wrk(replace(settings, wrk_policy=policy), server, op,
                                          bodies[index][side])
                    progress(f"{op.name} on {server.name}, wrk under SCHED_{policy.upper()}: "
                             f"{rate(result.per_second)} req/s, p99 {millis(result.p99_ms)}")
                    runs[policy].append(result)
            found.append(PolicyRow(op.name, server.name, runs))
    return found


def half_loads(settings: LoadSettings, pause_ms: int,
               driven: list[tuple[Server, Operation, Path | None, float]]
               ) -> list[sustained.HalfLoad]:
    """Each driven operation again, on its server, at half its median req/s."""
    found = []
    for server, op, body, maximum in driven:
        paced = sustained.half_load(settings, pause_ms, server, op, body, maximum)
        progress(f"{op.name} on {server.name} at half load: {rate(paced.target)} req/s aimed, "
                 f"{rate(paced.result.per_second)} reached, p50 {millis(paced.result.p50_ms)}, "
                 f"p99 {millis(paced.result.p99_ms)}")
        found.append(paced)
    return found


def long_run(args, settings: LoadSettings, workdir: Path) -> sustained.Leak | None:
    """Resident memory of a fresh vault-kms over BENCH_LEAK_REQUESTS encrypts (0: skipped)."""
    if args.leak_requests == 0:
        return None
    progress(f"{args.leak_requests:,} encrypts on a fresh vault-kms, memory read after "
             f"{sustained.WARM_REQUESTS:,} and at the end")
    found = sustained.leak(args.vault_kms_bin, settings, workdir, args.leak_requests)
    progress(f"resident memory after {found.warm_requests:,}: {mib(found.warm_rss_kib)}, "
             f"after {found.total_requests:,}: {mib(found.total_rss_kib)}")
    return found


def crypto_means(criterion_dir: Path, started: float) -> dict[str, float]:
    """The mean time in nanoseconds of each criterion benchmark this run measured."""
    means = {}
    for bench, _ in CRYPTO_BENCHES:
        estimates = criterion_dir / bench / "new" / "estimates.json"
        if estimates.is_file() and estimates.stat().st_mtime >= started:
            means[bench] = json.loads(estimates.read_text())["mean"]["point_estimate"]
    return means


def crypto_limits(means: dict[str, float], cores: int) -> list[tuple]:
    rows = []
    for bench, label in CRYPTO_BENCHES:
        nanos = means.get(bench)
        if nanos is None:
            rows.append((label, "not measured", "", "", "no criterion result from this run"))
            continue
        per_core = 1e9 / nanos
        note = f"mean {nanos / 1000:.2f} µs; x {cores} cores = {rate(per_core * cores)} ops/s"
        rows.append((label, f"{rate(per_core)} ops/s per core", "", "", note))
    return rows


def seconds(value: float) -> str:
    return f"{value * 1000:,.0f} ms" if value < 10 else f"{value:.1f} s"


def spread(values: list, show) -> str:
    """The median of repeated measures, with their range when they differ."""
    if not values:
        return "n/a"
    ordered = sorted(values)
    median = show(statistics.median(ordered))
    if show(ordered[0]) == show(ordered[-1]):
        return median
    return f"{median} ({show(ordered[0])} to {show(ordered[-1])})"


def resources(figures: dict, keys: int, runs: int) -> list[tuple[str, str, str]]:
    """The memory and start-up rows: (figure, vault-kms, OpenBao)."""
    restarts: list[startup.Restarts] = figures["restarts"]

    def both(values, show) -> tuple[str, str]:
        return show(values[0]), show(values[1])

    def creation(elapsed: float) -> str:
        return f"{seconds(elapsed)} ({keys / elapsed:,.0f} keys/s)"

    def median_of(show):
        return lambda values: spread(values, show)

    return [
        (f"start-up to first 200 on sys/health, in memory, no keys (median of {runs})",
         *both(figures["start"], median_of(seconds))),
        ("resident memory after start and the benchmark keys", *both(figures["rss_start"], mib)),
        (f"creating {keys:,} keys one after another, in memory",
         *both(figures["fill_memory"], creation)),
        (f"resident memory idle with {keys:,} keys", *both(figures["rss_keys"], mib)),
        (f"resident memory peak under load, {keys:,} keys", *both(figures["rss_load"], mib)),
        (f"creating {keys:,} keys one after another, on disk",
         *both([r.fill_seconds for r in restarts], creation)),
        (f"restart to first 200 on sys/health, {keys:,} keys on disk (median of {runs})",
         *both([r.health for r in restarts], median_of(seconds))),
        (f"restart to first 200 on an encrypt with the {keys:,}th key (median of {runs})",
         *both([r.encrypt for r in restarts], median_of(seconds))),
        ("resident memory just after that encrypt",
         *both([r.rss_kib for r in restarts], median_of(mib))),
    ]


def wrk_policy_note(policy: str) -> str:
    if policy == "batch":
        return ("wrk runs under Linux's SCHED_BATCH policy (`chrt --batch 0`), on the same "
                "two cores as the servers: it gets its share of the processors, but an "
                "answer that wakes one of its threads does not preempt the running server "
                "thread on wake-up (the scheduler tick still shares the cores). The table "
                "\"wrk's scheduling policy\" shows what this changes for both servers; "
                "`BENCH_WRK_POLICY=other` runs the whole benchmark under the default policy.")
    return ("wrk runs under Linux's default scheduling policy (SCHED_OTHER), on the same "
            "two cores as the servers: an answer that wakes one of its threads may preempt "
            "the running server thread.")


def quiet_note(figures: dict, rows: list[Row]) -> str:
    """How the waits for a quiet machine ended, over the runs of the load phase, the
    policy comparison and the half-load runs."""
    runs = [run for row in rows for run in (*row.vault_kms_runs, *row.openbao_runs)]
    runs += figures["echo"]
    runs += [run for policy_row in figures["policies"] for policy_runs in
             policy_row.runs.values() for run in policy_runs]
    runs += [paced.result for paced in figures["half_load"]]
    busy = [run.quiet.busy_share for run in runs if run.quiet and not run.quiet.reached]
    text = (f"Each wrk run starts once the machine is quiet: under "
            f"{servers.QUIET_BUSY_SHARE:.0%} of all cores busy over {servers.QUIET_WINDOWS} "
            f"samples of {servers.QUIET_SAMPLE_SECONDS} s in a row, so that one server's "
            "leftover work (OpenBao's garbage collection after its run, say) does not fall "
            f"on the next run; after {servers.QUIET_MAX_SECONDS:.0f} s it starts anyway. ")
    if busy:
        return text + (f"{len(busy)} of {len(runs)} runs (load phase, policy comparison, "
                       f"half load) started on a busy machine, the busiest at "
                       f"{max(busy):.0%}.")
    return text + (f"All {len(runs)} runs of the load phase, the policy comparison and the "
                   "half load started on a quiet machine.")


def notes(rows: list[Row], figures: dict, settings: LoadSettings) -> list[str]:
    found = []
    for row in rows:
        for name, runs in (("vault-kms", row.vault_kms_runs), ("OpenBao", row.openbao_runs)):
            unexpected = sum(run.unexpected for run in runs)
            if unexpected:
                requests = sum(run.requests for run in runs)
                found.append(f"{row.name} on {name}: {unexpected:,} of {requests:,} requests "
                             "(all rounds) did not get the expected status or failed on the "
                             "socket.")
    for paced in figures["half_load"]:
        if paced.result.unexpected:
            server = report.SERVER_NAMES.get(paced.server, paced.server)
            found.append(f"{paced.operation} on {server} at half load: "
                         f"{paced.result.unexpected:,} of {paced.result.requests:,} requests "
                         "did not get the expected status or failed on the socket.")
    leak = figures["leak"]
    if leak is not None and leak.unexpected:
        found.append(f"The long run: {leak.unexpected:,} of {leak.total_requests:,} requests "
                     "did not get the expected status or failed on the socket.")
    if not found:
        found.append("Every request got the expected status (403 for the wrong token, 200 "
                     "otherwise) and no socket error or timeout.")
    if figures["ed25519_status"] not in (200, 204):
        found.append(f"vault-kms answered {figures['ed25519_status']} to creating an ed25519 "
                     "key, so ed25519 sign and verify were not measured on either server.")
    found += [
        "Bodies: 1 KiB of fixed random bytes as `plaintext` or `input`; decrypt, rewrap and "
        "verify bodies hold a ciphertext or signature made by the same server beforehand. "
        f"The batch holds {load.BATCH_ITEMS} items of 1 KiB: its req/s counts requests, "
        f"each of {load.BATCH_ITEMS} encryptions.",
        wrk_policy_note(settings.wrk_policy),
        quiet_note(figures, rows),
        "vault-kms logs one line per request (its default `info` level) to a file; "
        "OpenBao's dev server logs to a file too.",
        "OpenBao dev mode keeps its storage in memory, like vault-kms `--in-memory`. The "
        "on-disk rows use a vault-kms data dir (SQLite) and an OpenBao on single-node Raft "
        "storage (its built-in durable storage); OpenBao's restart times include the "
        "unseal request, sent as soon as it answers 503 (sealed).",
        "The cheapest request each server answers is the `sys/health` row: no token, no "
        "body, no cryptography.",
        "No figure here is checked against a threshold: the benchmark reports, it never "
        "judges.",
    ]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vault-kms-bin", type=Path, required=True)
    parser.add_argument("--echo-bin", type=Path, required=True)
    parser.add_argument("--criterion-dir", type=Path, required=True)
    parser.add_argument("--started", type=float, required=True, help="epoch of bench/run's start")
    parser.add_argument("--command", required=True, help="the command line, for the report")
    parser.add_argument("--docs-dir", type=Path, default=Path("docs"))
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "5")))
    parser.add_argument("--policy-rounds", type=int,
                        default=int(os.environ.get("BENCH_POLICY_ROUNDS", "3")))
    parser.add_argument("--keys", type=int, default=int(os.environ.get("BENCH_KEYS", "1000")))
    parser.add_argument("--starts", type=int, default=int(os.environ.get("BENCH_STARTS", "5")))
    parser.add_argument("--half-load-pause-ms", type=int,
                        default=int(os.environ.get("BENCH_HALF_LOAD_PAUSE_MS", "2")))
    parser.add_argument("--leak-requests", type=int,
                        default=int(os.environ.get("BENCH_LEAK_REQUESTS", "1000000")))
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("BENCH_ROUNDS must be 1 or more")
    if args.half_load_pause_ms < 1:
        parser.error("BENCH_HALF_LOAD_PAUSE_MS must be a whole number of ms, 1 or more")
    if 0 < args.leak_requests <= sustained.WARM_REQUESTS:
        parser.error(f"BENCH_LEAK_REQUESTS must be 0 (skip) or above {sustained.WARM_REQUESTS}")
    # The servers run in the work dir, so their paths must not be relative.
    args.vault_kms_bin = args.vault_kms_bin.resolve()
    args.echo_bin = args.echo_bin.resolve()

    env = os.environ
    settings = LoadSettings(
        threads=int(env.get("BENCH_THREADS", "2")),
        connections=int(env.get("BENCH_CONNECTIONS", "32")),
        duration=env.get("BENCH_DURATION", "3s"),
        timeout=env.get("BENCH_TIMEOUT", "10s"),
        wrk_policy=env.get("BENCH_WRK_POLICY", "batch"),
    )
    if settings.wrk_policy not in load.WRK_POLICIES:
        parser.error(f"BENCH_WRK_POLICY must be one of {', '.join(load.WRK_POLICIES)}")
    load_average = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    workdir = Path(tempfile.mkdtemp(prefix="vault-kms-bench-"))
    progress(f"work dir (server logs) {workdir}")
    figures: dict = {}
    ok = False
    try:
        progress(f"start-up, {args.starts} times each")
        figures["start"] = startup.in_memory_starts(args.vault_kms_bin, workdir, args.starts)
        rows = throughput(args, settings, workdir, figures)
        figures["leak"] = long_run(args, settings, workdir)
        progress(f"restarts over {args.keys} keys on disk, {args.starts} times each")
        figures["restarts"] = [
            startup.vault_kms_restarts(args.vault_kms_bin, workdir, args.keys, args.starts),
            startup.openbao_restarts(workdir, args.keys, args.starts),
        ]
        ok = True
    finally:
        if ok and env.get("BENCH_KEEP_WORKDIR") != "1":
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            progress(f"server logs kept in {workdir}")

    cores = os.cpu_count() or 1
    echo = median_run(figures["echo"])
    means = crypto_means(args.criterion_dir, args.started)
    limits = [
        ("HTTP echo of the 1 KiB encrypt body (benches/echo.rs), "
         f"{report.runs_label(args.rounds)}",
         f"{rate(echo.per_second)} req/s", millis(echo.p50_ms), millis(echo.p99_ms),
         "the same HTTP stack as vault-kms; no parsing, token, crypto or log line"),
        *crypto_limits(means, cores),
    ]
    raw_rates = {bench: 1e9 / nanos * cores for bench, nanos in means.items()}
    result = Report(
        machine=machine(args.vault_kms_bin, load_average),
        command=args.command,
        settings=[
            ("wrk threads", str(settings.threads)),
            ("wrk connections", str(settings.connections)),
            ("wrk scheduling policy", f"SCHED_{settings.wrk_policy.upper()}"),
            ("rounds of the load phase", str(args.rounds)),
            ("rounds of the policy comparison", str(args.policy_rounds)),
            ("duration per operation, server and round", settings.duration),
            ("wrk timeout", settings.timeout),
            ("filler keys", f"{args.keys:,} x {load.FILLER_KEY_TYPE}"),
            ("starts per start-up figure", str(args.starts)),
            ("criterion measurement time", f"{env.get('BENCH_CRYPTO_TIME', '5')} s per benchmark"),
            ("pause after each answer at half load", f"{args.half_load_pause_ms} ms"),
            ("requests in the long run", f"{args.leak_requests:,}" if args.leak_requests
             else "0 (skipped)"),
        ],
        rows=rows,
        limits=limits,
        shares=report.shares(rows, echo.per_second, raw_rates),
        echo_runs=figures["echo"],
        policies=figures["policies"],
        resources=resources(figures, args.keys, args.starts),
        half_load=figures["half_load"],
        leak=figures["leak"],
        notes=notes(rows, figures, settings),
    )
    args.docs_dir.mkdir(exist_ok=True)
    (args.docs_dir / "benchmarks.md").write_text(report.markdown(result))
    (args.docs_dir / "benchmarks.svg").write_text(report.svg(rows))
    print("\n".join(report.results_table(rows)))
    print("\n| limit | throughput | p50 | p99 | note |\n| --- | ---: | ---: | ---: | --- |")
    print("\n".join(f"| {' | '.join(limit)} |" for limit in limits))
    print("\n" + "\n".join(report.shares_table(result.shares)))
    print("\n| figure | vault-kms | OpenBao |\n| --- | ---: | ---: |")
    print("\n".join(f"| {' | '.join(row)} |" for row in result.resources))
    print("\n" + "\n".join(report.half_load_table(result.half_load)))
    if result.leak is not None:
        print("\n" + "\n".join(report.leak_table(result.leak)))
    progress(f"wrote {args.docs_dir / 'benchmarks.md'} and {args.docs_dir / 'benchmarks.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
