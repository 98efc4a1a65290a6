"""Every signature vault-kms makes, checked by libraries that were never written for Vault.

A vault-kms dev server (in memory, root token) creates one key of each signing type.
For every key type and option (every hash, SHA-1, SHA-2 and SHA-3, PSS salt length,
PKCS #1 v1.5 with and without a digest, JWS marshaling, prehashed input) the server signs, and Python's `cryptography` verifies the signature
with the public key from `GET keys/:name` alone. Changed inputs must fail there too, so
a verifier that accepted anything would be caught. An ES256 JWT whose signature the
server made with `marshaling_algorithm=jws` is accepted by PyJWT. The other way round,
signatures `cryptography` makes with its own keys verify in the server once those keys
are imported through Vault's BYOK wrapping.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "conformance"))

from harness.servers import ROOT_TOKEN, Server, start_vault_kms  # noqa: E402

HASHES = {
    "sha1": hashes.SHA1,
    "sha2-224": hashes.SHA224,
    "sha2-256": hashes.SHA256,
    "sha2-384": hashes.SHA384,
    "sha2-512": hashes.SHA512,
    "sha3-224": hashes.SHA3_224,
    "sha3-256": hashes.SHA3_256,
    "sha3-384": hashes.SHA3_384,
    "sha3-512": hashes.SHA3_512,
}
MESSAGE = b"a payload signed by vault-kms"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = Path(os.environ.get("VAULT_KMS_BIN", REPO_ROOT / "target/debug/vault-kms"))
    server = start_vault_kms(binary, tmp_path_factory.mktemp("signature-oracle"))
    yield server
    server.stop()


def call(server: Server, method: str, path: str, body: dict | None = None) -> dict:
    raw = None if body is None else json.dumps(body).encode()
    answer = server.request(method, path, raw, {"X-Vault-Token": ROOT_TOKEN})
    assert 200 <= answer.status < 300, f"{method} {path}: {answer.status} {answer.text}"
    return json.loads(answer.text) if answer.text else {}


def make_key(server: Server, name: str, key_type: str):
    """Creates `name` of `key_type` and loads its public key from the key read."""
    call(server, "POST", f"transit/keys/{name}", {"type": key_type})
    public = call(server, "GET", f"transit/keys/{name}")["data"]["keys"]["1"]["public_key"]
    if key_type == "ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(public))
    return serialization.load_pem_public_key(public.encode())


def sign(server: Server, name: str, body: dict) -> bytes:
    """Signs and returns the raw signature bytes after `vault:v1:`."""
    signature = call(server, "POST", f"transit/sign/{name}", body)["data"]["signature"]
    prefix, version, payload = signature.split(":", 2)
    assert (prefix, version) == ("vault", "v1")
    if body.get("marshaling_algorithm") == "jws":
        assert "=" not in payload and "+" not in payload and "/" not in payload
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return base64.b64decode(payload)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def assert_verifies(check, message: bytes) -> None:
    """`check(message)` must pass, and fail for a changed message."""
    check(message)
    with pytest.raises(InvalidSignature):
        check(message + b"!")


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ecdsa-p384", "ecdsa-p521"])
@pytest.mark.parametrize("hash_name", sorted(HASHES))
@pytest.mark.parametrize("marshaling", ["asn1", "jws"])
def test_ecdsa_signatures_verify_in_cryptography(server, key_type, hash_name, marshaling):
    name = f"ec-{key_type}-{hash_name}-{marshaling}"
    public = make_key(server, name, key_type)
    raw = sign(
        server,
        name,
        {"input": b64(MESSAGE), "hash_algorithm": hash_name, "marshaling_algorithm": marshaling},
    )
    if marshaling == "jws":
        # JWS is r || s, each the size of the curve's coordinates (RFC 7518 §3.4).
        size = (public.curve.key_size + 7) // 8
        assert len(raw) == 2 * size
        raw = utils.encode_dss_signature(
            int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
        )
    algorithm = ec.ECDSA(HASHES[hash_name]())
    assert_verifies(lambda m: public.verify(raw, m, algorithm), MESSAGE)


def test_prehashed_ecdsa_signatures_verify_over_the_given_digest(server):
    public = make_key(server, "ec-prehashed", "ecdsa-p256")
    digest = hashlib.sha256(MESSAGE).digest()
    raw = sign(server, "ec-prehashed", {"input": b64(digest), "prehashed": True})
    algorithm = ec.ECDSA(utils.Prehashed(hashes.SHA256()))

    public.verify(raw, digest, algorithm)
    with pytest.raises(InvalidSignature):
        public.verify(raw, hashlib.sha256(b"other").digest(), algorithm)


def test_ed25519_signatures_verify_in_cryptography(server):
    public = make_key(server, "ed", "ed25519")
    raw = sign(server, "ed", {"input": b64(MESSAGE)})

    assert len(raw) == 64
    assert_verifies(lambda m: public.verify(raw, m), MESSAGE)


def test_derived_ed25519_signatures_verify_under_the_contexts_public_key(server):
    call(server, "POST", "transit/keys/ed-derived", {"type": "ed25519", "derived": True})
    for context in (b"tenant-1", b"tenant-2"):
        read = call(server, "GET", f"transit/keys/ed-derived?context={b64(context)}")
        public_b64 = read["data"]["keys"]["1"]["public_key"]
        public = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))
        answer = call(
            server, "POST", "transit/sign/ed-derived", {"input": b64(MESSAGE), "context": b64(context)}
        )["data"]
        raw = base64.b64decode(answer["signature"].split(":", 2)[2])

        assert answer["public_key"] == public_b64
        assert_verifies(lambda m: public.verify(raw, m), MESSAGE)
    # Each context has its own key.
    one = call(server, "GET", f"transit/keys/ed-derived?context={b64(b'tenant-1')}")
    two = call(server, "GET", f"transit/keys/ed-derived?context={b64(b'tenant-2')}")
    assert one["data"]["keys"]["1"]["public_key"] != two["data"]["keys"]["1"]["public_key"]


RSA_SCHEMES = [
    # (body options, cryptography padding for a key and hash)
    ({}, lambda key, h: padding.PSS(padding.MGF1(h()), padding.PSS.MAX_LENGTH)),
    ({"salt_length": "hash"}, lambda key, h: padding.PSS(padding.MGF1(h()), h.digest_size)),
    ({"salt_length": "20"}, lambda key, h: padding.PSS(padding.MGF1(h()), 20)),
    ({"signature_algorithm": "pkcs1v15"}, lambda key, h: padding.PKCS1v15()),
]


@pytest.mark.parametrize("bits", [2048, 3072, 4096])
@pytest.mark.parametrize("hash_name", sorted(HASHES))
@pytest.mark.parametrize("scheme", range(len(RSA_SCHEMES)))
def test_rsa_signatures_verify_in_cryptography(server, bits, hash_name, scheme):
    # One key per size is enough; key generation is the slow part.
    public = shared_rsa_key(server, bits)
    name = f"rsa-{bits}-shared"
    options, make_padding = RSA_SCHEMES[scheme]
    raw = sign(server, name, {"input": b64(MESSAGE), "hash_algorithm": hash_name, **options})
    hash_class = HASHES[hash_name]

    assert len(raw) == bits // 8
    assert_verifies(
        lambda m: public.verify(raw, m, make_padding(public, hash_class), hash_class()), MESSAGE
    )


_shared_rsa: dict[int, rsa.RSAPublicKey] = {}


def shared_rsa_key(server: Server, bits: int) -> rsa.RSAPublicKey:
    if bits not in _shared_rsa:
        _shared_rsa[bits] = make_key(server, f"rsa-{bits}-shared", f"rsa-{bits}")
    return _shared_rsa[bits]


def test_verify_with_auto_salt_accepts_salts_the_server_never_picks(server):
    """Vault's `auto` verifies PSS signatures of any salt length; cryptography agrees."""
    public = shared_rsa_key(server, 2048)
    raw = sign(server, "rsa-2048-shared", {"input": b64(MESSAGE), "salt_length": "7"})
    for salt in ("auto", "7"):
        answer = call(
            server,
            "POST",
            "transit/verify/rsa-2048-shared",
            {"input": b64(MESSAGE), "signature": f"vault:v1:{b64(raw)}", "salt_length": salt},
        )
        assert answer["data"]["valid"] is True
    public.verify(raw, MESSAGE, padding.PSS(padding.MGF1(hashes.SHA256()), 7), hashes.SHA256())


