"""docs/benchmarks.md and docs/benchmarks.svg from one run's figures.

The report states what was measured and how; it never judges a figure.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from load import Result, median_run
from sustained import HALF_LOAD_DURATION, PROBE_SECONDS, WARM_REQUESTS, HalfLoad, Leak


@dataclass
class Row:
    """One operation, measured on both servers in one or more rounds (empty: not
    measured)."""

    name: str
    vault_kms_runs: list[Result]
    openbao_runs: list[Result]
    # Why vault-kms has no figure (such as "not served"), shown in its column.
    note: str = ""

    @property
    def vault_kms(self) -> Result | None:
        return median_run(self.vault_kms_runs) if self.vault_kms_runs else None

    @property
    def openbao(self) -> Result | None:
        return median_run(self.openbao_runs) if self.openbao_runs else None

    @property
    def ratio(self) -> float | None:
        """The ratio of the two servers' median req/s."""
        vault_kms, openbao = self.vault_kms, self.openbao
        if not vault_kms or not openbao or not openbao.per_second:
            return None
        return vault_kms.per_second / openbao.per_second


# The operations that the policy comparison runs under each of wrk's policies.
POLICY_OPERATIONS = ("encrypt chacha20-poly1305 1 KiB", "sign ecdsa-p256 sha2-256")


@dataclass
class PolicyRow:
    """One operation on one server, under each of wrk's scheduling policies."""

    operation: str
    server: str
    # policy name (load.WRK_POLICIES) -> its runs
    runs: dict[str, list[Result]]


def runs_label(count: int) -> str:
    """What a figure picked from `count` runs is."""
    if count == 1:
        return "one run"
    if count % 2 == 0:
        return f"lower median of {count}"
    return f"median of {count}"


# The operations set beside the limits, each with the criterion benchmark of its raw
# cryptography (None: none is measured, the echo alone is its limit).
LIMITED_OPERATIONS = (
    ("encrypt chacha20-poly1305 1 KiB", "chacha20_poly1305_seal_1kib"),
    ("decrypt chacha20-poly1305 1 KiB", None),
    ("encrypt aes256-gcm96 1 KiB", "aes256_gcm_seal_1kib"),
    ("decrypt aes256-gcm96 1 KiB", None),
    ("hmac sha2-256, 32-byte key", "hmac_sha256_1kib"),
    ("sign ecdsa-p256 sha2-256", "ecdsa_p256_sha256_sign_1kib"),
    ("verify ecdsa-p256 sha2-256", "ecdsa_p256_sha256_verify_1kib"),
)


@dataclass
class Share:
    """vault-kms's median req/s for one operation beside the machine's limits."""

    operation: str
    per_second: float
    echo: float
    # The raw operation on all cores, ops/s (None: not measured).
    raw: float | None

    @property
    def ceiling(self) -> float | None:
        """The most a request that costs the echo's work plus the raw operation's can
        reach, when both costs add up on the same cores."""
        if self.raw is None or not self.echo or not self.raw:
            return None
        return 1 / (1 / self.echo + 1 / self.raw)


def shares(rows: list[Row], echo: float, raw_rates: dict[str, float]) -> list[Share]:
    by_name = {row.name: row for row in rows}
    found = []
    for operation, bench in LIMITED_OPERATIONS:
        row = by_name.get(operation)
        if row is None or row.vault_kms is None:
            continue
        raw = raw_rates.get(bench) if bench else None
        found.append(Share(operation, row.vault_kms.per_second, echo, raw))
    return found


def percent(part: float, whole: float | None) -> str:
    return f"{part / whole:.0%}".replace("%", " %") if whole else ""


