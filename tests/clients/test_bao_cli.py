"""The transit flows through the `bao` CLI, each with an endpoint token only.

The address and token reach the CLI through its environment (BAO_*/VAULT_*), never on
the command line, and no token is ever part of a failure message. Output is checked by
parsing `-format=json`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess

import pytest
from cryptography.exceptions import InvalidSignature


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def version_of(vault_string: str) -> int:
    """N of a `vault:vN:...` signature or ciphertext."""
    match = re.fullmatch(r"vault:v([1-9][0-9]*):[A-Za-z0-9+/]+={0,2}", vault_string)
    assert match, f"not a vault:vN: value: {vault_string!r}"
    return int(match.group(1))


def secret_line() -> bytes:
    """What `echo SECRET | base64` encodes: a line of text with its trailing newline."""
    return b"SECRET-" + os.urandom(6).hex().encode() + b"\n"


@pytest.fixture
def bao(target, bao_bin):
    """Runs `bao ARGS...` as an endpoint; returns the CompletedProcess."""

    def run(endpoint: str, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        token = target.tokens[endpoint]
        env.update(
            HOME=str(target.home),
            BAO_ADDR=target.addr,
            VAULT_ADDR=target.addr,
            BAO_TOKEN=token,
            VAULT_TOKEN=token,
        )
        return subprocess.run(
            [bao_bin, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


@pytest.fixture
def bao_json(bao):
    """Runs `bao ARGS...` as an endpoint, requires exit 0 and returns the parsed JSON."""

    def run(endpoint: str, *args: str) -> dict:
        result = bao(endpoint, *args)
        assert result.returncode == 0, (
            f"bao {' '.join(args)} as {endpoint} exited {result.returncode}: {result.stderr}"
        )
        return json.loads(result.stdout)

    return run


def assert_denied(result: subprocess.CompletedProcess) -> None:
    assert result.returncode != 0, f"expected a denial, got exit 0: {result.stdout}"
    assert "403" in result.stderr, result.stderr
    assert "permission denied" in result.stderr, result.stderr


def read_sign_key(bao_json, target) -> dict:
    return bao_json("manage_keys", "read", "-format=json", f"transit/keys/{target.sign_key}")[
        "data"
    ]


# --- manage_keys ------------------------------------------------------------------------


def test_cli_read_key_shows_ecdsa_p256_with_a_pem_public_key_per_version(bao_json, target):
    key = read_sign_key(bao_json, target)

    assert key["type"] == "ecdsa-p256"
    assert str(key["latest_version"]) in key["keys"]
    for version, entry in key["keys"].items():
        assert entry["public_key"].startswith("-----BEGIN PUBLIC KEY-----\n"), version


def test_cli_rotate_increments_latest_version_by_one(bao, bao_json, target):
    before = read_sign_key(bao_json, target)["latest_version"]

    result = bao("manage_keys", "write", "-f", f"transit/keys/{target.sign_key}/rotate")

    assert result.returncode == 0, result.stderr
    after = read_sign_key(bao_json, target)
    assert after["latest_version"] == before + 1
    assert str(before + 1) in after["keys"]


@pytest.mark.parametrize("hash_algorithm", ["sha2-256", "sha2-512"])
def test_cli_sign_with_hash_in_path_verifies_with_the_server_and_with_cryptography(
    bao_json, target, signature_oracle, hash_algorithm
):
    message = b"cli release " + os.urandom(8).hex().encode() + b"\n"
    key = read_sign_key(bao_json, target)

    signed = bao_json(
        "manage_keys",
        "write",
        "-format=json",
        f"transit/sign/{target.sign_key}/{hash_algorithm}",
        f"input={b64(message)}",
    )["data"]

    signature = signed["signature"]
    assert version_of(signature) == key["latest_version"]
    signature_oracle(
        key["keys"][str(key["latest_version"])]["public_key"], signature, message, hash_algorithm
    )
    verified = bao_json(
        "manage_keys",
        "write",
        "-format=json",
        f"transit/verify/{target.sign_key}/{hash_algorithm}",
        f"input={b64(message)}",
        f"signature={signature}",
    )["data"]
    assert verified["valid"] is True


def test_cli_verify_reports_false_for_other_input(bao_json, target, signature_oracle):
    key = read_sign_key(bao_json, target)
    signature = bao_json(
        "manage_keys",
        "write",
        "-format=json",
        f"transit/sign/{target.sign_key}/sha2-256",
        f"input={b64(b'approved')}",
    )["data"]["signature"]

    verified = bao_json(
        "manage_keys",
        "write",
        "-format=json",
        f"transit/verify/{target.sign_key}/sha2-256",
        f"input={b64(b'tampered')}",
        f"signature={signature}",
    )["data"]

    assert verified["valid"] is False
    pem = key["keys"][str(version_of(signature))]["public_key"]
    with pytest.raises(InvalidSignature):
        signature_oracle(pem, signature, b"tampered", "sha2-256")


def test_cli_signer_only_signature_verifies_with_cryptography(
    bao_json, target, signature_oracle
):
    message = b"signed by the signer-only endpoint\n"

    signature = bao_json(
        "signer_only",
        "write",
        "-format=json",
        f"transit/sign/{target.sign_key}/sha2-256",
        f"input={b64(message)}",
    )["data"]["signature"]

    # The signer cannot read the key; the admin endpoint reads its public half.
    key = read_sign_key(bao_json, target)
    pem = key["keys"][str(version_of(signature))]["public_key"]
    signature_oracle(pem, signature, message, "sha2-256")


# --- app_encryption ---------------------------------------------------------------------


def test_cli_encrypt_then_decrypt_returns_the_identical_bytes(bao_json, target):
    plaintext = secret_line()

    encrypted = bao_json(
        "app_encryption",
        "write",
        "-format=json",
        f"transit/encrypt/{target.encrypt_key}",
        f"plaintext={b64(plaintext)}",
    )["data"]
    decrypted = bao_json(
        "app_encryption",
        "write",
        "-format=json",
        f"transit/decrypt/{target.encrypt_key}",
        f"ciphertext={encrypted['ciphertext']}",
    )["data"]

    assert version_of(encrypted["ciphertext"]) >= 1
    assert base64.b64decode(decrypted["plaintext"]) == plaintext


def test_cli_rewrap_keeps_decrypting_at_the_latest_version(bao_json, target):
    plaintext = secret_line()
    ciphertext = bao_json(
        "app_encryption",
        "write",
        "-format=json",
        f"transit/encrypt/{target.encrypt_key}",
        f"plaintext={b64(plaintext)}",
    )["data"]["ciphertext"]

    rewrapped = bao_json(
        "app_encryption",
        "write",
        "-format=json",
        f"transit/rewrap/{target.encrypt_key}",
        f"ciphertext={ciphertext}",
    )["data"]["ciphertext"]

    # Encrypt always uses the latest version, so rewrap must report the same one.
    assert version_of(rewrapped) == version_of(ciphertext)
    assert rewrapped != ciphertext
    decrypted = bao_json(
        "app_encryption",
        "write",
        "-format=json",
        f"transit/decrypt/{target.encrypt_key}",
        f"ciphertext={rewrapped}",
    )["data"]
    assert base64.b64decode(decrypted["plaintext"]) == plaintext


# --- denial -----------------------------------------------------------------------------


def test_cli_rotate_of_app_data_is_denied_for_the_encryption_endpoint(bao, target):
    assert_denied(bao("app_encryption", "write", "-f", f"transit/keys/{target.encrypt_key}/rotate"))


def test_cli_read_of_the_signing_key_is_denied_for_the_signer(bao, target):
    assert_denied(bao("signer_only", "read", "-format=json", f"transit/keys/{target.sign_key}"))


def test_cli_verify_is_denied_for_the_signer(bao, target):
    assert_denied(
        bao(
            "signer_only",
            "write",
            "-format=json",
            f"transit/verify/{target.sign_key}/sha2-256",
            f"input={b64(b'x')}",
            "signature=vault:v1:MAYCAQECAQE=",
        )
    )


def test_cli_sign_is_denied_for_the_encryption_endpoint(bao, target):
    assert_denied(
        bao(
            "app_encryption",
            "write",
            "-format=json",
            f"transit/sign/{target.sign_key}/sha2-256",
            f"input={b64(b'x')}",
        )
    )


def test_cli_encrypt_is_denied_for_the_key_manager(bao, target):
    assert_denied(
        bao(
            "manage_keys",
            "write",
            "-format=json",
            f"transit/encrypt/{target.encrypt_key}",
            f"plaintext={b64(secret_line())}",
        )
    )


def test_cli_decrypt_is_denied_for_the_key_manager(bao, bao_json, target):
    ciphertext = bao_json(
        "app_encryption",
        "write",
        "-format=json",
        f"transit/encrypt/{target.encrypt_key}",
        f"plaintext={b64(secret_line())}",
    )["data"]["ciphertext"]

    assert_denied(
        bao(
            "manage_keys",
            "write",
            "-format=json",
            f"transit/decrypt/{target.encrypt_key}",
            f"ciphertext={ciphertext}",
        )
    )


@pytest.mark.parametrize("endpoint", ["manage_keys", "app_encryption", "signer_only"])
def test_cli_list_keys_is_denied_for_every_endpoint(bao, endpoint):
    assert_denied(bao(endpoint, "list", "-format=json", "transit/keys"))