@pytest.mark.parametrize("hash_name", sorted(HASHES))
@pytest.mark.parametrize("signature_algorithm", ["pss", "pkcs1v15"])
def test_prehashed_rsa_signatures_verify_over_the_given_digest(server, hash_name, signature_algorithm):
    public = shared_rsa_key(server, 2048)
    hash_class = HASHES[hash_name]
    digester = hashes.Hash(hash_class())
    digester.update(MESSAGE)
    digest = digester.finalize()
    raw = sign(
        server,
        "rsa-2048-shared",
        {
            "input": b64(digest),
            "hash_algorithm": hash_name,
            "prehashed": True,
            "signature_algorithm": signature_algorithm,
            "salt_length": "hash",
        },
    )
    if signature_algorithm == "pss":
        scheme = padding.PSS(padding.MGF1(hash_class()), hash_class.digest_size)
    else:
        scheme = padding.PKCS1v15()
    algorithm = utils.Prehashed(hash_class())

    public.verify(raw, digest, scheme, algorithm)
    with pytest.raises(InvalidSignature):
        public.verify(raw, bytes(len(digest)), scheme, algorithm)


def test_unhashed_pkcs1v15_signatures_pad_the_input_without_a_digest_info(server):
    """`hash_algorithm=none`: Go's SignPKCS1v15 with hash 0, the input padded as it is."""
    public = shared_rsa_key(server, 2048)
    unhashed = b"any bytes up to k - 11 long"
    raw = sign(
        server,
        "rsa-2048-shared/none",
        {"input": b64(unhashed), "prehashed": True, "signature_algorithm": "pkcs1v15"},
    )

    assert public.recover_data_from_signature(raw, padding.PKCS1v15(), None) == unhashed
    with pytest.raises(InvalidSignature):
        # The same bytes under SHA-256's DigestInfo are another signature.
        public.verify(raw, unhashed, padding.PKCS1v15(), hashes.SHA256())


