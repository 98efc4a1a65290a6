"""Compares two servers' answers to the same request.

The status must be equal. JSON bodies are compared member by member, recursively: the
same members (so the envelope, `data` and every nested object have the same member
sets), the same JSON types, and the same values, except where a value is random or
time-dependent (`DEFAULT_RANDOM`, plus a step's own `random` paths). Those are compared
by *shape*: the JSON type and, for strings, a class such as `vault:v2:` + base64 of 28
bytes, a PEM of a given type, a UUID, an RFC 3339 time. `errors` and `warnings` are
compared as whole lists, exactly. Bodies that are not JSON are compared as text.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from . import jsonpath
from .jsonpath import Segment

# Members compared as a whole list and reported under their own name.
WHOLE_LIST_MEMBERS = ("errors", "warnings")
MAX_SHOWN = 240


@dataclass(frozen=True)
class Answer:
    """What a server answered: the status and the body (parsed when it is JSON)."""

    status: int
    text: str
    body: Any = None
    is_json: bool = False

    @classmethod
    def from_bytes(cls, status: int, raw: bytes) -> Answer:
        text = raw.decode("utf-8", errors="replace")
        try:
            return cls(status, text, json.loads(text), True)
        except ValueError:
            return cls(status, text)


@dataclass(frozen=True)
class Difference:
    """One divergence inside a step: `field` is "status", "errors", "warnings",
    "body" (non-JSON text) or the path of a member, e.g. `data.keys.1.name`."""

    field: str
    detail: str


@dataclass(frozen=True)
class RandomRule:
    pattern: str
    why: str
    # Only when the value is not an object or array (a container is compared as usual).
    scalars_only: bool = False
    # Only for requests whose path (without the query) matches this regex.
    request: str | None = None


DEFAULT_RANDOM = (
    RandomRule("request_id", "a fresh UUID per request"),
    RandomRule("**.ciphertext", "random nonce and key material"),
    RandomRule("**.signature", "randomized ECDSA and PSS signatures, random keys"),
    RandomRule("**.hmac", "HMAC under a random key"),
    RandomRule("**.public_key", "random key material"),
    RandomRule("**.publickey", "random key material (batch sign, derived Ed25519)"),
    RandomRule("**.creation_time", "creation times of keys and tokens"),
    RandomRule("**.time", "backup_info / restore_info times"),
    RandomRule("data.keys.*", "symmetric key versions map to their creation time", True),
    RandomRule("data.random_bytes", "random bytes"),
    RandomRule("data.plaintext", "a data key is random", request=r"transit/datakey/"),
    RandomRule("data.accessor", "token accessor"),
    RandomRule("data.issue_time", "token issue time"),
    RandomRule("server_time_utc", "sys/health clock"),
    RandomRule("cluster_name", "sys/health cluster name, random per server"),
    RandomRule("cluster_id", "sys/health cluster id, random per server"),
)


def compare_answers(
    reference: Answer,
    target: Answer,
    request_path: str,
    random: tuple[str, ...] = (),
    exact: tuple[str, ...] = (),
    names: tuple[str, str] = ("reference", "target"),
    any_length: tuple[str, ...] = (),
) -> list[Difference]:
    """The divergences between two answers to the request sent to `request_path`;
    `any_length` paths are random and compared by shape without their length."""
    if reference.status != target.status:
        detail = (
            f"{names[0]} {reference.status}, {names[1]} {target.status}\n"
            f"{names[0]}: {_shorten(brief(reference))}\n{names[1]}: {_shorten(brief(target))}"
        )
        return [Difference("status", detail)]
    if not (reference.is_json and target.is_json):
        if reference.text == target.text:
            return []
        detail = f"{names[0]}: {_shorten(reference.text)}\n{names[1]}: {_shorten(target.text)}"
        return [Difference("body", detail)]

    rules = _Rules(request_path.split("?", 1)[0], (*random, *any_length), exact, any_length)
    differences: list[Difference] = []
    _walk(reference.body, target.body, [], rules, names, differences, exact_here=False)
    return differences


class _Rules:
    def __init__(
        self,
        request_path: str,
        random: tuple[str, ...],
        exact: tuple[str, ...],
        any_length: tuple[str, ...] = (),
    ):
        self.defaults = [
            (jsonpath.parse(rule.pattern), rule)
            for rule in DEFAULT_RANDOM
            if rule.request is None or re.match(rule.request, request_path)
        ]
        self.random = [jsonpath.parse(pattern) for pattern in random]
        self.exact = [jsonpath.parse(pattern) for pattern in exact]
        self.any_length = [jsonpath.parse(pattern) for pattern in any_length]

    def is_any_length(self, path: list[Segment]) -> bool:
        return any(jsonpath.matches(pattern, path) for pattern in self.any_length)

    def is_exact(self, path: list[Segment]) -> bool:
        return any(jsonpath.matches(pattern, path) for pattern in self.exact)

    def is_random(self, path: list[Segment], value: Any) -> bool:
        if any(jsonpath.matches(pattern, path) for pattern in self.random):
            return True
        container = isinstance(value, (dict, list))
        return any(
            jsonpath.matches(pattern, path) and not (rule.scalars_only and container)
            for pattern, rule in self.defaults
        )


def _walk(
    reference: Any,
    target: Any,
    path: list[Segment],
    rules: _Rules,
    names: tuple[str, str],
    out: list[Difference],
    exact_here: bool,
) -> None:
    where = jsonpath.render(path) if path else "(body)"
    exact_here = exact_here or rules.is_exact(path)

    if path and not exact_here and rules.is_random(path, reference):
        reference_shape, target_shape = shape(reference, path), shape(target, path)
        if rules.is_any_length(path):
            reference_shape, target_shape = _no_length(reference_shape), _no_length(target_shape)
        if reference_shape != target_shape and not _alphabet_undecided(
            reference, target, reference_shape, target_shape
        ):
            out.append(
                Difference(
                    where,
                    f"shape differs (value is random)\n"
                    f"{names[0]}: {_show(reference)}  [{_describe(reference_shape)}]\n"
                    f"{names[1]}: {_show(target)}  [{_describe(target_shape)}]",
                )
            )
        return

    if len(path) == 1 and path[0] in WHOLE_LIST_MEMBERS:
        if reference != target:
            out.append(Difference(where, _pair(reference, target, names)))
        return

    if json_type(reference) != json_type(target):
        out.append(
            Difference(
                where,
                f"type differs: {json_type(reference)} vs {json_type(target)}\n"
                + _pair(reference, target, names),
            )
        )
        return

    if isinstance(reference, dict):
        for member in sorted(reference.keys() | target.keys()):
            member_path = [*path, member]
            shown = jsonpath.render(member_path)
            if member not in target:
                detail = f"missing in {names[1]}'s answer; {names[0]} has "
                out.append(Difference(shown, detail + _show(reference[member])))
            elif member not in reference:
                detail = f"only in {names[1]}'s answer: "
                out.append(Difference(shown, detail + _show(target[member])))
            else:
                _walk(reference[member], target[member], member_path, rules, names, out, exact_here)
    elif isinstance(reference, list):
        if len(reference) != len(target):
            detail = f"length {len(reference)} vs {len(target)}\n" + _pair(reference, target, names)
            out.append(Difference(where, detail))
            return
        for index, (left, right) in enumerate(zip(reference, target)):
            _walk(left, right, [*path, index], rules, names, out, exact_here)
    elif reference != target:
        out.append(Difference(where, _pair(reference, target, names)))


# --- shapes ---------------------------------------------------------------------------

VERSIONED_RE = re.compile(r"vault:v([^:]*):(.*)", re.DOTALL)
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RFC3339_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
HEX_RE = re.compile(r"(?:[0-9a-f]{2})+")
STD_B64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
URL_B64_RE = re.compile(r"[A-Za-z0-9_-]+")
# ECDSA DER signatures vary in length by a byte or two; the others have fixed lengths.
LENGTH_VARIES = {"signature"}


def shape(value: Any, path: list[Segment]) -> Any:
    """What two random values of the same kind have in common."""
    if isinstance(value, dict):
        return {member: shape(item, [*path, member]) for member, item in value.items()}
    if isinstance(value, list):
        return [shape(item, [*path, index]) for index, item in enumerate(value)]
    if not isinstance(value, str):
        return json_type(value)

    versioned = VERSIONED_RE.fullmatch(value)
    if versioned:
        kind = _encoding(versioned.group(2))
        field = next((s for s in reversed(path) if isinstance(s, str)), "")
        if field in LENGTH_VARIES:
            kind = kind[:1]
        return ("vault", versioned.group(1), *kind)
    if value.startswith("-----BEGIN "):
        return ("pem", value.split("\n", 1)[0], value.endswith("\n"))
    if UUID_RE.fullmatch(value):
        return ("uuid",)
    if RFC3339_RE.fullmatch(value):
        return ("rfc3339",)
    if HEX_RE.fullmatch(value):
        return ("hex", len(value) // 2)
    document = _base64_json(value)
    if document is not None:
        # A backup blob: compared by the shape of the JSON document it encodes.
        return ("base64-json", json.dumps(shape(document, path), sort_keys=True))
    return ("string", *_encoding(value))


NEUTRAL_B64_RE = re.compile(r"(?:[A-Za-z0-9]{4})+")


def _alphabet_undecided(reference: Any, target: Any, *shapes: Any) -> bool:
    """Whether two shapes differ only in base64 versus base64url, the two texts have the
    same length, and one of them uses neither alphabet's own characters (`+/=` or
    `-_`), so it is valid in both: a random unpadded value sometimes is."""
    if not (isinstance(reference, str) and isinstance(target, str)):
        return False
    payloads = [v.rsplit(":", 1)[-1] for v in (reference, target)]
    if len(payloads[0]) != len(payloads[1]):
        return False
    if not any(NEUTRAL_B64_RE.fullmatch(payload) for payload in payloads):
        return False
    same = [tuple("base64" if part == "base64url" else part for part in shape)
            for shape in shapes if isinstance(shape, tuple)]
    return len(same) == 2 and same[0] == same[1]


def _base64_json(text: str) -> Any:
    """The JSON object that `text` is the standard base64 of, else None."""
    if not text.startswith("ey") or not STD_B64_RE.fullmatch(text):
        return None
    try:
        document = json.loads(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _no_length(value_shape: Any) -> Any:
    """A string's shape without its trailing length, e.g. ("string", "base64")."""
    if isinstance(value_shape, tuple) and value_shape and type(value_shape[-1]) is int:
        return value_shape[:-1]
    return value_shape


