"""Two-way migration through Vault's backup blob: OpenBao -> vault-kms -> OpenBao.

For every key type (and a derived and a convergent key) the key is made in a real
OpenBao, rotated and used there; its backup is restored into vault-kms, which must
decrypt and verify everything OpenBao produced (and reproduce convergent ciphertexts
byte for byte). vault-kms then rotates the key and produces new outputs; its own backup
is restored into OpenBao, which must decrypt and verify the old and the new outputs.
The servers are started with the conformance harness (tests/conformance/harness).
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "conformance"))

from harness import servers  # noqa: E402

HEADERS = {"X-Vault-Token": servers.ROOT_TOKEN}
PLAINTEXT = base64.b64encode(b"migrated through a backup blob").decode()
CONTEXT = base64.b64encode(b"tenant-7").decode()


@dataclass
class Spec:
    name: str
    key_type: str
    create: dict = field(default_factory=dict)

    @property
    def encrypts(self) -> bool:
        return not self.key_type.startswith(("ecdsa", "ed25519", "hmac"))

    @property
    def signs(self) -> bool:
        return self.key_type.startswith(("ecdsa", "ed25519", "rsa"))

    @property
    def convergent(self) -> bool:
        return bool(self.create.get("convergent_encryption"))

    @property
    def context(self) -> dict:
        return {"context": CONTEXT} if self.create.get("derived") else {}


SPECS = [
    Spec("m-aes128", "aes128-gcm96"),
    Spec("m-aes256", "aes256-gcm96"),
    Spec("m-chacha", "chacha20-poly1305"),
    Spec("m-rsa2048", "rsa-2048"),
    Spec("m-rsa3072", "rsa-3072"),
    Spec("m-rsa4096", "rsa-4096"),
    Spec("m-p256", "ecdsa-p256"),
    Spec("m-p384", "ecdsa-p384"),
    Spec("m-p521", "ecdsa-p521"),
    Spec("m-ed25519", "ed25519"),
    Spec("m-hmac", "hmac", {"key_size": 48}),
    Spec("m-derived", "aes256-gcm96", {"derived": True}),
    Spec("m-convergent", "chacha20-poly1305", {"derived": True, "convergent_encryption": True}),
]


class Transit:
    """The transit API of one running server."""

    def __init__(self, server: servers.Server) -> None:
        self.base = f"http://127.0.0.1:{server.port}/v1/transit"

    def call(self, method: str, path: str, body: dict | None = None, status: int = 200):
        answer = requests.request(
            method, f"{self.base}/{path}", json=body, headers=HEADERS, timeout=120
        )
        assert answer.status_code == status, (method, path, answer.status_code, answer.text)
        return answer.json()["data"] if answer.content else None

    def outputs(self, spec: Spec, name: str, version: int) -> list[tuple[str, dict]]:
        """Ciphertexts, signatures and HMACs made with `version`: (verb, request)."""
        made: list[tuple[str, dict]] = []
        if spec.encrypts:
            body = {"plaintext": PLAINTEXT, "key_version": version, **spec.context}
            ciphertext = self.call("POST", f"encrypt/{name}", body)["ciphertext"]
            made.append(("decrypt", {"ciphertext": ciphertext, **spec.context}))
        if spec.signs:
            body = {"input": PLAINTEXT, "key_version": version}
            signature = self.call("POST", f"sign/{name}", body)["signature"]
            made.append(("verify", {"input": PLAINTEXT, "signature": signature}))
        body = {"input": PLAINTEXT, "key_version": version}
        mac = self.call("POST", f"hmac/{name}", body)["hmac"]
        made.append(("verify", {"input": PLAINTEXT, "hmac": mac}))
        return made

    def check(self, name: str, outputs: list[tuple[str, dict]]) -> None:
        for verb, body in outputs:
            data = self.call("POST", f"{verb}/{name}", body)
            if verb == "decrypt":
                assert data["plaintext"] == PLAINTEXT, (name, body)
            else:
                assert data["valid"] is True, (name, body)

    def backup(self, name: str) -> str:
        return self.call("GET", f"backup/{name}")["backup"]

    def restore(self, name: str, blob: str) -> None:
        self.call("POST", f"restore/{name}", {"backup": blob}, status=204)


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Transit, Transit]]:
    binary = Path(os.environ.get("VAULT_KMS_BIN", REPO_ROOT / "target/debug/vault-kms"))
    with tempfile.TemporaryDirectory(prefix="vault-kms-migration-") as temporary:
        workdir = Path(temporary)
        openbao = servers.start_openbao("openbao", workdir)
        try:
            vault_kms = servers.start_vault_kms(binary, workdir)
            try:
                yield Transit(openbao), Transit(vault_kms)
            finally:
                vault_kms.stop()
        finally:
            openbao.stop()


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_key_migrates_from_openbao_to_vault_kms_and_back(pair, spec: Spec) -> None:
    openbao, vault_kms = pair
    name = spec.name
    create = {"type": spec.key_type, "exportable": True, "allow_plaintext_backup": True}
    openbao.call("POST", f"keys/{name}", {**create, **spec.create})
    openbao.call("POST", f"keys/{name}/rotate")
    old = openbao.outputs(spec, name, 1) + openbao.outputs(spec, name, 2)

    vault_kms.restore(name, openbao.backup(name))
    key = vault_kms.call("GET", f"keys/{name}")
    assert key["latest_version"] == 2 and key["type"] == spec.key_type
    assert key["restore_info"]["version"] == 2
    vault_kms.check(name, old)
    if spec.convergent:
        # Convergent encryption is deterministic: the same key, context and plaintext
        # give the same ciphertext on both servers.
        for version in (1, 2):
            body = {"plaintext": PLAINTEXT, "key_version": version, **spec.context}
            theirs = openbao.call("POST", f"encrypt/{name}", body)["ciphertext"]
            ours = vault_kms.call("POST", f"encrypt/{name}", body)["ciphertext"]
            assert ours == theirs

    vault_kms.call("POST", f"keys/{name}/rotate")
    new = vault_kms.outputs(spec, name, 3)
    back = f"{name}-back"
    openbao.restore(back, vault_kms.backup(name))
    assert openbao.call("GET", f"keys/{back}")["latest_version"] == 3
    openbao.check(back, old + new)


def test_restored_blob_can_be_restored_again_under_its_own_name(pair) -> None:
    openbao, vault_kms = pair
    openbao.call("POST", "keys/m-plain", {"exportable": True, "allow_plaintext_backup": True})
    blob = openbao.backup("m-plain")
    vault_kms.call("POST", "restore", {"backup": blob}, status=204)
    answer = requests.post(
        f"{vault_kms.base}/restore", json={"backup": blob}, headers=HEADERS, timeout=30
    )
    assert answer.status_code == 500
    assert 'key \\"m-plain\\" already exists' in answer.text
    vault_kms.call("POST", "restore", {"backup": blob, "force": True}, status=204)