def test_an_es256_jwt_signed_by_vault_kms_is_accepted_by_pyjwt(server):
    public = make_key(server, "jwt-signer", "ecdsa-p256")
    header = {"alg": "ES256", "typ": "JWT"}
    claims = {"sub": "app", "iss": "vault-kms-test"}

    def part(value: dict) -> str:
        text = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(text).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    answer = call(
        server,
        "POST",
        "transit/sign/jwt-signer/sha2-256",
        {"input": b64(signing_input.encode()), "marshaling_algorithm": "jws"},
    )
    token = f"{signing_input}.{answer['data']['signature'].split(':', 2)[2]}"
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    assert jwt.decode(token, pem, algorithms=["ES256"]) == claims
    forged = f"{part(header)}.{part({'sub': 'evil'})}.{token.rsplit('.', 1)[1]}"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, pem, algorithms=["ES256"])


# Signatures made by cryptography with its own keys, imported through BYOK
# (GET wrapping_key, POST keys/:name/import), verify in vault-kms.

def wrap_for_import(server: Server, material: bytes) -> str:
    """The `ciphertext` of an import: RSA-OAEP(SHA-256) of a fresh AES-256 key, then
    the material wrapped under that key with AES key wrap with padding (RFC 5649)."""
    answer = call(server, "GET", "transit/wrapping_key")
    wrapping = serialization.load_pem_public_key(answer["data"]["public_key"].encode())
    ephemeral = os.urandom(32)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    wrapped = wrapping.encrypt(ephemeral, oaep) + aes_key_wrap_with_padding(ephemeral, material)
    return b64(wrapped)


