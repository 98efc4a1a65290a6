"""The conformance harness under pytest: its own logic, the docs page, and the run.

    .venv/bin/pytest tests/conformance                           # OpenBao vs vault-kms
    CONFORMANCE_SELF_CHECK=1 .venv/bin/pytest tests/conformance  # OpenBao vs OpenBao

The vault-kms binary is $VAULT_KMS_BIN, else target/debug/vault-kms. Each case is one
test; both servers are started once, by the first of them, for the whole session.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness import allowlist, docs, session
from harness.allowlist import Entry
from harness.cases import CaseError, RenderError, fill, load_cases
from harness.compare import Answer, compare_answers
from harness.report import case_report, endpoint, summary
from harness.runner import CaseResult, Divergence

SELF_CHECK = os.environ.get("CONFORMANCE_SELF_CHECK", "") not in ("", "0")
CASES = load_cases(session.CASES_DIR)
ENTRIES = allowlist.load(session.ALLOWLIST, {case.name for case in CASES})


def envelope(data, warnings=None, status=200) -> Answer:
    body = {
        "request_id": "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9",
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": data,
        "wrap_info": None,
        "warnings": warnings,
        "auth": None,
    }
    return Answer(status, json.dumps(body), body, True)


def error(status: int, *messages: str) -> Answer:
    body = {"errors": list(messages)}
    return Answer(status, json.dumps(body), body, True)


def fields(reference: Answer, target: Answer, path="transit/encrypt/k", **overrides):
    return [d.field for d in compare_answers(reference, target, path, **overrides)]


# --- comparison -----------------------------------------------------------------------


def test_identical_answers_do_not_diverge():
    answer = envelope({"plaintext": "aGk="})
    assert fields(answer, answer) == []


def test_a_different_status_is_one_divergence():
    assert fields(envelope({}), error(400, "missing plaintext to encrypt")) == ["status"]


def test_error_texts_must_match_exactly():
    reference = error(400, "invalid ciphertext: no prefix")
    target = error(400, "invalid ciphertext: no prefix.")
    assert fields(reference, target) == ["errors"]


def test_missing_extra_and_retyped_members_are_named_by_path():
    reference = envelope({"key_version": 1, "name": "k"})
    target = envelope({"key_version": "1", "extra": True})
    assert sorted(fields(reference, target)) == ["data.extra", "data.key_version", "data.name"]


def test_a_missing_envelope_member_diverges():
    reference = envelope({"valid": True})
    target = Answer(200, "", {k: v for k, v in reference.body.items() if k != "auth"}, True)
    assert fields(reference, target) == ["auth"]


def test_warnings_are_compared_exactly():
    reference = envelope({}, ["Endpoint ignored these unrecognized parameters: [a b]"])
    target = envelope({}, ["Endpoint ignored these unrecognized parameters: [b a]"])
    assert fields(reference, target) == ["warnings"]
    assert fields(envelope({}, None), envelope({}, [])) == ["warnings"]


def test_random_values_of_the_same_shape_do_not_diverge():
    reference = envelope({"ciphertext": "vault:v1:" + "A" * 52, "key_version": 1})
    target = envelope({"ciphertext": "vault:v1:" + "B" * 52, "key_version": 1})
    assert fields(reference, target) == []


def test_random_values_of_another_version_or_length_diverge():
    reference = envelope({"ciphertext": "vault:v1:" + "A" * 52})
    assert fields(reference, envelope({"ciphertext": "vault:v2:" + "A" * 52})) == [
        "data.ciphertext"
    ]
    assert fields(reference, envelope({"ciphertext": "vault:v1:" + "A" * 48})) == [
        "data.ciphertext"
    ]
    standard = envelope({"ciphertext": "vault:v1:AA+/" + "A" * 48})
    assert fields(standard, envelope({"ciphertext": "vault:v1:AAA-" + "A" * 48})) == [
        "data.ciphertext"
    ]


def test_a_random_value_valid_in_both_base64_alphabets_matches_either():
    # 96 random bytes (a P-384 JWS signature) sometimes encode without '-' or '_'.
    neutral = envelope({"signature": "vault:v1:" + "A" * 128})
    url = envelope({"signature": "vault:v1:" + "A_" * 64})
    standard = envelope({"signature": "vault:v1:" + "A+" * 64})
    assert fields(neutral, url) == []
    assert fields(neutral, standard) == []
    assert fields(standard, url) == ["data.signature"]


def test_signature_lengths_may_vary_but_not_their_encoding():
    der_70 = envelope({"signature": "vault:v1:" + "A" * 96})
    der_72 = envelope({"signature": "vault:v1:" + "A" * 100})
    jws = envelope({"signature": "vault:v1:" + "A" * 86})
    assert fields(der_70, der_72) == []
    assert fields(der_70, jws) == ["data.signature"]


def test_symmetric_key_times_are_random_but_asymmetric_key_names_are_not():
    reference = envelope({"keys": {"1": 1796327245, "2": {"name": "P-256", "public_key": "x"}}})
    target = envelope({"keys": {"1": 1796327999, "2": {"name": "P-384", "public_key": "y"}}})
    assert fields(reference, target, "transit/keys/k") == ["data.keys.2.name"]


def test_list_key_names_are_not_random():
    reference = envelope({"keys": ["a", "b"]})
    assert fields(reference, envelope({"keys": ["a", "c"]}), "transit/keys") == ["data.keys[1]"]


def test_a_datakey_plaintext_is_random_only_on_datakey_paths():
    reference = envelope({"plaintext": "MSg/xARgwWy958d4hBE9kA4+HT+/e9itkU4lWFHrlHY="})
    target = envelope({"plaintext": "nCk/nR9PGn7FjrWC90hiZguzau5juJHWjVhEMtp/VOo="})
    assert fields(reference, target, "transit/datakey/plaintext/k") == []
    assert fields(reference, target, "transit/decrypt/k") == ["data.plaintext"]


def test_step_overrides_make_fields_random_or_exact():
    reference = envelope({"plaintext": "aGk=", "ciphertext": "vault:v1:AAAA"})
    target = envelope({"plaintext": "aGo=", "ciphertext": "vault:v1:BBBB"})
    assert fields(reference, target) == ["data.plaintext"]
    assert fields(reference, target, random=("data.plaintext",)) == []
    assert fields(reference, target, exact=("data.ciphertext",)) == [
        "data.ciphertext",
        "data.plaintext",
    ]


def test_bodies_that_are_not_json_are_compared_as_text():
    assert fields(Answer(204, ""), Answer(204, "")) == []
    assert fields(Answer(204, ""), Answer(204, "null")) == ["body"]


# --- allowlist ------------------------------------------------------------------------


def result_with(*divergent_fields: str) -> CaseResult:
    case = CASES[0]
    result = CaseResult(case)
    for field in divergent_fields:
        result.divergences.append(Divergence(case.name, "create", 1, "POST x", field, "d"))
    return result


def test_an_entry_covers_its_field_and_everything_below_it():
    result = result_with("data.keys.1", "data.keys.2.name", "status")
    entry = Entry(CASES[0].name, "versions are shown differently", field="data.keys")
    assert allowlist.apply([entry], result) == []
    assert [d.field for d in result.unexplained] == ["status"]
    assert result.status == "FAIL"


def test_a_case_whose_divergences_are_all_covered_is_allowed():
    result = result_with("errors")
    entries = [Entry(CASES[0].name, "the message names the key", step="create")]
    allowlist.apply(entries, result)
    assert result.status == "ALLOWED"


def test_an_entry_for_another_step_or_field_is_stale():
    result = result_with("errors")
    other_step = Entry(CASES[0].name, "only the read differs", step="read")
    other_field = Entry(CASES[0].name, "only the status differs", field="status")
    assert allowlist.apply([other_step, other_field], result) == [other_step, other_field]
    assert result.status == "FAIL"


def test_stale_entries_count_as_failures_in_the_summary():
    stale = [Entry(CASES[0].name, "an old reason to differ")]
    lines = summary([result_with()], stale).splitlines()
    assert lines[-2] == (
        "conformance: 1 cases, 1 passed, 0 allowed, 0 failed, 1 stale allowlist entries"
    )
    assert lines[-1] == "1 passed, 1 failed"


def test_the_allowlist_refuses_unknown_cases_and_missing_reasons(tmp_path: Path):
    path = tmp_path / "allowlist.json"
    path.write_text(json.dumps({"entries": [{"case": "no-such-case", "reason": "because so"}]}))
    with pytest.raises(allowlist.AllowlistError, match="no case is named"):
        allowlist.load(path, {case.name for case in CASES})
    path.write_text(json.dumps({"entries": [{"case": CASES[0].name, "reason": ""}]}))
    with pytest.raises(allowlist.AllowlistError, match="reason"):
        allowlist.load(path, {case.name for case in CASES})


# --- cases and placeholders -----------------------------------------------------------


def test_a_whole_placeholder_keeps_the_saved_type():
    variables = {"id": "k", "version": 2, "ct": "vault:v2:QUJD"}
    body = {"key_version": "{{version}}", "ciphertext": "{{ct}}", "note": "v{{version}}"}
    assert fill(body, variables) == {"key_version": 2, "ciphertext": "vault:v2:QUJD", "note": "v2"}
    assert fill("transit/encrypt/{{id}}", variables, keep_type=False) == "transit/encrypt/k"


def test_the_payload_filter_drops_the_prefix():
    assert fill("vault:v0:{{ct|payload}}", {"ct": "vault:v2:QUJD"}) == "vault:v0:QUJD"


def test_a_placeholder_without_a_value_cannot_be_filled():
    with pytest.raises(RenderError):
        fill("{{ct}}", {"id": "k"})


def write_case(directory: Path, step: dict) -> None:
    case = {"name": "probe", "description": "a probe", "steps": [step]}
    (directory / "probe.json").write_text(json.dumps({"about": "", "cases": [case]}))


@pytest.mark.parametrize(
    ("step", "complaint"),
    [
        ({"method": "POST", "path": "transit/encrypt/{{ct}}"}, "not saved by an earlier step"),
        ({"method": "POST", "path": "transit/x", "body": {"a": "{{ ct }}"}}, "malformed"),
        ({"method": "POST", "path": "transit/x", "bogy": {}}, "unknown members"),
        ({"method": "POST", "path": "/v1/transit/x"}, "relative to /v1/"),
        ({"method": "GET", "path": "x", "save": {"id": "data.x"}}, "bad save name"),
    ],
)
def test_case_files_are_checked_when_loaded(tmp_path: Path, step: dict, complaint: str):
    write_case(tmp_path, step)
    with pytest.raises(CaseError, match=complaint):
        load_cases(tmp_path)


def test_every_case_file_loads_and_names_are_unique():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)) >= 150


def test_requests_are_grouped_by_endpoint():
    assert endpoint("PUT", "transit/encrypt/{{id}}") == "POST transit/encrypt/:name"
    assert endpoint("GET", "transit/keys?list=true&limit=1") == "LIST transit/keys"
    assert endpoint("POST", "transit/sign/k/sha2-256") == "POST transit/sign/:name[/:algorithm]"
    assert endpoint("GET", "transit/nope") == "GET transit/(no such route)"


def test_the_docs_page_is_current():
    current = session.DOCS_PAGE.read_text()
    assert current == docs.page(current, CASES, ENTRIES), (
        "docs/compat.md is out of date: run "
        "`.venv/bin/python tests/conformance/run.py --write-docs`"
    )


# --- the differential run -------------------------------------------------------------


@pytest.fixture(scope="session")
def conformance_run():
    """Every case against both servers, once: (results by case name, stale entries)."""
    entries = [] if SELF_CHECK else ENTRIES
    results, stale = session.run(CASES, entries, SELF_CHECK, session.default_vault_kms_bin())
    return {result.case.name: result for result in results}, stale


@pytest.mark.parametrize("name", [case.name for case in CASES])
def test_case_matches_openbao(conformance_run, name: str):
    results, _ = conformance_run
    result = results[name]
    assert result.status != "FAIL", "\n" + case_report(result)


def test_no_allowlist_entry_is_stale(conformance_run):
    _, stale = conformance_run
    assert not stale, "remove these allowlist entries: " + ", ".join(
        entry.describe() for entry in stale
    )
