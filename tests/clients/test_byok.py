"""Bring your own key across servers: the same key material, wrapped with Python's
`cryptography` for each server's own wrapping key, is imported into OpenBao and into
vault-kms; then what one server produces, the other must accept. Public keys imported
alone must verify the same signatures in both, and their backups must move across.

Both servers run in dev mode, started as the conformance harness starts them
(`tests/conformance/harness/servers.py`). With `--target openbao` the second server is
another OpenBao, which proves the test itself right.
"""

from __future__ import annotations

import base64
import json
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


def public_pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign_outside(key_type: str, private_key, message: bytes) -> list[tuple[dict, bytes]]:
    """Signatures made by `cryptography`, each with the verify options it needs."""
    if key_type == "ed25519":
        return [({}, private_key.sign(message))]
    if key_type.startswith("rsa-"):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return [
            ({"salt_length": "hash"}, private_key.sign(message, pss, hashes.SHA256())),
            ({}, private_key.sign(message, pss, hashes.SHA256())),
            (
                {"signature_algorithm": "pkcs1v15"},
                private_key.sign(message, padding.PKCS1v15(), hashes.SHA256()),
            ),
        ]
    return [({}, private_key.sign(message, ec.ECDSA(hashes.SHA256())))]


PUBLIC_KEY_TYPES = [
    ("ecdsa-p256", lambda: ec.generate_private_key(ec.SECP256R1())),
    ("ecdsa-p384", lambda: ec.generate_private_key(ec.SECP384R1())),
    ("ecdsa-p521", lambda: ec.generate_private_key(ec.SECP521R1())),
    ("ed25519", ed25519.Ed25519PrivateKey.generate),
    ("rsa-2048", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
]


@pytest.mark.parametrize(("key_type", "make_key"), PUBLIC_KEY_TYPES)
def test_a_public_key_imported_alone_verifies_the_same_signatures_in_both(
    servers, key_type, make_key
):
    name = f"byok-public-{key_type}"
    private_key = make_key()
    for server in servers:
        answer = server.post(
            f"keys/{name}/import", {"type": key_type, "public_key": public_pem(private_key)}
        )
        assert answer.status_code == 204, f"{server.name}: {answer.text}"

    message = b"signed where the private key lives"
    hash_path = "" if key_type == "ed25519" else "/sha2-256"
    for options, signature in sign_outside(key_type, private_key, message):
        for input_, tampered in ((message, signature), (b"another message", signature)):
            body = {
                "input": b64(input_),
                "signature": "vault:v1:" + b64(tampered),
                **options,
            }
            verdicts = [
                server.data(f"verify/{name}{hash_path}", body)["valid"] for server in servers
            ]
            assert verdicts[0] == verdicts[1] == (input_ == message), (options, verdicts)

    refusals = [server.post(f"sign/{name}", {"input": b64(message)}) for server in servers]
    assert [r.status_code for r in refusals] == [500, 500]
    assert refusals[0].json() == refusals[1].json()
    reads = [
        server.session.get(server.base + f"keys/{name}", timeout=60).json()["data"]
        for server in servers
    ]
    assert reads[0]["keys"]["1"]["public_key"] == reads[1]["keys"]["1"]["public_key"]
    exports = [
        server.session.get(server.base + f"export/public-key/{name}/1", timeout=60).json()
        for server in servers
    ]
    assert exports[0]["data"]["keys"] == exports[1]["data"]["keys"]


@pytest.mark.parametrize(("key_type", "make_key"), PUBLIC_KEY_TYPES[::2] + PUBLIC_KEY_TYPES[3:4])
def test_backups_of_public_only_keys_restore_in_the_other_server(servers, key_type, make_key):
    name = f"byok-public-backup-{key_type}"
    private_key = make_key()
    for server in servers:
        body = {
            "type": key_type,
            "public_key": public_pem(private_key),
            "exportable": True,
            "allow_plaintext_backup": True,
        }
        assert server.post(f"keys/{name}/import", body).status_code == 204

    message = b"verified after a move"
    options, signature = sign_outside(key_type, private_key, message)[0]
    hash_path = "" if key_type == "ed25519" else "/sha2-256"
    body = {"input": b64(message), "signature": "vault:v1:" + b64(signature), **options}
    for source, sink in (servers, servers[::-1]):
        backup = source.session.get(source.base + f"backup/{name}", timeout=60).json()["data"]
        copy = f"{name}-from-{source.name}"
        restored = sink.post(f"restore/{copy}", {"backup": backup["backup"]})
        assert restored.status_code == 204, f"{source.name} -> {sink.name}: {restored.text}"
        assert sink.data(f"verify/{copy}{hash_path}", body)["valid"] is True
        refused = sink.post(f"sign/{copy}", {"input": b64(message)})
        assert "does not contain a private part" in refused.text, refused.text
        # The restored key backs up again into the same version entry.
        again = sink.session.get(sink.base + f"backup/{copy}", timeout=60).json()["data"]
        entry = lambda blob: json.loads(base64.b64decode(blob))["policy"]["keys"]["1"]  # noqa: E731
        first, second = entry(backup["backup"]), entry(again["backup"])
        for field in ("key", "ec_x", "ec_y", "ec_d", "rsa_key", "rsa_public_key", "public_key"):
            assert first[field] == second[field], (source.name, sink.name, field)


@pytest.mark.parametrize(("key_type", "make_key"), PUBLIC_KEY_TYPES[:1] + PUBLIC_KEY_TYPES[3:])
def test_import_version_completes_a_public_only_version_in_both(servers, key_type, make_key):
    name = f"byok-public-complete-{key_type}"
    private_key = make_key()
    for server in servers:
        answer = server.post(
            f"keys/{name}/import", {"type": key_type, "public_key": public_pem(private_key)}
        )
        assert answer.status_code == 204, answer.text
        body = {"ciphertext": server.wrap(pkcs8(private_key)), "version": 1}
        answer = server.post(f"keys/{name}/import_version", body)
        assert answer.status_code == 204, f"{server.name}: {answer.text}"
    hash_path = "" if key_type == "ed25519" else "/sha2-256"
    body = {"input": b64(b"signed by either now")}
    signatures = [server.data(f"sign/{name}{hash_path}", body)["signature"] for server in servers]
    for signature, verifier in zip(signatures, servers[::-1], strict=True):
        assert signature.startswith("vault:v1:")
        verified = verifier.data(f"verify/{name}{hash_path}", {**body, "signature": signature})
        assert verified["valid"] is True, f"{verifier.name}: {signature}"


# A private key of another type for a public-only version: OpenBao 2.7.2 crashes the
# request on an RSA key given to an ECDSA or Ed25519 version (docs/compat.md), so
# those pairs are left out here.
FILL_IN_PAIRS = [
    (entry, given)
    for entry in ("ecdsa-p256", "ed25519", "rsa-2048")
    for given in ("ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048")
    if not (given == "rsa-2048" and entry != "rsa-2048")
]


@pytest.mark.parametrize("with_version", [True, False])
def test_private_halves_for_public_only_versions_are_judged_alike(servers, with_version):
    makers = dict(PUBLIC_KEY_TYPES)
    keys = {key_type: makers[key_type]() for key_type in ("ecdsa-p256", "ecdsa-p384", "ed25519")}
    keys["rsa-2048"] = makers["rsa-2048"]()
    for entry, given in FILL_IN_PAIRS:
        name = f"byok-fill-{entry}-{given}-{with_version}"
        answers = []
        for server in servers:
            body = {"type": entry, "public_key": public_pem(keys[entry])}
            assert server.post(f"keys/{name}/import", body).status_code == 204
            body = {"ciphertext": server.wrap(pkcs8(keys[given]))}
            if with_version:
                body["version"] = 1
            answer = server.post(f"keys/{name}/import_version", body)
            read = server.session.get(server.base + f"keys/{name}", timeout=60).json()["data"]
            answers.append((answer.status_code, answer.text, read["latest_version"]))
        assert answers[0] == answers[1], (entry, given, answers)
        # The matching key completes version 1 instead of adding a version.
        if entry == given:
            assert answers[0][0] == 204 and answers[0][2] == 1