def import_private_key(server: Server, name: str, key_type: str, private_key) -> None:
    pkcs8 = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    call(
        server,
        "POST",
        f"transit/keys/{name}/import",
        {"type": key_type, "ciphertext": wrap_for_import(server, pkcs8)},
    )


def server_verifies(server: Server, name: str, signature: bytes, message: bytes, **options) -> bool:
    body = {"input": b64(message), "signature": f"vault:v1:{b64(signature)}", **options}
    return call(server, "POST", f"transit/verify/{name}", body)["data"]["valid"]


LIBRARY_SIGNERS = {
    "ecdsa-p256": (lambda: ec.generate_private_key(ec.SECP256R1()),
                   lambda key, m: key.sign(m, ec.ECDSA(hashes.SHA256())), {}),
    "ecdsa-p384": (lambda: ec.generate_private_key(ec.SECP384R1()),
                   lambda key, m: key.sign(m, ec.ECDSA(hashes.SHA384())),
                   {"hash_algorithm": "sha2-384"}),
    "ecdsa-p521": (lambda: ec.generate_private_key(ec.SECP521R1()),
                   lambda key, m: key.sign(m, ec.ECDSA(hashes.SHA512())),
                   {"hash_algorithm": "sha2-512"}),
    "ed25519": (ed25519.Ed25519PrivateKey.generate, lambda key, m: key.sign(m), {}),
    "rsa-2048": (lambda: rsa.generate_private_key(65537, 2048),
                 lambda key, m: key.sign(
                     m, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256()), {}),
    "rsa-3072": (lambda: rsa.generate_private_key(65537, 3072),
                 lambda key, m: key.sign(m, padding.PKCS1v15(), hashes.SHA384()),
                 {"hash_algorithm": "sha2-384", "signature_algorithm": "pkcs1v15"}),
}


@pytest.fixture(scope="module")
def library_rsa_key(server) -> rsa.RSAPrivateKey:
    """An RSA key of cryptography's, imported as `rsa-library`."""
    private_key = rsa.generate_private_key(65537, 2048)
    import_private_key(server, "rsa-library", "rsa-2048", private_key)
    return private_key


@pytest.mark.parametrize("hash_name", sorted(HASHES))
def test_rsa_signatures_made_by_cryptography_over_every_hash_verify_in_vault_kms(
    server, library_rsa_key, hash_name
):
    private_key = library_rsa_key
    hash_class = HASHES[hash_name]
    schemes = [
        (padding.PSS(padding.MGF1(hash_class()), padding.PSS.MAX_LENGTH), {}),
        (padding.PSS(padding.MGF1(hash_class()), 0), {}),
        (padding.PSS(padding.MGF1(hash_class()), 11), {"salt_length": "11"}),
        (padding.PKCS1v15(), {"signature_algorithm": "pkcs1v15"}),
    ]
    for scheme, options in schemes:
        signature = private_key.sign(MESSAGE, scheme, hash_class())
        options = {"hash_algorithm": hash_name, **options}
        assert server_verifies(server, "rsa-library", signature, MESSAGE, **options) is True
        assert server_verifies(server, "rsa-library", signature, MESSAGE + b"!", **options) is False


@pytest.mark.parametrize("key_type", sorted(LIBRARY_SIGNERS))
def test_signatures_made_by_cryptography_verify_in_vault_kms_after_import(server, key_type):
    generate, sign_with, options = LIBRARY_SIGNERS[key_type]
    private_key = generate()
    name = f"imported-{key_type}"
    import_private_key(server, name, key_type, private_key)
    signature = sign_with(private_key, MESSAGE)

    assert server_verifies(server, name, signature, MESSAGE, **options) is True
    assert server_verifies(server, name, signature, MESSAGE + b"!", **options) is False
