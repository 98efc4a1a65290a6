"""The case files: loading, checking, and filling `{{placeholders}}`.

A case file (`cases/*.json`) is `{"about": "...", "cases": [case, ...]}`. A case is
`{"name", "description", "steps": [step, ...]}`; its steps run in order against each
server. Step members:

- `method` (GET, POST, PUT, DELETE, LIST, HEAD, OPTIONS, PATCH or any other verb) and
  `path`, relative to `/v1/`, optionally with a query string.
- `body`: any JSON value, sent JSON-encoded with `Content-Type: application/json`; or
  `raw_body`: a string sent as it is (malformed bodies), without a content type unless
  `content_type` names one. `content_type` also overrides the JSON default.
- `token`: the `X-Vault-Token` to send; default `"root"`, `null` sends none.
  `headers`: more request headers.
- `save`: `{"var": "data.ciphertext"}` keeps a value of this server's answer; later
  steps use it as `{{var}}` (each server fills in its own values). `{{id}}` is the case
  name, the prefix of every key name the case creates. `{{var|payload}}` is the part
  of a `vault:vN:payload` value after the second colon.
- `random`: more paths compared by shape only; `exact`: paths compared by value even
  though a default rule calls them random (see `compare.py`); `any_length`: random
  paths whose shape leaves out the decoded length (RSA keys in DER, whose integers
  vary by a byte from key to key).
- `expect_equal` / `expect_differ`: `[[step, path], [step, path]]`, checked on each
  server on its own after this step, e.g. convergent encryption gives equal ciphertexts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import jsonpath

CASE_NAME_RE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
STEP_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
PLACEHOLDER_RE = re.compile(r"\{\{([a-z_][a-z0-9_]*)(?:\|([a-z]+))?\}\}")
FILTERS = {"payload"}

CASE_MEMBERS = {"name", "description", "steps"}
STEP_MEMBERS = {
    "name",
    "method",
    "path",
    "body",
    "raw_body",
    "content_type",
    "token",
    "headers",
    "save",
    "random",
    "exact",
    "any_length",
    "expect_equal",
    "expect_differ",
}
DEFAULT_TOKEN = "root"

# An `expect_*` operand and check: ("step name", "data.path").
Ref = tuple[str, str]
Pair = tuple[Ref, Ref]


class CaseError(ValueError):
    """A case file that breaks the format; the message names the file and case."""


class RenderError(LookupError):
    """A placeholder whose value this server's earlier answers did not provide."""


@dataclass(frozen=True)
class Step:
    name: str
    method: str
    path: str
    body: Any = None
    has_body: bool = False
    raw_body: str | None = None
    content_type: str | None = None
    token: str | None = DEFAULT_TOKEN
    headers: dict[str, str] = field(default_factory=dict)
    save: dict[str, str] = field(default_factory=dict)
    random: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()
    any_length: tuple[str, ...] = ()
    # Zero or one check each, as `[[step, path], [step, path]]` in the file.
    expect_equal: tuple[Pair, ...] = ()
    expect_differ: tuple[Pair, ...] = ()


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    file: str
    steps: tuple[Step, ...]


def load_cases(directory: Path) -> list[Case]:
    """Every case of every `*.json` file in `directory`, files in name order."""
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise CaseError(f"{path.name}: not JSON: {error}") from error
        if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
            raise CaseError(f'{path.name}: expected an object with a "cases" array')
        for raw in document["cases"]:
            case = _case(raw, path.name)
            if case.name in seen:
                raise CaseError(f"{path.name}: case {case.name} is also in {seen[case.name]}")
            seen[case.name] = path.name
            cases.append(case)
    return cases


def _case(raw: Any, file: str) -> Case:
    name = raw.get("name") if isinstance(raw, dict) else None
    where = f"{file}: case {name!r}"
    if not isinstance(raw, dict):
        raise CaseError(f"{file}: a case must be an object")
    _no_unknown(raw, CASE_MEMBERS, where)
    if not isinstance(name, str) or not CASE_NAME_RE.fullmatch(name):
        raise CaseError(f"{where}: name must be lowercase words joined by '-'")
    if not isinstance(raw.get("description"), str) or not raw["description"].strip():
        raise CaseError(f"{where}: a description is required")
    if not isinstance(raw.get("steps"), list) or not raw["steps"]:
        raise CaseError(f"{where}: at least one step is required")

    steps: list[Step] = []
    saved = {"id"}
    for number, raw_step in enumerate(raw["steps"], start=1):
        step = _step(raw_step, number, f"{where} step {number}")
        _check_placeholders(step, saved, f"{where} step {number}")
        saved |= set(step.save)
        if any(earlier.name == step.name for earlier in steps):
            raise CaseError(f"{where}: two steps are named {step.name}")
        known = {earlier.name for earlier in steps} | {step.name}
        for pair in step.expect_equal + step.expect_differ:
            for step_name, _ in pair:
                if step_name not in known:
                    raise CaseError(f"{where}: expect_* names unknown step {step_name!r}")
        steps.append(step)
    return Case(name, raw["description"].strip(), file, tuple(steps))


