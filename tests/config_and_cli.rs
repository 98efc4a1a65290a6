//! Start-up validation, the bundled config, and the `relationships` and `env`
//! commands that print connection details.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use std::process::Command;

use common::{BIN, ENDPOINTS, Server};
use serde_json::Value;

/// Runs `vault-kms serve` on a config and returns its exit status and stderr.
fn refused_start(config_text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, config_text).unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success(), "started with:\n{config_text}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn config_with(data_dir: &str, endpoints: &str) -> String {
    format!(
        "listen: 127.0.0.1:{}\ndata_dir: {data_dir}\n{endpoints}",
        common::free_port()
    )
}

#[test]
fn invalid_configs_are_refused_naming_the_field_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let cases = [
        (
            "endpoints:\n  e:\n    - {policy: owner, key: k, type: sign}\n",
            "endpoints.e[0].policy: unknown policy \"owner\"",
        ),
        (
            "endpoints:\n  e:\n    - {policy: sign, key: k, type: rsa-9}\n",
            "endpoints.e[0].type: unknown type \"rsa-9\"",
        ),
        (
            "endpoints:\n  a:\n    - {policy: admin, key: k, type: sign}\n  b:\n    - {policy: admin, key: k, type: encrypt}\n",
            "key \"k\" is given two types",
        ),
        (
            "endpoints:\n  e: []\n",
            "endpoints.e: an endpoint needs at least one entry",
        ),
        (
            "endpoints: {}\n",
            "endpoints: declare at least one endpoint",
        ),
        ("endpoints:\n  e:\n    - {policy: sign, key: k}\n", "type"),
    ];
    for (endpoints, expected) in cases {
        let stderr = refused_start(&config_with(data, endpoints));
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in {stderr:?}"
        );
    }
}

#[test]
fn a_data_dir_that_cannot_be_used_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "x").unwrap();

    let stderr = refused_start(&config_with(not_a_dir.to_str().unwrap(), ENDPOINTS));
    assert!(
        stderr.contains(&format!("data_dir {}", not_a_dir.display())),
        "{stderr}"
    );
}

#[test]
fn a_key_type_change_is_refused_and_nothing_stored_is_touched() {
    let endpoints = "endpoints:\n  app:\n    - {policy: encrypt, key: app-data, type: encrypt}\n    \
                     - {policy: decrypt, key: app-data, type: encrypt}\n  admin:\n    - {policy: admin, key: app-data, type: encrypt}\n";
    let mut server = Server::start_with(endpoints);
    let app = server.token("app");
    let ciphertext = server
        .post(
            "/v1/transit/encrypt/app-data",
            &app,
            r#"{"plaintext":"aGk="}"#,
        )
        .data_str("ciphertext");
    server.stop();

    let original = std::fs::read_to_string(&server.config).unwrap();
    let changed = original
        .replace("type: encrypt", "type: sign")
        .replace("policy: encrypt", "policy: admin")
        .replace("policy: decrypt", "policy: admin");
    std::fs::write(&server.config, changed).unwrap();
    let output = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&server.config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("key \"app-data\" is stored as type chacha20-poly1305"),
        "{stderr}"
    );

    std::fs::write(&server.config, original).unwrap();
    server.launch();
    let key = server
        .get("/v1/transit/keys/app-data", &server.token("admin"))
        .json();
    assert_eq!(key["data"]["type"], "chacha20-poly1305");
    assert_eq!(key["data"]["latest_version"], 1);
    let decrypted = server.post(
        "/v1/transit/decrypt/app-data",
        &app,
        &format!(r#"{{"ciphertext":"{ciphertext}"}}"#),
    );
    assert_eq!(decrypted.data_str("plaintext"), "aGk=");
}

#[test]
fn serve_without_config_uses_the_bundled_example() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    let bundled = concat!(env!("CARGO_MANIFEST_DIR"), "/config/vault-kms.yaml");
    std::fs::copy(bundled, dir.path().join("config/vault-kms.yaml")).unwrap();
    let port = common::free_port();

    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let health = common::first_health_answer(&format!("127.0.0.1:{port}"));
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(health.expect("server answered").status(), 200);
    assert!(
        dir.path().join("data/vault-kms.db").exists(),
        "data_dir ./data is used"
    );
}

