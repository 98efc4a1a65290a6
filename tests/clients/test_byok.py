"""Bring your own key across servers: the same key material, wrapped with Python's
`cryptography` for each server's own wrapping key, is imported into OpenBao and into
vault-kms; then what one server produces, the other must accept.

Both servers run in dev mode, started as the conformance harness starts them
(`tests/conformance/harness/servers.py`). With `--target openbao` the second server is
another OpenBao, which proves the test itself right.
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "conformance"))

from harness.servers import ROOT_TOKEN, start_openbao, start_vault_kms  # noqa: E402

OAEP_HASHES = {
    "SHA1": hashes.SHA1(),
    "SHA224": hashes.SHA224(),
    "SHA256": hashes.SHA256(),
    "SHA512": hashes.SHA512(),
}


class Transit:
    """The transit API of one server, with the root token."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.base = f"http://127.0.0.1:{port}/v1/transit/"
        self.session = requests.Session()
        self.session.headers["X-Vault-Token"] = ROOT_TOKEN
        answer = self.session.get(self.base + "wrapping_key", timeout=60)
        assert answer.status_code == 200, answer.text
        pem = answer.json()["data"]["public_key"].encode()
        self.wrapping_key = serialization.load_pem_public_key(pem)

    def post(self, path: str, body: dict) -> requests.Response:
        return self.session.post(self.base + path, json=body, timeout=60)

    def data(self, path: str, body: dict) -> dict:
        answer = self.post(path, body)
        assert answer.status_code == 200, f"{self.name} {path}: {answer.text}"
        return answer.json()["data"]

    def wrap(self, target: bytes, hash_name: str = "SHA256") -> str:
        """OAEP(ephemeral AES key) || KWP(ephemeral, target), base64 (spec 5.14)."""
        ephemeral = os.urandom(32)
        algorithm = OAEP_HASHES[hash_name]
        oaep = self.wrapping_key.encrypt(
            ephemeral,
            padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None),
        )
        return base64.b64encode(oaep + aes_key_wrap_with_padding(ephemeral, target)).decode()

    def import_key(self, name: str, target: bytes, **params) -> None:
        hash_name = params.get("hash_function", "SHA256")
        body = {"ciphertext": self.wrap(target, hash_name), **params}
        answer = self.post(f"keys/{name}/import", body)
        assert answer.status_code == 204, f"{self.name} import {name}: {answer.text}"


@pytest.fixture(scope="module")
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[Transit, Transit]]:
    binary = Path(os.environ.get("VAULT_KMS_BIN", REPO_ROOT / "target/debug/vault-kms"))
    with tempfile.TemporaryDirectory(prefix="vault-kms-byok-") as temporary:
        workdir = Path(temporary)
        openbao = start_openbao("openbao", workdir)
        try:
            if request.config.getoption("--target") == "openbao":
                other = start_openbao("openbao-2", workdir)
            else:
                other = start_vault_kms(binary.resolve(), workdir)
            try:
                yield Transit("openbao", openbao.port), Transit(other.name, other.port)
            finally:
                other.stop()
        finally:
            openbao.stop()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pkcs8(private_key) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def both_import(servers, name: str, target: bytes, **params) -> None:
    for server in servers:
        server.import_key(name, target, **params)


@pytest.mark.parametrize(
    ("key_type", "size", "hash_name"),
    [
        ("aes256-gcm96", 32, "SHA256"),
        ("aes128-gcm96", 16, "SHA1"),
        ("chacha20-poly1305", 32, "SHA512"),
        ("aes256-gcm96", 32, "SHA224"),
    ],
)
def test_ciphertexts_of_each_server_decrypt_in_the_other(servers, key_type, size, hash_name):
    name = f"byok-{key_type}-{hash_name}"
    both_import(servers, name, os.urandom(size), type=key_type, hash_function=hash_name)
    plaintext = b64(b"the same key in two servers")
    for source, sink in (servers, servers[::-1]):
        ciphertext = source.data(f"encrypt/{name}", {"plaintext": plaintext})["ciphertext"]
        opened = sink.data(f"decrypt/{name}", {"ciphertext": ciphertext})
        assert opened["plaintext"] == plaintext, f"{source.name} -> {sink.name}"


@pytest.mark.parametrize(("key_type", "size"), [("aes256-gcm96", 32), ("aes128-gcm96", 16)])
def test_derived_keys_agree_on_the_context_key(servers, key_type, size):
    # Imported derived keys use OpenBao's counter-mode KDF, not HKDF.
    name = f"byok-derived-{key_type}"
    both_import(servers, name, os.urandom(size), derived=True, type=key_type)
    reads = [s.session.get(s.base + f"keys/{name}", timeout=60).json()["data"] for s in servers]
    assert reads[0]["kdf"] == reads[1]["kdf"] == "hmac-sha256-counter"
    assert reads[0]["kdf_mode"] == reads[1]["kdf_mode"]
    plaintext, context = b64(b"per tenant"), b64(b"tenant-42")
    for source, sink in (servers, servers[::-1]):
        sealed = source.data(f"encrypt/{name}", {"plaintext": plaintext, "context": context})
        body = {"ciphertext": sealed["ciphertext"], "context": context}
        if size != 32:
            # OpenBao encrypts with a 16-byte counter-KDF key but refuses to decrypt.
            refused = sink.post(f"decrypt/{name}", body)
            assert refused.status_code == 500, refused.text
            assert "could not derive enc key, length not correct" in refused.text
            continue
        assert sink.data(f"decrypt/{name}", body)["plaintext"] == plaintext
        wrong = sink.post(f"decrypt/{name}", {**body, "context": b64(b"tenant-43")})
        assert wrong.status_code == 400, wrong.text


