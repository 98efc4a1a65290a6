//! Endpoint tokens expire one year after their creation. The server runs in this
//! process on a real socket, with a clock the test moves forward.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "integration tests: a panic is a test failure"
)]

mod common;

use std::path::Path;
use std::sync::Arc;

use reqwest::blocking::Client;
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use vault_kms::clock::ManualClock;
use vault_kms::config::Config;
use vault_kms::service::{Mode, Service};

fn config(data_dir: &Path) -> Config {
    let text = format!(
        "data_dir: {}\nendpoints:\n  app:\n    - {{policy: encrypt, key: app-data, type: encrypt}}\n",
        data_dir.display()
    );
    Config::parse(Path::new("test.yaml"), &text).unwrap()
}

/// A server in a background thread; dropping it shuts the server down.
struct InProcess {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcess {
    fn start(data_dir: &Path, clock: Arc<ManualClock>) -> Self {
        let config = config(data_dir);
        let service = Arc::new(Service::open(config, clock, Mode::Serve).unwrap());

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let shutdown = async move {
                    let _ = stopped.await;
                };
                vault_kms::serve_on(listener, service, shutdown)
                    .await
                    .unwrap();
            });
        });
        Self {
            port,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn token(data_dir: &Path) -> String {
        let config = config(data_dir);
        let clock = Arc::new(vault_kms::clock::SystemClock);
        let service = Service::open(config, clock, Mode::Inspect).unwrap();
        service
            .tokens
            .get("app")
            .unwrap()
            .secret()
            .expose()
            .to_owned()
    }

    fn send(&self, method: &str, path: &str, token: &str) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = Client::new()
            .request(method, format!("http://127.0.0.1:{}{path}", self.port))
            .header("X-Vault-Token", token)
            .body(r#"{"plaintext":"aGk="}"#)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap())
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_token_works_for_365_days_after_its_creation_and_then_answers_403() {
    let dir = tempfile::tempdir().unwrap();
    let created = OffsetDateTime::now_utc();
    let clock = Arc::new(ManualClock::new(created));
    let server = InProcess::start(dir.path(), clock.clone());
    let token = InProcess::token(dir.path());

    let (status, _) = server.send("POST", "/v1/transit/encrypt/app-data", &token);
    assert_eq!(status, 200);

    clock.advance(Duration::days(365) - Duration::seconds(1));
    let (status, lookup) = server.send("GET", "/v1/auth/token/lookup-self", &token);
    assert_eq!(status, 200);
    assert_eq!(lookup["data"]["ttl"], 1);
    assert_eq!(lookup["data"]["creation_ttl"], 31_536_000);
    let (status, _) = server.send("POST", "/v1/transit/encrypt/app-data", &token);
    assert_eq!(status, 200);

    clock.advance(Duration::seconds(1));
    for (method, path) in [
        ("POST", "/v1/transit/encrypt/app-data"),
        ("GET", "/v1/auth/token/lookup-self"),
    ] {
        let (status, body) = server.send(method, path, &token);
        assert_eq!(status, 403, "{path}");
        assert_eq!(body, serde_json::json!({"errors": ["permission denied"]}));
    }
}

#[test]
fn a_restart_does_not_renew_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let created = OffsetDateTime::now_utc();
    let clock = Arc::new(ManualClock::new(created));
    drop(InProcess::start(dir.path(), clock.clone()));
    let token = InProcess::token(dir.path());

    clock.advance(Duration::days(400));
    let server = InProcess::start(dir.path(), clock);

    let (status, _) = server.send("POST", "/v1/transit/encrypt/app-data", &token);
    assert_eq!(status, 403);
}

#[test]
fn lookup_self_describes_the_token_as_vault_does() {
    let dir = tempfile::tempdir().unwrap();
    let created = OffsetDateTime::now_utc();
    let clock = Arc::new(ManualClock::new(created));
    let server = InProcess::start(dir.path(), clock);
    let token = InProcess::token(dir.path());

    let (status, body) = server.send("GET", "/v1/auth/token/lookup-self", &token);
    assert_eq!(status, 200);
    let data = &body["data"];
    assert_eq!(data["id"], token.as_str());
    assert_eq!(
        data["policies"],
        serde_json::json!(["default", "encrypt-app-data"])
    );
    assert_eq!(data["ttl"], 31_536_000);
    assert_eq!(data["renewable"], false);
    assert_eq!(data["type"], "service");
    assert_eq!(data["creation_time"], created.unix_timestamp());
    let expire = OffsetDateTime::parse(
        data["expire_time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(
        expire.unix_timestamp(),
        (created + Duration::days(365)).unix_timestamp()
    );
    assert!(!data["accessor"].as_str().unwrap().is_empty());
    assert_ne!(data["accessor"], token.as_str());

    // Vault's default policy grants only reading lookup-self.
    let (status, _) = server.send("POST", "/v1/auth/token/lookup-self", &token);
    assert_eq!(status, 403);
}