def _step(raw: Any, number: int, where: str) -> Step:
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: a step must be an object")
    _no_unknown(raw, STEP_MEMBERS, where)
    name = raw.get("name", f"step{number}")
    if not isinstance(name, str) or not STEP_NAME_RE.fullmatch(name):
        raise CaseError(f"{where}: bad step name {name!r}")
    method, path = raw.get("method"), raw.get("path")
    if not isinstance(method, str) or not method.isalpha():
        raise CaseError(f"{where}: method must be an HTTP verb")
    if not isinstance(path, str) or path.startswith("/"):
        raise CaseError(f"{where}: path must be a string relative to /v1/")
    if "body" in raw and "raw_body" in raw:
        raise CaseError(f"{where}: give body or raw_body, not both")
    if "raw_body" in raw and not isinstance(raw["raw_body"], str):
        raise CaseError(f"{where}: raw_body must be a string")

    token = raw.get("token", DEFAULT_TOKEN)
    if token is not None and not isinstance(token, str):
        raise CaseError(f"{where}: token must be a string or null")
    save = raw.get("save", {})
    if not isinstance(save, dict) or not all(isinstance(v, str) for v in save.values()):
        raise CaseError(f"{where}: save must map names to paths")
    for var in save:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", var) or var == "id":
            raise CaseError(f"{where}: bad save name {var!r}")
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise CaseError(f"{where}: headers must map names to strings")

    for key in ("random", "exact", "any_length"):
        if not isinstance(raw.get(key, []), list):
            raise CaseError(f"{where}: {key} must be a list of paths")
    try:
        for path_text in [*save.values(), *raw.get("random", []), *raw.get("exact", []),
                          *raw.get("any_length", [])]:
            jsonpath.parse(path_text)
    except jsonpath.PathError as error:
        raise CaseError(f"{where}: {error}") from error

    return Step(
        name=name,
        method=method.upper(),
        path=path,
        body=raw.get("body"),
        has_body="body" in raw,
        raw_body=raw.get("raw_body"),
        content_type=raw.get("content_type"),
        token=token,
        headers=dict(headers),
        save=dict(save),
        random=tuple(raw.get("random", [])),
        exact=tuple(raw.get("exact", [])),
        any_length=tuple(raw.get("any_length", [])),
        expect_equal=_pairs(raw.get("expect_equal"), where),
        expect_differ=_pairs(raw.get("expect_differ"), where),
    )


def _pairs(raw: Any, where: str) -> tuple[Pair, ...]:
    """`[[step, path], [step, path]]` → one checked pair of (step, path)."""
    if raw is None:
        return ()
    well_formed = (
        isinstance(raw, list)
        and len(raw) == 2
        and all(
            isinstance(ref, list) and len(ref) == 2 and all(isinstance(x, str) for x in ref)
            for ref in raw
        )
    )
    if not well_formed:
        raise CaseError(f"{where}: expect_* must be [[step, path], [step, path]]")
    try:
        for _, path in raw:
            jsonpath.parse(path)
    except jsonpath.PathError as error:
        raise CaseError(f"{where}: {error}") from error
    return (((raw[0][0], raw[0][1]), (raw[1][0], raw[1][1])),)


def _check_placeholders(step: Step, saved: set[str], where: str) -> None:
    """Every `{{...}}` is well formed and names `id` or a value an earlier step saved."""
    texts = [step.path, step.body, step.raw_body, step.headers]
    for text in _strings(texts):
        if text.count("{{") != len(PLACEHOLDER_RE.findall(text)):
            raise CaseError(f"{where}: malformed placeholder in {text!r}")
        for match in PLACEHOLDER_RE.finditer(text):
            name, filter_name = match.groups()
            if name not in saved:
                raise CaseError(f"{where}: {{{{{name}}}}} is not saved by an earlier step")
            if filter_name is not None and filter_name not in FILTERS:
                raise CaseError(f"{where}: unknown filter {filter_name!r}")


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return [value] if isinstance(value, str) else []


def _no_unknown(raw: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise CaseError(f"{where}: unknown members {unknown}")


# --- placeholders -----------------------------------------------------------------------


def fill(value: Any, variables: dict[str, Any], keep_type: bool = True) -> Any:
    """`value` with every `{{var}}` replaced from `variables`.

    A string that is exactly one placeholder takes the saved value with its JSON type
    (so a saved integer stays an integer) when `keep_type` is set; elsewhere values are
    inserted as text.
    """
    if isinstance(value, dict):
        return {key: fill(item, variables, keep_type) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, variables, keep_type) for item in value]
    if not isinstance(value, str):
        return value

    whole = PLACEHOLDER_RE.fullmatch(value)
    if whole and keep_type:
        return _value(whole, variables)
    return PLACEHOLDER_RE.sub(lambda match: _text(_value(match, variables)), value)


def _value(match: re.Match, variables: dict[str, Any]) -> Any:
    name, filter_name = match.groups()
    if name not in variables:
        raise RenderError(name)
    value = variables[name]
    if filter_name is None:
        return value
    if filter_name not in FILTERS:
        raise RenderError(f"{name}|{filter_name} (unknown filter)")
    if not isinstance(value, str) or value.count(":") < 2:
        raise RenderError(f"{name}|payload (not a vault:vN: value)")
    return value.split(":", 2)[2]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