def _encoding(text: str) -> tuple:
    """("base64", n) / ("base64url", n) with the decoded length, or ("text",)."""
    if text and STD_B64_RE.fullmatch(text):
        try:
            return ("base64", len(base64.b64decode(text, validate=True)))
        except binascii.Error:
            pass
    if URL_B64_RE.fullmatch(text) and len(text) % 4 != 1:
        padded = text + "=" * (-len(text) % 4)
        return ("base64url", len(base64.urlsafe_b64decode(padded)))
    return ("text",)


def _describe(value_shape: Any) -> str:
    return json.dumps(value_shape) if not isinstance(value_shape, tuple) else " ".join(
        str(part) for part in value_shape
    )


# --- text ----------------------------------------------------------------------------


def brief(answer: Answer) -> str:
    """The body, without the envelope members that are the same in every answer."""
    body = answer.body
    if not (answer.is_json and isinstance(body, dict) and "request_id" in body):
        return answer.text.strip()
    kept = {k: v for k, v in body.items() if k in ("data", "warnings") and v is not None}
    return json.dumps(kept, ensure_ascii=False)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _pair(reference: Any, target: Any, names: tuple[str, str]) -> str:
    return f"{names[0]}: {_show(reference)}\n{names[1]}: {_show(target)}"


def _show(value: Any) -> str:
    return _shorten(json.dumps(value, ensure_ascii=False))


def _shorten(text: str) -> str:
    text = text.rstrip("\n")
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + f"... ({len(text)} chars)"
