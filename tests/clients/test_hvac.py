"""The transit flows through `hvac`, each with an endpoint token only.

Signatures are checked twice: by the server's verify endpoint and, independently, by
`cryptography` against the PEM public key the server published for that key version.
"""

from __future__ import annotations

import base64
import os
import re

import hvac
import hvac.exceptions
import pytest
from cryptography.exceptions import InvalidSignature

ONE_YEAR_MINUS_A_DAY_SECONDS = 364 * 24 * 60 * 60
HASH_ALGORITHMS = ["sha2-224", "sha2-256", "sha2-384", "sha2-512"]
# A well-formed signature (DER of r=1, s=1) for requests that must be refused unread.
DUMMY_SIGNATURE = "vault:v1:MAYCAQECAQE="


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
def client(target):
    """Returns an hvac client for an endpoint id."""

    def for_endpoint(endpoint: str) -> hvac.Client:
        return hvac.Client(url=target.addr, token=target.tokens[endpoint], timeout=30)

    return for_endpoint


@pytest.fixture
def manage_keys(client) -> hvac.Client:
    return client("manage_keys")


@pytest.fixture
def app_encryption(client) -> hvac.Client:
    return client("app_encryption")


@pytest.fixture
def signer_only(client) -> hvac.Client:
    return client("signer_only")


def read_sign_key(manage_keys: hvac.Client, target) -> dict:
    return manage_keys.secrets.transit.read_key(name=target.sign_key)["data"]


# --- manage_keys: reading and rotating the signing key --------------------------------


def test_read_key_reports_ecdsa_p256_with_a_pem_public_key_per_version(manage_keys, target):
    key = read_sign_key(manage_keys, target)

    assert key["type"] == "ecdsa-p256"
    assert key["name"] == target.sign_key
    latest = key["latest_version"]
    assert isinstance(latest, int) and latest >= 1
    assert str(latest) in key["keys"]
    for version, entry in key["keys"].items():
        pem = entry["public_key"]
        assert pem.startswith("-----BEGIN PUBLIC KEY-----\n"), version
        assert pem.rstrip().endswith("-----END PUBLIC KEY-----"), version


def test_rotate_increments_latest_version_by_one_and_adds_a_new_public_key(
    manage_keys, target
):
    before = read_sign_key(manage_keys, target)

    manage_keys.secrets.transit.rotate_key(name=target.sign_key)

    after = read_sign_key(manage_keys, target)
    new_version = before["latest_version"] + 1
    assert after["latest_version"] == new_version
    assert str(new_version) in after["keys"]
    new_pem = after["keys"][str(new_version)]["public_key"]
    assert new_pem not in {entry["public_key"] for entry in before["keys"].values()}
    # Earlier versions stay published, unchanged.
    for version, entry in before["keys"].items():
        assert after["keys"][version]["public_key"] == entry["public_key"], version


def test_rotate_response_reports_the_new_latest_version(manage_keys, target):
    before = read_sign_key(manage_keys, target)["latest_version"]

    response = manage_keys.secrets.transit.rotate_key(name=target.sign_key)

    assert isinstance(response, dict), f"rotate answered without a JSON body: {response!r}"
    assert response["data"]["latest_version"] == before + 1


# --- manage_keys: signing and verifying -----------------------------------------------


@pytest.mark.parametrize("hash_algorithm", HASH_ALGORITHMS)
def test_sign_signature_verifies_with_the_server_and_with_cryptography(
    manage_keys, target, signature_oracle, hash_algorithm
):
    message = b"release manifest " + os.urandom(8).hex().encode() + b"\n"
    key = read_sign_key(manage_keys, target)

    signed = manage_keys.secrets.transit.sign_data(
        name=target.sign_key, hash_input=b64(message), hash_algorithm=hash_algorithm
    )["data"]

    signature = signed["signature"]
    assert signature.startswith(f"vault:v{key['latest_version']}:")
    version = version_of(signature)
    signature_oracle(key["keys"][str(version)]["public_key"], signature, message, hash_algorithm)

    verified = manage_keys.secrets.transit.verify_signed_data(
        name=target.sign_key,
        hash_input=b64(message),
        signature=signature,
        hash_algorithm=hash_algorithm,
    )["data"]
    assert verified["valid"] is True


def test_verify_reports_false_for_a_signature_over_other_input(manage_keys, target):
    signature = manage_keys.secrets.transit.sign_data(
        name=target.sign_key, hash_input=b64(b"approved\n"), hash_algorithm="sha2-256"
    )["data"]["signature"]

    verified = manage_keys.secrets.transit.verify_signed_data(
        name=target.sign_key,
        hash_input=b64(b"tampered\n"),
        signature=signature,
        hash_algorithm="sha2-256",
    )["data"]

    assert verified["valid"] is False


