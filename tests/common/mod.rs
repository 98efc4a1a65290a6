//! The test harness: the real `vault-kms` binary on a free port with a temporary
//! data dir, driven over real HTTP.

#![allow(dead_code, unreachable_pub, missing_docs)]
#![expect(
    clippy::unwrap_used,
    reason = "test harness: a panic is a test failure"
)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::Value;
use tempfile::TempDir;

pub mod bad_input;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_vault-kms");

/// The endpoints every test server declares unless told otherwise: the service
/// documentation's example plus narrower endpoints for the policy matrix.
pub const ENDPOINTS: &str = "
endpoints:
  manage_keys:
    - {policy: admin, key: vault-sign, type: sign}
    - {policy: sign, key: vault-sign, type: sign}
    - {policy: verify, key: vault-sign, type: sign}
  app_encryption:
    - {policy: encrypt, key: app-data, type: encrypt}
    - {policy: decrypt, key: app-data, type: encrypt}
    - {policy: rewrap, key: app-data, type: encrypt}
  signer:
    - {policy: sign, key: vault-sign, type: sign}
  verifier:
    - {policy: verify, key: vault-sign, type: sign}
  encryptor:
    - {policy: encrypt, key: app-data, type: encrypt}
  decryptor:
    - {policy: decrypt, key: app-data, type: encrypt}
  rewrapper:
    - {policy: rewrap, key: app-data, type: encrypt}
  data_admin:
    - {policy: admin, key: app-data, type: encrypt}
";

/// A running server and its files.
pub struct Server {
    pub dir: TempDir,
    pub config: PathBuf,
    pub port: u16,
    /// Extra arguments of `serve`, such as `--dev`.
    pub serve_args: Vec<String>,
    child: Option<Child>,
    client: Client,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// `data.<field>` as a string.
    pub fn data_str(&self, field: &str) -> String {
        self.json()["data"][field]
            .as_str()
            .unwrap_or_else(|| panic!("no string data.{field} in {}", self.body))
            .to_owned()
    }

    /// The single error message of an error answer.
    pub fn error(&self) -> String {
        let json = self.json();
        let errors = json["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors: {}", self.body));
        assert_eq!(errors.len(), 1, "{}", self.body);
        errors[0].as_str().unwrap().to_owned()
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// A server with the default endpoints.
    pub fn start() -> Self {
        Self::start_with(ENDPOINTS)
    }

    /// A development server (root token `root`) with the default endpoints too.
    pub fn start_dev() -> Self {
        Self::start_with_args(ENDPOINTS, &["--dev", "--dev-root-token-id", "root"])
    }

    /// A server whose config has `extra` (YAML) after `listen` and `data_dir`.
    pub fn start_with(extra: &str) -> Self {
        Self::start_with_args(extra, &[])
    }

    /// As [`Server::start_with`], with extra arguments for `serve`.
    pub fn start_with_args(extra: &str, serve_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("vault-kms.yaml");
        let text = format!(
            "listen: 127.0.0.1:{port}\ndata_dir: {}\n{extra}",
            dir.path().join("data").display()
        );
        std::fs::write(&config, text).unwrap();
        let mut server = Self {
            dir,
            config,
            port,
            serve_args: serve_args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        server.launch();
        server
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts the binary and waits until it is healthy.
    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&self.config)
            .args(&self.serve_args)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(answer) = self.try_request(Method::GET, "/v1/sys/health", None, None)
                && answer.status == 200
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "vault-kms exited with {status} before it was healthy:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "vault-kms not healthy in time:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Stops the server with SIGTERM and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    /// Kills the server with SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// The token of an endpoint, as `vault-kms env` prints it.
    pub fn token(&self, endpoint: &str) -> String {
        let out = self.cli(&["env", endpoint, "--prefix", "T"]);
        out.lines()
            .find_map(|l| l.strip_prefix("T_PASSWORD="))
            .unwrap_or_else(|| panic!("no T_PASSWORD line in {out}"))
            .to_owned()
    }

    /// Runs a CLI command with this server's config; panics unless it succeeds.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "vault-kms {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn try_request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> reqwest::Result<Answer> {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token);
        }
        if let Some(body) = body {
            // curl's default for --data: the form type, with a JSON body.
            request = request
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body.to_owned());
        }
        let response = request.send()?;
        let status = response.status().as_u16();
        let body = response.text()?;
        Ok(Answer { status, body })
    }

    /// Sends a request; `body` goes with curl's default form content type.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        self.try_request(method, path, token, body).unwrap()
    }

    pub fn get(&self, path: &str, token: &str) -> Answer {
        self.request("GET", path, Some(token), None)
    }

    pub fn post(&self, path: &str, token: &str, body: &str) -> Answer {
        self.request("POST", path, Some(token), Some(body))
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Standard base64 of `bytes`, as `base64` (the shell tool) prints it.
/// The first answer of `GET /v1/sys/health` at `address` (host:port) within 5 s, for
/// servers a test starts itself.
pub fn first_health_answer(address: &str) -> Option<reqwest::blocking::Response> {
    (0..200).find_map(|_| {
        std::thread::sleep(Duration::from_millis(25));
        reqwest::blocking::get(format!("http://{address}/v1/sys/health")).ok()
    })
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// Reads a whole file, for checks on what is stored.
pub fn read_all(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}
