"""The run's text report and the endpoint table of `docs/compat.md`."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from .allowlist import Entry
from .cases import Case
from .runner import CaseResult

INDENT = "    "

# Transit routes in OpenBao's order (spec §2.7), as (regex on the path after
# `transit/`, the pattern the table shows). A name is one path segment.
TRANSIT_ROUTES = [
    (r"keys/[^/]+/rotate", "keys/:name/rotate"),
    (r"rewrap/[^/]+", "rewrap/:name"),
    (r"wrapping_key", "wrapping_key"),
    (r"keys/[^/]+/import", "keys/:name/import"),
    (r"keys/[^/]+/import_version", "keys/:name/import_version"),
    (r"keys/[^/]+", "keys/:name"),
    (r"keys/[^/]+/soft-delete", "keys/:name/soft-delete"),
    (r"keys/[^/]+/soft-delete-restore", "keys/:name/soft-delete-restore"),
    (r"keys/?", "keys"),
    (r"export/[^/]+/[^/]+(/.*)?", "export/:type/:name[/:version]"),
    (r"keys/[^/]+/config", "keys/:name/config"),
    (r"encrypt/[^/]+", "encrypt/:name"),
    (r"decrypt/[^/]+", "decrypt/:name"),
    (r"datakey/[^/]+/[^/]+", "datakey/:kind/:name"),
    (r"random(/.*)?", "random[/:source][/:bytes]"),
    (r"hash(/.*)?", "hash[/:algorithm]"),
    (r"hmac/[^/]+(/.*)?", "hmac/:name[/:algorithm]"),
    (r"sign/[^/]+(/.*)?", "sign/:name[/:algorithm]"),
    (r"verify/[^/]+(/.*)?", "verify/:name[/:algorithm]"),
    (r"backup/[^/]+", "backup/:name"),
    (r"restore(/.*)?", "restore[/:name]"),
    (r"keys/[^/]+/trim", "keys/:name/trim"),
    (r"cache-config", "cache-config"),
    (r"config/keys", "config/keys"),
]
METHOD_ORDER = ["GET", "LIST", "POST", "DELETE"]


def endpoint(method: str, path: str) -> str:
    """`METHOD pattern` of a request, e.g. `POST transit/encrypt/:name`. PUT counts as
    POST and `GET ...?list=true` as LIST, as OpenBao maps them to the same operation."""
    bare, _, query = path.partition("?")
    if method == "PUT":
        method = "POST"
    if method == "GET" and re.search(r"(^|&)list=(1|t|true|T|TRUE|True)(&|$)", query):
        method = "LIST"
    if bare.startswith("transit/"):
        rest = bare[len("transit/"):]
        pattern = next(
            (shown for regex, shown in TRANSIT_ROUTES if re.fullmatch(regex, rest)),
            "(no such route)",
        )
        return f"{method} transit/{pattern}"
    if bare.startswith(("sys/", "auth/")):
        return f"{method} {bare}"
    return f"{method} (outside any mount)"


# --- text report ----------------------------------------------------------------------


def case_report(result: CaseResult, trace: bool = False) -> str:
    lines = [f"{result.status:<8} {result.case.name}"]
    if trace:
        lines.extend(f"{INDENT}{line}" for line in result.trace)
    if result.status == "PASS":
        return "\n".join(lines)
    lines[0] += f"  ({result.case.file}: {result.case.description})"
    current = None
    for divergence in result.divergences:
        if divergence.number != current:
            current = divergence.number
            lines.append(
                f"{INDENT}step {divergence.number} ({divergence.step}): {divergence.request}"
            )
        detail = divergence.detail.splitlines() or [""]
        lines.append(f"{INDENT * 2}{divergence.field}: {detail[0]}")
        lines.extend(f"{INDENT * 3}{line}" for line in detail[1:])
        if divergence in result.allowed:
            lines.append(f"{INDENT * 3}allowed: {result.allowed[divergence]}")
    return "\n".join(lines)


def summary(results: list[CaseResult], stale: list[Entry]) -> str:
    counts = {status: 0 for status in ("PASS", "ALLOWED", "FAIL")}
    for result in results:
        counts[result.status] += 1
    lines = []
    for entry in stale:
        lines.append(
            f"STALE    allowlist entry {entry.describe()}: matches no divergence any more; "
            "remove it"
        )
    lines.append(
        f"conformance: {len(results)} cases, {counts['PASS']} passed, "
        f"{counts['ALLOWED']} allowed, {counts['FAIL']} failed"
        + (f", {len(stale)} stale allowlist entries" if stale else "")
    )
    # The last line, for CI: allowed cases pass; stale entries count as failures.
    passed = counts["PASS"] + counts["ALLOWED"]
    lines.append(f"{passed} passed, {counts['FAIL'] + len(stale)} failed")
    return "\n".join(lines)


# --- docs/compat.md --------------------------------------------------------------


@dataclass
class _Row:
    cases: set[str]
    steps: int = 0
    allowed: set[str] | None = None


def endpoint_table(cases: list[Case], entries: list[Entry]) -> str:
    """Markdown: per endpoint, the cases with a step on it, how many of them match
    OpenBao exactly there and how many only through an allowlist entry."""
    rows: dict[str, _Row] = defaultdict(lambda: _Row(set(), 0, set()))
    for case in cases:
        for step in case.steps:
            row = rows[endpoint(step.method, step.path)]
            row.cases.add(case.name)
            row.steps += 1
            if any(
                entry.case == case.name and entry.step in (None, step.name)
                for entry in entries
            ):
                row.allowed.add(case.name)

    def order(key: str) -> tuple:
        method, pattern = key.split(" ", 1)
        rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
        return (pattern, rank, method)

    lines = [
        "| Endpoint | Cases using it | Requests | Cases matching OpenBao "
        "| Cases with an allowed divergence |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key in sorted(rows, key=order):
        row = rows[key]
        allowed = len(row.allowed)
        lines.append(
            f"| `{key}` | {len(row.cases)} | {row.steps} | {len(row.cases) - allowed} "
            f"| {allowed} |"
        )
    lines.append(
        f"| **all** | {len(cases)} | {sum(len(c.steps) for c in cases)} | "
        f"{len(cases) - len({e.case for e in entries})} | {len({e.case for e in entries})} |"
    )
    return "\n".join(lines)


def allowlist_section(entries: list[Entry]) -> str:
    if not entries:
        return "None: the allowlist is empty."
    lines = ["| Case | Step | Field | Reason |", "| --- | --- | --- | --- |"]
    for entry in entries:
        lines.append(
            f"| `{entry.case}` | {entry.step or 'all'} | {entry.field or 'all'} "
            f"| {entry.reason} |"
        )
    return "\n".join(lines)