def test_convergent_import_is_refused_the_same_way_by_both(servers):
    # OpenBao refuses convergent encryption on import, so identical convergent
    # ciphertexts from imported keys cannot be had from either server.
    answers = [
        server.post(
            "keys/byok-convergent/import",
            {
                "ciphertext": server.wrap(os.urandom(32)),
                "derived": True,
                "convergent_encryption": True,
            },
        )
        for server in servers
    ]
    assert [a.status_code for a in answers] == [500, 500]
    assert answers[0].json() == answers[1].json()
    assert "convergent encryption" in answers[0].text


def test_hmacs_of_an_imported_hmac_key_are_identical(servers):
    both_import(servers, "byok-hmac", os.urandom(64), type="hmac")
    body = {"input": b64(b"authenticate me")}
    hmacs = [server.data("hmac/byok-hmac/sha2-512", body)["hmac"] for server in servers]
    assert hmacs[0] == hmacs[1]
    verified = servers[1].data("verify/byok-hmac/sha2-512", {**body, "hmac": hmacs[0]})
    assert verified["valid"] is True


@pytest.mark.parametrize(
    ("key_type", "make_key", "params", "deterministic"),
    [
        ("ecdsa-p256", lambda: ec.generate_private_key(ec.SECP256R1()), {}, False),
        ("ecdsa-p384", lambda: ec.generate_private_key(ec.SECP384R1()), {}, False),
        ("ed25519", ed25519.Ed25519PrivateKey.generate, {}, True),
        ("ecdsa-p521", lambda: ec.generate_private_key(ec.SECP521R1()), {"marshaling_algorithm": "jws"}, False),
    ],
)
def test_signatures_of_each_server_verify_in_the_other(
    servers, key_type, make_key, params, deterministic
):
    name = f"byok-{key_type}"
    both_import(servers, name, pkcs8(make_key()), type=key_type)
    body = {"input": b64(b"signed by either"), **params}
    signatures = [server.data(f"sign/{name}", body)["signature"] for server in servers]
    for signature, verifier in zip(signatures, servers[::-1], strict=True):
        verified = verifier.data(f"verify/{name}", {**body, "signature": signature})
        assert verified["valid"] is True, f"{verifier.name}: {signature}"
    if deterministic:
        assert signatures[0] == signatures[1]


def test_an_imported_rsa_key_decrypts_what_the_other_server_encrypts(servers):
    both_import(
        servers,
        "byok-rsa",
        pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        type="rsa-2048",
    )
    plaintext = b64(b"sealed to the same RSA key")
    for source, sink in (servers, servers[::-1]):
        ciphertext = source.data("encrypt/byok-rsa", {"plaintext": plaintext})["ciphertext"]
        assert sink.data("decrypt/byok-rsa", {"ciphertext": ciphertext})["plaintext"] == plaintext


@pytest.fixture(scope="module")
def rsa_other_hashes(servers) -> str:
    """One RSA key in both servers, wrapped with OAEP SHA-224 for the import."""
    name = "byok-rsa-other-hashes"
    key = pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    both_import(servers, name, key, type="rsa-2048", hash_function="SHA224")
    return name


@pytest.mark.parametrize(
    "hash_name", ["sha1", "sha2-224", "sha3-224", "sha3-256", "sha3-384", "sha3-512"]
)
def test_rsa_signatures_over_the_other_hashes_verify_in_the_other_server(
    servers, rsa_other_hashes, hash_name
):
    # PKCS #1 v1.5 is deterministic, so both servers must make the very same signature.
    name = rsa_other_hashes
    input_ = b64(b"signed over another hash")
    for options in ({}, {"salt_length": "hash"}, {"signature_algorithm": "pkcs1v15"}):
        body = {"input": input_, "hash_algorithm": hash_name, **options}
        signatures = [server.data(f"sign/{name}", body)["signature"] for server in servers]
        for signature, verifier in zip(signatures, servers[::-1], strict=True):
            verified = verifier.data(f"verify/{name}", {**body, "signature": signature})
            assert verified["valid"] is True, f"{verifier.name} {options}: {signature}"
        if options.get("signature_algorithm") == "pkcs1v15":
            assert signatures[0] == signatures[1]
    unhashed = {"input": input_, "prehashed": True, "signature_algorithm": "pkcs1v15"}
    signatures = [server.data(f"sign/{name}/none", unhashed)["signature"] for server in servers]
    assert signatures[0] == signatures[1]
