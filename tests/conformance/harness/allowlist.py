"""The allowlist: divergences from OpenBao that the project accepts, each with a reason.

`allowlist.json` is `{"about": "...", "entries": [entry, ...]}`. An entry names a
`case`, optionally a `step` (its name) and a `field` ("status", "errors", "warnings",
"body", "placeholder", "expect_equal", or a member path such as `data.keys`, which also
covers everything below it), and carries a `reason` a user would accept. An entry
covers every divergence it matches. An entry that matches no divergence of a case that
ran is *stale*: the run fails until it is removed, so the list stays short and true.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .runner import CaseResult, Divergence

ENTRY_MEMBERS = {"case", "step", "field", "reason"}


class AllowlistError(ValueError):
    """An allowlist file that breaks the format."""


@dataclass(frozen=True)
class Entry:
    case: str
    reason: str
    step: str | None = None
    field: str | None = None

    def covers(self, divergence: Divergence) -> bool:
        if self.case != divergence.case:
            return False
        if self.step is not None and self.step != divergence.step:
            return False
        if self.field is None or self.field == divergence.field:
            return True
        return divergence.field.startswith((self.field + ".", self.field + "["))

    def describe(self) -> str:
        where = self.case
        if self.step:
            where += f" / {self.step}"
        if self.field:
            where += f" / {self.field}"
        return where


def load(path: Path, case_names: set[str]) -> list[Entry]:
    """The entries of `path` (none if it does not exist), checked against the cases."""
    if not path.exists():
        return []
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise AllowlistError(f"{path.name}: not JSON: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise AllowlistError(f'{path.name}: expected an object with an "entries" array')

    entries = []
    for number, raw in enumerate(document["entries"], start=1):
        where = f"{path.name} entry {number}"
        if not isinstance(raw, dict) or set(raw) - ENTRY_MEMBERS:
            raise AllowlistError(f"{where}: members must be among {sorted(ENTRY_MEMBERS)}")
        if not all(isinstance(raw.get(k, ""), str) for k in ENTRY_MEMBERS):
            raise AllowlistError(f"{where}: every member must be a string")
        if raw.get("case") not in case_names:
            raise AllowlistError(f"{where}: no case is named {raw.get('case')!r}")
        if len(raw.get("reason", "").strip()) < 10:
            raise AllowlistError(f"{where}: a reason a user would accept is required")
        entries.append(
            Entry(raw["case"], raw["reason"].strip(), raw.get("step"), raw.get("field"))
        )
    return entries


def apply(entries: list[Entry], result: CaseResult) -> list[Entry]:
    """Marks the divergences of `result` that the entries explain; returns this case's
    entries that explain none of them (stale)."""
    own = [entry for entry in entries if entry.case == result.case.name]
    used: set[Entry] = set()
    for divergence in result.divergences:
        for entry in own:
            if entry.covers(divergence):
                result.allowed.setdefault(divergence, entry.reason)
                used.add(entry)
    return [entry for entry in own if entry not in used]
