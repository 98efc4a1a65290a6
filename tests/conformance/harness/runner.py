"""Plays a case against the reference and the target server, step by step.

Each step is sent to the reference (OpenBao) first, then to the target, with the
placeholders filled from that server's own earlier answers; the two answers are then
compared (`compare.py`) and the step's `expect_*` checks are run on each server alone.
A step with a placeholder that one server cannot fill (because an earlier step failed
on that server) is skipped on both servers and reported; the case goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import jsonpath
from .cases import Case, RenderError, Step, fill
from .compare import Answer, Difference, brief, compare_answers
from .servers import Server


@dataclass(frozen=True)
class Divergence:
    """A difference found in one step of one case."""

    case: str
    step: str
    number: int
    request: str
    field: str
    detail: str


@dataclass
class CaseResult:
    case: Case
    divergences: list[Divergence] = field(default_factory=list)
    # Filled in by the allowlist: divergence -> the reason that explains it.
    allowed: dict[Divergence, str] = field(default_factory=dict)
    steps_run: int = 0
    # "step N name: METHOD path -> status body" per step, as the reference answered.
    trace: list[str] = field(default_factory=list)

    @property
    def unexplained(self) -> list[Divergence]:
        return [d for d in self.divergences if d not in self.allowed]

    @property
    def status(self) -> str:
        if not self.divergences:
            return "PASS"
        return "FAIL" if self.unexplained else "ALLOWED"


@dataclass
class _ServerState:
    server: Server
    variables: dict[str, Any]
    # Why a saved name is missing: "step encrypt answered 400 without data.ciphertext".
    missing: dict[str, str] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)


def run_case(case: Case, reference: Server, target: Server) -> CaseResult:
    result = CaseResult(case)
    states = [
        _ServerState(reference, {"id": case.name}),
        _ServerState(target, {"id": case.name}),
    ]
    names = (reference.name, target.name)

    for number, step in enumerate(case.steps, start=1):
        shown = f"{step.method} {step.path}"

        def diverge(field_name: str, detail: str) -> None:
            result.divergences.append(
                Divergence(case.name, step.name, number, shown, field_name, detail)
            )

        requests = []
        for state in states:
            try:
                requests.append(_build(step, state.variables))
            except RenderError as error:
                name = str(error.args[0])
                reason = state.missing.get(name, "no earlier step saved it")
                diverge("placeholder", f"{{{{{name}}}}} has no value on {state.server.name}: "
                        f"{reason}; the step was not sent")
        if len(requests) < len(states):
            continue

        answers = [
            state.server.request(*request) for state, request in zip(states, requests)
        ]
        result.steps_run += 1
        path = requests[0][1]
        result.trace.append(
            f"step {number} {step.name}: {step.method} {path} "
            f"{(requests[0][2] or b'').decode(errors='replace')} -> "
            f"{answers[0].status} {brief(answers[0])}"
        )
        differences = compare_answers(
            *answers, path, step.random, step.exact, names, any_length=step.any_length
        )
        for difference in differences:
            diverge(difference.field, difference.detail)

        for state, answer in zip(states, answers):
            state.answers[step.name] = answer
            _save(step, answer, state)
            for difference in _expectations(step, state):
                diverge(difference.field, difference.detail)
    return result


def _build(step: Step, variables: dict[str, Any]) -> tuple[str, str, bytes | None, dict]:
    """(method, path, body, headers) for one server."""
    path = fill(step.path, variables, keep_type=False)
    headers = fill(step.headers, variables, keep_type=False)
    body: bytes | None = None
    content_type = step.content_type
    if step.raw_body is not None:
        body = fill(step.raw_body, variables, keep_type=False).encode()
    elif step.has_body:
        body = json.dumps(fill(step.body, variables)).encode()
        content_type = content_type or "application/json"
    if content_type is not None:
        headers["Content-Type"] = content_type
    if step.token is not None:
        headers["X-Vault-Token"] = step.token
    return step.method, path, body, headers


def _save(step: Step, answer: Answer, state: _ServerState) -> None:
    for name, path in step.save.items():
        try:
            state.variables[name] = jsonpath.lookup(answer.body, path)
            state.missing.pop(name, None)
        except KeyError:
            state.variables.pop(name, None)
            state.missing[name] = f"step {step.name} answered {answer.status} without {path}"


def _expectations(step: Step, state: _ServerState) -> list[Difference]:
    failures = []
    checks = [("expect_equal", pair, True) for pair in step.expect_equal]
    checks += [("expect_differ", pair, False) for pair in step.expect_differ]
    for kind, ((step_a, path_a), (step_b, path_b)), want_equal in checks:
        try:
            value_a = jsonpath.lookup(state.answers[step_a].body, path_a)
            value_b = jsonpath.lookup(state.answers[step_b].body, path_b)
        except KeyError:
            failures.append(Difference(kind, f"on {state.server.name}: {step_a}:{path_a} or "
                                       f"{step_b}:{path_b} is missing"))
            continue
        if (value_a == value_b) != want_equal:
            relation = "differs from" if want_equal else "equals"
            failures.append(
                Difference(kind, f"on {state.server.name}: {step_a}:{path_a} {relation} "
                           f"{step_b}:{path_b}\n{json.dumps(value_a)}\n{json.dumps(value_b)}")
            )
    return failures