def test_verify_reports_false_when_the_hash_algorithm_differs(manage_keys, target):
    message = b"hash mismatch\n"
    signature = manage_keys.secrets.transit.sign_data(
        name=target.sign_key, hash_input=b64(message), hash_algorithm="sha2-512"
    )["data"]["signature"]

    verified = manage_keys.secrets.transit.verify_signed_data(
        name=target.sign_key,
        hash_input=b64(message),
        signature=signature,
        hash_algorithm="sha2-256",
    )["data"]

    assert verified["valid"] is False


def test_cryptography_oracle_rejects_a_signature_over_other_input(
    manage_keys, target, signature_oracle
):
    key = read_sign_key(manage_keys, target)
    signature = manage_keys.secrets.transit.sign_data(
        name=target.sign_key, hash_input=b64(b"original\n"), hash_algorithm="sha2-256"
    )["data"]["signature"]
    pem = key["keys"][str(key["latest_version"])]["public_key"]

    with pytest.raises(InvalidSignature):
        signature_oracle(pem, signature, b"forged\n", "sha2-256")


def test_signature_after_rotation_uses_the_new_version_and_not_the_old_public_key(
    manage_keys, target, signature_oracle
):
    manage_keys.secrets.transit.rotate_key(name=target.sign_key)
    key = read_sign_key(manage_keys, target)
    latest = key["latest_version"]
    message = b"after rotation\n"

    signature = manage_keys.secrets.transit.sign_data(
        name=target.sign_key, hash_input=b64(message), hash_algorithm="sha2-256"
    )["data"]["signature"]

    assert version_of(signature) == latest
    signature_oracle(key["keys"][str(latest)]["public_key"], signature, message, "sha2-256")
    with pytest.raises(InvalidSignature):
        signature_oracle(
            key["keys"][str(latest - 1)]["public_key"], signature, message, "sha2-256"
        )


def test_signature_made_before_a_rotation_still_verifies_after_it(manage_keys, target):
    message = b"signed before rotation\n"
    signature = manage_keys.secrets.transit.sign_data(
        name=target.sign_key, hash_input=b64(message), hash_algorithm="sha2-384"
    )["data"]["signature"]
    old_version = version_of(signature)

    manage_keys.secrets.transit.rotate_key(name=target.sign_key)

    assert read_sign_key(manage_keys, target)["latest_version"] == old_version + 1
    verified = manage_keys.secrets.transit.verify_signed_data(
        name=target.sign_key,
        hash_input=b64(message),
        signature=signature,
        hash_algorithm="sha2-384",
    )["data"]
    assert verified["valid"] is True


# --- app_encryption ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    [secret_line(), b"\x00\xff binary \xc3\x28 bytes\r\n"],
    ids=["text-line", "binary"],
)
def test_encrypt_then_decrypt_returns_the_identical_bytes(app_encryption, target, plaintext):
    encrypted = app_encryption.secrets.transit.encrypt_data(
        name=target.encrypt_key, plaintext=b64(plaintext)
    )["data"]
    ciphertext = encrypted["ciphertext"]
    assert ciphertext.startswith("vault:v")
    assert b64(plaintext) not in ciphertext

    decrypted = app_encryption.secrets.transit.decrypt_data(
        name=target.encrypt_key, ciphertext=ciphertext
    )["data"]

    assert base64.b64decode(decrypted["plaintext"]) == plaintext


def test_encrypting_the_same_plaintext_twice_gives_different_ciphertexts(
    app_encryption, target
):
    plaintext = b64(secret_line())

    first, second = (
        app_encryption.secrets.transit.encrypt_data(name=target.encrypt_key, plaintext=plaintext)[
            "data"
        ]["ciphertext"]
        for _ in range(2)
    )

    assert first != second


def test_decrypt_of_a_tampered_ciphertext_is_rejected_with_400(app_encryption, target):
    ciphertext = app_encryption.secrets.transit.encrypt_data(
        name=target.encrypt_key, plaintext=b64(secret_line())
    )["data"]["ciphertext"]
    prefix, _, body = ciphertext.rpartition(":")
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 0x01
    tampered = f"{prefix}:{b64(bytes(raw))}"

    with pytest.raises(hvac.exceptions.InvalidRequest):
        app_encryption.secrets.transit.decrypt_data(name=target.encrypt_key, ciphertext=tampered)


