"""One conformance run: where its files are, which cases it plays, and the run itself.

Shared by `run.py` (the script) and `test_conformance.py` (the pytest entry).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from pathlib import Path

from . import allowlist
from .cases import Case
from .report import case_report
from .runner import CaseResult, run_case
from .servers import both_servers

CONFORMANCE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = CONFORMANCE_DIR.parents[1]
CASES_DIR = CONFORMANCE_DIR / "cases"
ALLOWLIST = CONFORMANCE_DIR / "allowlist.json"
DOCS_PAGE = REPO_ROOT / "docs" / "compat.md"


def default_vault_kms_bin() -> Path:
    """$VAULT_KMS_BIN, else the debug build of this repository."""
    return Path(os.environ.get("VAULT_KMS_BIN", REPO_ROOT / "target" / "debug" / "vault-kms"))


def select(cases: list[Case], pattern: str | None) -> list[Case]:
    """Cases whose name matches the glob `pattern` (a plain word matches as a substring)."""
    if not pattern:
        return cases
    if not any(char in pattern for char in "*?["):
        pattern = f"*{pattern}*"
    return [case for case in cases if fnmatch.fnmatchcase(case.name, pattern)]


def run(
    cases: list[Case],
    entries: list[allowlist.Entry],
    self_check: bool,
    vault_kms_bin: Path,
    echo: Callable[[str], None] | None = None,
    trace: bool = False,
) -> tuple[list[CaseResult], list[allowlist.Entry]]:
    """Plays `cases` against both servers, started once for the whole run; returns the
    results and the stale allowlist entries. `echo` gets each case's report as soon as
    the case is done."""
    results, stale = [], []
    with both_servers(self_check, vault_kms_bin) as (reference, target):
        for case in cases:
            result = run_case(case, reference, target)
            stale += allowlist.apply(entries, result)
            results.append(result)
            if echo:
                echo(case_report(result, trace))
    return results, stale
