"""The README's curl examples, run exactly as written against the bundled config.

The section "Using it with curl" of README.md is the managed service's documented flow.
Its bash blocks run here in order, in one bash session, against a server started on a
copy of `config/vault-kms.yaml` (only `listen` and `data_dir` differ). The one textual
change is the binary path: `./target/release/vault-kms` becomes the binary under test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, _free_port, _ServerProcess, _wait_healthy

README_BINARY = "./target/release/vault-kms"
BLOCK_MARK = "@@README-BLOCK@@"


def curl_blocks() -> list[str]:
    """The bash blocks of the README section "Using it with curl", in order."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Using it with curl", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture(scope="module")
def bundled_config_server(target, tmp_path_factory):
    """A vault-kms server on the bundled config; returns (binary, config path)."""
    if target.name != "vault-kms":
        pytest.skip("the README documents vault-kms's own commands")
    binary = Path(os.environ.get("VAULT_KMS_BIN", REPO_ROOT / "target/debug/vault-kms"))
    workdir = tmp_path_factory.mktemp("readme")
    port = _free_port()
    bundled = (REPO_ROOT / "config/vault-kms.yaml").read_text()
    assert "listen: 127.0.0.1:8200\n" in bundled and "data_dir: ./data\n" in bundled
    config = workdir / "vault-kms.yaml"
    config.write_text(
        bundled.replace("listen: 127.0.0.1:8200", f"listen: 127.0.0.1:{port}").replace(
            "data_dir: ./data", f"data_dir: {json.dumps(str(workdir / 'data'))}"
        )
    )
    log = workdir / "vault-kms.log"
    with _ServerProcess([str(binary), "serve", "--config", str(config)], log, target.home) as proc:
        _wait_healthy(f"http://127.0.0.1:{port}", proc, log, "vault-kms")
        yield binary, config


def run_blocks(binary: Path, config: Path, home: Path) -> list[str]:
    """Runs every block in one bash session; returns each block's standard output."""
    blocks = curl_blocks()
    script = ["set -euo pipefail"]
    for block in blocks:
        script.append(block.replace(README_BINARY, str(binary)))
        script.append(f"echo {BLOCK_MARK}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(HOME=str(home), VAULT_KMS_CONFIG=str(config))
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"README blocks failed:\n{result.stderr}"
    outputs = result.stdout.split(f"{BLOCK_MARK}\n")
    assert len(outputs) == len(blocks) + 1 and outputs[-1] == ""
    return outputs[:-1]


def json_outputs(outputs: list[str]) -> list[dict]:
    return [json.loads(out) for out in outputs if out.strip().startswith("{")]


def test_readme_has_the_service_docs_curl_flow():
    joined = "\n".join(curl_blocks())
    for path in ("keys/", "sign/", "verify/", "encrypt/", "decrypt/", "rewrap/"):
        assert f"/v1/transit/{path}" in joined, path
    assert '"$KEY_NAME"/rotate' in joined
    assert '$(echo SECRET | base64)' in joined


def test_readme_curl_examples_run_verbatim_and_give_the_documented_answers(
    bundled_config_server, target
):
    binary, config = bundled_config_server
    outputs = run_blocks(binary, config, target.home)
    answers = json_outputs(outputs)

    key = next(a for a in answers if a["data"].get("type"))
    assert key["data"]["name"] == "vault-sign" and key["data"]["type"] == "ecdsa-p256"

    rotated = next(a for a in answers if "latest_version" in a["data"] and a is not key)
    assert rotated["data"]["latest_version"] == key["data"]["latest_version"] + 1

    signed = next(a for a in answers if "signature" in a["data"])
    assert signed["data"]["signature"].startswith(f"vault:v{rotated['data']['latest_version']}:")

    verified = next(a for a in answers if "valid" in a["data"])
    assert verified["data"]["valid"] is True

    encrypted = [a for a in answers if "ciphertext" in a["data"]]
    assert len(encrypted) == 2, "encrypt and rewrap each print a ciphertext"
    assert encrypted[0]["data"]["ciphertext"].startswith("vault:v1:")
    # The rewrap block follows a rotation of app-data: it moves the v1 ciphertext to v2.
    assert outputs.count("2\n") >= 1, "the rotation printed the new latest_version"
    assert encrypted[1]["data"]["ciphertext"].startswith("vault:v2:")
    assert encrypted[1]["data"]["key_version"] == 2

    # The decrypt block pipes through `base64 -d`: echo's trailing newline survives.
    assert "SECRET\n" in outputs