def test_rewrap_gives_a_new_ciphertext_at_the_latest_version_that_still_decrypts(
    app_encryption, target
):
    plaintext = secret_line()
    ciphertext = app_encryption.secrets.transit.encrypt_data(
        name=target.encrypt_key, plaintext=b64(plaintext)
    )["data"]["ciphertext"]
    # Encrypt always uses the latest version; nothing here can rotate app-data.
    latest = version_of(ciphertext)

    rewrapped = app_encryption.secrets.transit.rewrap_data(
        name=target.encrypt_key, ciphertext=ciphertext
    )["data"]["ciphertext"]

    assert rewrapped.startswith(f"vault:v{latest}:")
    assert rewrapped != ciphertext
    decrypted = app_encryption.secrets.transit.decrypt_data(
        name=target.encrypt_key, ciphertext=rewrapped
    )["data"]
    assert base64.b64decode(decrypted["plaintext"]) == plaintext


# --- denial -----------------------------------------------------------------------------

# Each: (endpoint id, what it tries, the call). None of these is in the endpoint's policies.
DENIED = [
    ("app_encryption", "rotate app-data", lambda t, c: c.rotate_key(name=t.encrypt_key)),
    ("app_encryption", "read app-data", lambda t, c: c.read_key(name=t.encrypt_key)),
    (
        "app_encryption",
        "sign",
        lambda t, c: c.sign_data(name=t.sign_key, hash_input=b64(b"x"), hash_algorithm="sha2-256"),
    ),
    ("app_encryption", "read vault-sign", lambda t, c: c.read_key(name=t.sign_key)),
    (
        "signer_only",
        "verify",
        lambda t, c: c.verify_signed_data(
            name=t.sign_key,
            hash_input=b64(b"x"),
            signature=DUMMY_SIGNATURE,
            hash_algorithm="sha2-256",
        ),
    ),
    ("signer_only", "read vault-sign", lambda t, c: c.read_key(name=t.sign_key)),
    ("signer_only", "rotate vault-sign", lambda t, c: c.rotate_key(name=t.sign_key)),
    (
        "signer_only",
        "encrypt",
        lambda t, c: c.encrypt_data(name=t.encrypt_key, plaintext=b64(b"x\n")),
    ),
    (
        "manage_keys",
        "encrypt",
        lambda t, c: c.encrypt_data(name=t.encrypt_key, plaintext=b64(b"x\n")),
    ),
    (
        "manage_keys",
        "decrypt",
        lambda t, c: c.decrypt_data(
            name=t.encrypt_key, ciphertext="vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ),
    ),
    ("manage_keys", "read app-data", lambda t, c: c.read_key(name=t.encrypt_key)),
    ("manage_keys", "rotate app-data", lambda t, c: c.rotate_key(name=t.encrypt_key)),
]


@pytest.mark.parametrize(
    "endpoint, call",
    [(endpoint, call) for endpoint, _, call in DENIED],
    ids=[f"{endpoint}-{what.replace(' ', '-')}" for endpoint, what, _ in DENIED],
)
def test_operation_outside_the_endpoint_policies_is_forbidden(client, target, endpoint, call):
    with pytest.raises(hvac.exceptions.Forbidden):
        call(target, client(endpoint).secrets.transit)


@pytest.mark.parametrize("endpoint", ["manage_keys", "app_encryption", "signer_only"])
def test_listing_keys_is_forbidden_for_every_endpoint(client, target, endpoint):
    with pytest.raises(hvac.exceptions.Forbidden):
        client(endpoint).secrets.transit.list_keys()


def test_decrypt_with_app_data_ciphertext_is_forbidden_for_the_signer(
    app_encryption, signer_only, target
):
    ciphertext = app_encryption.secrets.transit.encrypt_data(
        name=target.encrypt_key, plaintext=b64(secret_line())
    )["data"]["ciphertext"]

    with pytest.raises(hvac.exceptions.Forbidden):
        signer_only.secrets.transit.decrypt_data(name=target.encrypt_key, ciphertext=ciphertext)


# --- tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["manage_keys", "app_encryption", "signer_only"])
def test_lookup_self_reports_a_ttl_of_about_a_year_and_some_policies(client, endpoint):
    data = client(endpoint).auth.token.lookup_self()["data"]

    assert data["ttl"] > ONE_YEAR_MINUS_A_DAY_SECONDS
    assert isinstance(data["policies"], list) and data["policies"]


@pytest.mark.parametrize("endpoint", ["manage_keys", "app_encryption", "signer_only"])
def test_is_authenticated_is_true_for_an_endpoint_token(client, endpoint):
    assert client(endpoint).is_authenticated() is True


def test_is_authenticated_is_false_for_a_bogus_token(target):
    bogus = hvac.Client(url=target.addr, token="not-a-real-token-0000", timeout=30)

    assert bogus.is_authenticated() is False


def test_bogus_token_cannot_sign(target):
    bogus = hvac.Client(url=target.addr, token="not-a-real-token-0000", timeout=30)

    with pytest.raises(hvac.exceptions.Forbidden):
        bogus.secrets.transit.sign_data(
            name=target.sign_key, hash_input=b64(b"x"), hash_algorithm="sha2-256"
        )