def shares_table(found: list[Share]) -> list[str]:
    lines = [
        "| operation | vault-kms req/s | % of echo | raw operation, all cores | "
        "echo + raw ceiling | % of raw | % of ceiling |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for share in found:
        raw = f"{rate(share.raw)} ops/s" if share.raw else ""
        ceiling = f"{rate(share.ceiling)} req/s" if share.ceiling else ""
        lines.append(
            f"| {share.operation} | {rate(share.per_second)} | "
            f"{percent(share.per_second, share.echo)} | {raw} | {ceiling} | "
            f"{percent(share.per_second, share.raw)} | "
            f"{percent(share.per_second, share.ceiling)} |"
        )
    return lines


def shares_section(found: list[Share]) -> list[str]:
    if not found:
        return []
    return [
        "## vault-kms against the limits",
        "",
        "vault-kms's median req/s from the throughput table as a share of the limits",
        "above. **echo + raw ceiling** is 1 / (1 / echo + 1 / raw): the rate of a request",
        "that needs both the echo's work (HTTP, the kernel, wrk's own share of the cores)",
        "and the raw operation's, if the two simply add up on the same cores. No server",
        "on the echo's HTTP stack can serve more than this ceiling. Where the raw",
        "operation costs about as much as the echo (an ECDSA signature), the ceiling",
        "itself is about half the raw rate, so **% of raw** stays far below 100 % for any",
        "such server; **% of ceiling** says how much of the ceiling vault-kms reaches.",
        "Decrypt has no raw row (criterion measures the seal only).",
        "",
        *shares_table(found),
        "",
    ]


@dataclass
class Report:
    machine: list[tuple[str, str]]
    command: str
    settings: list[tuple[str, str]]
    rows: list[Row]
    # (limit, figure, p50, p99, note)
    limits: list[tuple[str, str, str, str, str]]
    # vault-kms against the limits, per operation
    shares: list[Share]
    # The echo server's runs, one per round.
    echo_runs: list[Result]
    policies: list[PolicyRow]
    # (figure, vault-kms, OpenBao)
    resources: list[tuple[str, str, str]]
    half_load: list[HalfLoad] = field(default_factory=list)
    # None: the long run was skipped (BENCH_LEAK_REQUESTS=0).
    leak: Leak | None = None
    notes: list[str] = field(default_factory=list)


def rate(value: float) -> str:
    return f"{value:,.0f}"


def millis(value: float) -> str:
    return f"{value:.2f} ms"


def mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def results_table(rows: list[Row]) -> list[str]:
    lines = [
        "| operation | vault-kms req/s | p50 | p99 | OpenBao req/s | p50 | p99 | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        cells = [row.name]
        for result, missing in ((row.vault_kms, row.note), (row.openbao, "")):
            if result is None:
                cells += [missing or "not measured", "", ""]
            else:
                cells += [rate(result.per_second), millis(result.p50_ms), millis(result.p99_ms)]
        ratio = row.ratio
        cells.append("n/a" if ratio is None else f"{ratio:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def rounds_table(rows: list[Row]) -> list[str]:
    """Every run's req/s, round by round, for both servers."""
    rounds = max((len(row.vault_kms_runs) for row in rows), default=0)
    header = " | ".join(f"round {number}" for number in range(1, rounds + 1))
    lines = [
        f"| operation | server | {header} |",
        "| --- | --- |" + " ---: |" * rounds,
    ]
    for row in rows:
        for server, runs in (("vault-kms", row.vault_kms_runs), ("OpenBao", row.openbao_runs)):
            if runs:
                cells = [row.name, server, *(rate(run.per_second) for run in runs)]
                lines.append("| " + " | ".join(cells) + " |")
    return lines


def rounds_section(rows: list[Row], echo_runs: list[Result]) -> list[str]:
    """The spread behind the medians of the throughput table."""
    rounds = max((len(row.vault_kms_runs) for row in rows), default=0)
    if rounds < 2:
        return []
    even = (["With an even number of rounds, the median is the lower of the two middle",
             "runs."] if rounds % 2 == 0 else [])
    echo = ", ".join(rate(run.per_second) for run in echo_runs)
    return [
        "## Rounds",
        "",
        "The load phase runs in rounds: each round drives every operation on both",
        "servers, one after the other (vault-kms first in odd rounds, OpenBao first in",
        "even ones), and ends with the echo server. The throughput table shows, per",
        "operation and server, the run with the median req/s (and that run's",
        "latencies); its ratio divides the two medians. Spreading the runs of one",
        "operation over the whole phase keeps a passing slowdown of the machine from",
        "deciding a row.",
        *even,
        "Every run's req/s:",
        "",
        *rounds_table(rows),
        "",
        f"The echo server, round by round: {echo} req/s.",
        "",
    ]


def policy_section(rows: list[PolicyRow]) -> list[str]:
    """The same operations with wrk under each scheduling policy."""
    if not rows:
        return []
    count = len(next(iter(rows[0].runs.values())))
    lines = [
        "## wrk's scheduling policy",
        "",
        "wrk shares the two cores with the server it drives. Under Linux's default",
        "policy (SCHED_OTHER) an answer that wakes a wrk thread may preempt the server",
        "thread running on that core; under SCHED_BATCH it waits for the scheduler tick",
        "or a free core. Some operations again on each server, alternating the two",
        f"policies, {count} run{'' if count == 1 else 's'} each; each cell is "
        + ("that run" if count == 1 else f"the {runs_label(count)} by req/s") + ", with",
        "its p99. **batch / other** divides the two req/s.",
        "",
        "| operation | server | SCHED_BATCH req/s | p99 | SCHED_OTHER req/s | p99 "
        "| batch / other |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        batch, other = median_run(row.runs["batch"]), median_run(row.runs["other"])
        change = batch.per_second / other.per_second if other.per_second else None
        cells = [row.operation, SERVER_NAMES.get(row.server, row.server),
                 rate(batch.per_second), millis(batch.p99_ms),
                 rate(other.per_second), millis(other.p99_ms),
                 "n/a" if change is None else f"{change:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


# Server process names (servers.py) as the report writes them.
SERVER_NAMES = {"vault-kms": "vault-kms", "openbao": "OpenBao"}


def half_load_table(rows: list[HalfLoad]) -> list[str]:
    lines = [
        "| operation | server | target req/s | connections | achieved req/s | p50 | p99 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        result = row.result
        server = SERVER_NAMES.get(row.server, row.server)
        cells = [row.operation, server, rate(row.target), str(row.connections),
                 rate(result.per_second), millis(result.p50_ms), millis(result.p99_ms)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def leak_table(leak: Leak) -> list[str]:
    ratio = "n/a" if leak.ratio is None else f"{leak.ratio:.3f}"
    return [
        "| figure | vault-kms |",
        "| --- | ---: |",
        f"| resident memory after {leak.warm_requests:,} requests | {mib(leak.warm_rss_kib)} |",
        f"| resident memory after {leak.total_requests:,} requests | {mib(leak.total_rss_kib)} |",
        f"| ratio, after {leak.total_requests:,} / after {leak.warm_requests:,} | {ratio} |",
        f"| requests without the expected answer | {leak.unexpected:,} |",
    ]


def half_load_section(rows: list[HalfLoad]) -> list[str]:
    """How the paced runs work, and their table."""
    if not rows:
        return []
    pause = rows[0].pause_ms
    return [
        "## Latency at half load",
        "",
        "Some operations again, on each server at half its median req/s above",
        f"(**target**), for {HALF_LOAD_DURATION}, through `bench/paced.lua`. wrk stays",
        "closed-loop: each connection",
        f"sends a request, waits for its answer, pauses {pause} ms, then sends the next.",
        f"A {PROBE_SECONDS}-second probe with target x {pause} ms / 1000 connections measures the",
        "rate they reach (short of the target by the time the answers take); the measured",
        "run scales that count by target / reached, rounded to a multiple of the wrk",
        "threads. The rate **achieved** may still differ from the target: read the",
        "latencies against it. Latency runs from sending a request to its answer, without",
        "the pause. Nothing corrects for coordinated omission: a slow answer delays the",
        "requests behind it on its connection instead of counting against them (wrk only",
        "back-fills its histogram for answers slower than twice the mean time between",
        "requests on a connection).",
        "",
        *half_load_table(rows),
        "",
    ]


def leak_section(leak: Leak | None) -> list[str]:
    """The long run's method and table (vault-kms only)."""
    if leak is None:
        return []
    return [
        "## Memory over a long run",
        "",
        "A fresh vault-kms (dev, in memory, holding only the chacha20-poly1305 key)",
        f"answers {WARM_REQUESTS:,} requests of encrypt chacha20-poly1305 1 KiB, then more",
        f"up to {leak.total_requests:,}, with the wrk threads and connections of the load",
        "phase. `bench/counted.lua` sends exactly that many (each wrk thread its share);",
        "one check request before them is not counted. Resident memory (VmRSS) is read",
        "a second after each count. OpenBao is not run here.",
        "",
        *leak_table(leak),
        "",
    ]


def markdown(report: Report) -> str:
    lines = [
        "# Benchmarks",
        "",
        "vault-kms and a real OpenBao dev server, driven with the same load, the same keys",
        "and the same request bodies in one run of `bench/run` (see `bench/README.md`).",
        "These figures describe one machine at one moment; they are not a promise.",
        "",
        "**ratio** is vault-kms requests per second divided by OpenBao's: above 1, vault-kms",
        "served more. p50 and p99 are wrk's latency percentiles. wrk runs on the same",
        "machine and shares its cores with the server it drives.",
        "",
        "## Throughput and latency",
        "",
        *results_table(report.rows),
        "",
        "![vault-kms / OpenBao throughput ratio per operation](benchmarks.svg)",
        "",
        *rounds_section(report.rows, report.echo_runs),
        *policy_section(report.policies),
        *half_load_section(report.half_load),
        "## Limits",
        "",
        "What the same machine gives with less than a transit request in the way: a bare",
        "HTTP echo server on the same stack, driven like the servers, and the raw",
        "cryptography alone (criterion, one thread, through vault-kms's own `crypto`",
        "module; operations per second per core are 1 / mean time). The cheapest",
        "request of each server is the `sys/health` row above.",
        "",
        "| limit | throughput | p50 | p99 | note |",
        "| --- | ---: | ---: | ---: | --- |",
        *[f"| {' | '.join(limit)} |" for limit in report.limits],
        "",
        *shares_section(report.shares),
        "## Memory and start-up",
        "",
        "| figure | vault-kms | OpenBao |",
        "| --- | ---: | ---: |",
        *[f"| {' | '.join(resource)} |" for resource in report.resources],
        "",
        *leak_section(report.leak),
    ]
    if report.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in report.notes], ""]
    lines += [
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in report.machine],
        "",
        "## Command",
        "",
        "```",
        report.command,
        "```",
        "",
        "| setting | value |",
        "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in report.settings],
        "",
    ]
    return "\n".join(lines)


# Chart geometry, in SVG user units.
CHART_WIDTH = 760
LABEL_WIDTH = 280
BAR_HEIGHT = 18
ROW_HEIGHT = 26
TOP = 40
BOTTOM = 30


def svg(rows: list[Row]) -> str:
    """A horizontal bar per operation: its ratio, with a line at parity (1.0)."""
    measured = [(row.name, row.ratio) for row in rows if row.ratio is not None]
    scale_max = max([1.0, *(ratio for _, ratio in measured)]) * 1.15
    plot_width = CHART_WIDTH - LABEL_WIDTH - 20
    height = TOP + ROW_HEIGHT * len(measured) + BOTTOM

    def x(ratio: float) -> float:
        return LABEL_WIDTH + plot_width * ratio / scale_max

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{CHART_WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{CHART_WIDTH / 2}" y="22" text-anchor="middle" font-size="14" '
        'font-weight="bold">vault-kms req/s ÷ OpenBao req/s (above 1: vault-kms served more)'
        "</text>",
    ]
    for index, (name, ratio) in enumerate(measured):
        top = TOP + index * ROW_HEIGHT
        colour = "#2f7d4f" if ratio >= 1 else "#c0612b"
        parts += [
            f'<text x="{LABEL_WIDTH - 8}" y="{top + BAR_HEIGHT - 5}" text-anchor="end">'
            f"{html.escape(name)}</text>",
            f'<rect x="{LABEL_WIDTH}" y="{top}" width="{x(ratio) - LABEL_WIDTH:.1f}" '
            f'height="{BAR_HEIGHT}" fill="{colour}"/>',
            f'<text x="{x(ratio) + 4:.1f}" y="{top + BAR_HEIGHT - 5}">{ratio:.2f}</text>',
        ]
    bottom = TOP + ROW_HEIGHT * len(measured)
    parts += [
        f'<line x1="{x(1):.1f}" y1="{TOP - 6}" x2="{x(1):.1f}" y2="{bottom}" '
        'stroke="#333333" stroke-dasharray="4 3"/>',
        f'<text x="{x(1):.1f}" y="{bottom + 16}" text-anchor="middle">1.0 (parity)</text>',
        "</svg>",
        "",
    ]
    return "\n".join(parts)