#[test]
fn relationships_print_one_connection_per_endpoint_shaped_like_the_platform() {
    let mut server = Server::start();
    let running: Value = serde_json::from_str(&server.cli(&["relationships"])).unwrap();
    server.stop();
    let stopped: Value = serde_json::from_str(&server.cli(&["relationships"])).unwrap();
    assert_eq!(
        running, stopped,
        "the same details whether or not the server runs"
    );

    let connections = running["manage_keys"].as_array().unwrap();
    assert_eq!(connections.len(), 1);
    let c = &connections[0];
    assert_eq!(c["username"], "");
    assert_eq!(c["scheme"], "http");
    assert_eq!(c["service"], "vault-kms");
    assert_eq!(c["host"], "127.0.0.1");
    assert_eq!(c["hostname"], "127.0.0.1");
    assert_eq!(c["ip"], "127.0.0.1");
    assert_eq!(c["instance_ips"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(c["port"], server.port);
    assert_eq!(c["path"], "/");
    assert_eq!(c["rel"], "manage_keys");
    assert_eq!(c["public"], false);
    assert_eq!(c["host_mapped"], false);
    assert_eq!(c["query"], serde_json::json!({"is_master": true}));
    assert!(c["type"].as_str().unwrap().starts_with("vault-kms:"));
    assert_eq!(c["password"], server.token("manage_keys").as_str());
    assert_ne!(running["app_encryption"][0]["password"], c["password"]);

    let expected: Vec<&str> = ENDPOINTS
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .map(|l| l.trim().trim_end_matches(':'))
        .collect();
    let mut printed: Vec<&str> = running
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    printed.sort_unstable();
    let mut expected = expected;
    expected.sort_unstable();
    assert_eq!(printed, expected);
}

#[test]
fn env_prints_shell_ready_lines_whose_token_works() {
    let server = Server::start();

    let out = server.cli(&["env", "app_encryption", "--prefix", "VAULT"]);
    let line = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("VAULT_{name}=")))
            .unwrap_or_else(|| panic!("no VAULT_{name} in {out}"))
            .to_owned()
    };
    assert_eq!(line("HOST"), "127.0.0.1");
    assert_eq!(line("PORT"), server.port.to_string());
    assert_eq!(line("SCHEME"), "http");
    assert_eq!(line("REL"), "app_encryption");
    assert_eq!(line("USERNAME"), "");

    // The lines are valid shell: evaluate them and use the variables with curl.
    let script = format!(
        "set -e; eval \"$({BIN} env app_encryption --prefix VAULT --config '{}')\"; \
         VAULT_URL=$VAULT_HOST:$VAULT_PORT; \
         curl -s -H \"X-Vault-Token: $VAULT_PASSWORD\" http://$VAULT_URL/v1/auth/token/lookup-self",
        server.config.display()
    );
    let output = Command::new("bash").args(["-c", &script]).output().unwrap();
    let lookup: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(lookup["data"]["meta"]["endpoint"], "app_encryption");

    let exported = server.cli(&["env", "manage_keys", "--export"]);
    assert!(
        exported
            .lines()
            .all(|l| l.starts_with("export MANAGE_KEYS_")),
        "{exported}"
    );
}

#[test]
fn env_refuses_an_unknown_endpoint() {
    let server = Server::start();
    let output = Command::new(BIN)
        .args(["env", "nope", "--config"])
        .arg(&server.config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no endpoint \"nope\""));
}

#[test]
fn health_command_reports_a_running_server_and_fails_without_one() {
    let server = Server::start();
    let run = |port: u16| {
        Command::new(BIN)
            .args(["health", "--address", &format!("127.0.0.1:{port}")])
            .output()
            .unwrap()
    };

    assert!(run(server.port).status.success());
    let down = run(common::free_port());
    assert!(!down.status.success());
    assert!(!down.stderr.is_empty());
}
