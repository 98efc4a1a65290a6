#!/usr/bin/env python3
"""Differential conformance run: the same requests to OpenBao 2.7.2 and to vault-kms.

    .venv/bin/python tests/conformance/run.py [--vault-kms-bin PATH] [--self-check]
                                              [--only PATTERN] [--trace] [--write-docs]

Starts a `bao server -dev` (the reference) and `vault-kms serve --dev` (the target),
plays every case of `cases/*.json` against both and prints PASS, ALLOWED or FAIL per
case with the divergences, then `conformance: N cases, M passed, A allowed, F failed`
and, last, `P passed, F failed` (allowed cases pass; stale allowlist entries fail).
Exit code 0 when nothing failed, 1 on a failure, 2 on a usage or set-up error.

`--self-check` uses a second OpenBao dev server as the target and no allowlist: it
proves the cases and the comparison (identical servers must show no divergence).
`--write-docs` rewrites the generated section of docs/compat.md from the cases and the
allowlist and exits.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness import allowlist, docs, session
from harness.cases import CaseError, load_cases
from harness.report import summary
from harness.servers import ServerError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--vault-kms-bin",
        type=Path,
        default=session.default_vault_kms_bin(),
        help="vault-kms binary (default: $VAULT_KMS_BIN or target/debug/vault-kms)",
    )
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="compare OpenBao with a second OpenBao server, without the allowlist",
    )
    parser.add_argument("--only", metavar="PATTERN", help="run only the matching cases")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="also print every request and the reference's answer to it",
    )
    parser.add_argument(
        "--write-docs", action="store_true", help="rewrite the generated section of docs/compat.md and exit"
    )
    args = parser.parse_args(argv)

    try:
        cases = load_cases(session.CASES_DIR)
        entries = allowlist.load(session.ALLOWLIST, {case.name for case in cases})
    except (CaseError, allowlist.AllowlistError) as error:
        print(f"conformance: {error}", file=sys.stderr)
        return 2

    if args.write_docs:
        current = session.DOCS_PAGE.read_text()
        session.DOCS_PAGE.write_text(docs.page(current, cases, entries))
        print(f"conformance: wrote {session.DOCS_PAGE.relative_to(session.REPO_ROOT)}")
        return 0

    selected = session.select(cases, args.only)
    if not selected:
        print(f"conformance: no case matches {args.only!r}", file=sys.stderr)
        return 2
    if args.self_check:
        print("self-check: OpenBao against a second OpenBao; the allowlist is not applied")
        entries = []

    started = time.monotonic()
    try:
        results, stale = session.run(
            selected, entries, args.self_check, args.vault_kms_bin, print, args.trace
        )
    except ServerError as error:
        print(f"conformance: {error}", file=sys.stderr)
        return 2
    print(f"({time.monotonic() - started:.1f} s)")
    print(summary(results, stale))
    failed = stale or any(result.status == "FAIL" for result in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
