//! Shared fixture of the bad-input tests: a server with values made before any bad
//! input, and the check that a refusal changed nothing.
//!
//! The expected texts are OpenBao 2.7.2's, captured from a dev server with the same
//! keys and policies. After every refused request the keys are read back and an old
//! ciphertext and an old signature are checked again: a refusal that moved a key's
//! versions, or broke a value made before it, fails here.

use std::collections::HashMap;

use super::{Answer, Server};

use serde_json::{Value, json};

/// "SECRET\n": seven bytes, so that ciphertext payloads end in one `=`.
pub const SECRET: &str = "U0VDUkVUCg==";

pub const ENCRYPT: &str = "/v1/transit/encrypt/app-data";
pub const DECRYPT: &str = "/v1/transit/decrypt/app-data";
pub const REWRAP: &str = "/v1/transit/rewrap/app-data";
pub const SIGN: &str = "/v1/transit/sign/vault-sign/sha2-256";
pub const VERIFY: &str = "/v1/transit/verify/vault-sign/sha2-256";

/// Every endpoint of `common::ENDPOINTS`.
pub const ENDPOINTS: [&str; 8] = [
    "manage_keys",
    "app_encryption",
    "signer",
    "verifier",
    "encryptor",
    "decryptor",
    "rewrapper",
    "data_admin",
];

/// A server with values made before any bad input, to check against afterwards.
pub struct Fixture {
    pub server: Server,
    pub tokens: HashMap<&'static str, String>,
    /// The `app-data` v1 ciphertext of [`SECRET`].
    pub ciphertext: String,
    /// The `vault-sign` v1 sha2-256 signature of [`SECRET`].
    pub signature: String,
}

impl Fixture {
    pub fn start() -> Self {
        Self::on(Server::start())
    }

    pub fn on(server: Server) -> Self {
        let tokens = ENDPOINTS.map(|e| (e, server.token(e))).into();
        let mut fixture = Self {
            server,
            tokens,
            ciphertext: String::new(),
            signature: String::new(),
        };
        fixture.ciphertext = fixture.encrypt(SECRET);
        fixture.signature = fixture.sign(SECRET);
        fixture.assert_unchanged("at the start");
        fixture
    }

    /// Sends `body` (if any) as curl does, with the token of `endpoint`.
    pub fn send(&self, endpoint: &str, method: &str, path: &str, body: Option<&str>) -> Answer {
        let token = &self.tokens[endpoint];
        self.server.request(method, path, Some(token), body)
    }

    pub fn post(&self, endpoint: &str, path: &str, body: &str) -> Answer {
        self.send(endpoint, "POST", path, Some(body))
    }

    pub fn ok(&self, endpoint: &str, path: &str, body: &Value) -> Answer {
        let answer = self.post(endpoint, path, &body.to_string());
        assert_eq!(answer.status, 200, "{path} {body}: {}", answer.body);
        answer
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        self.ok("encryptor", ENCRYPT, &json!({ "plaintext": plaintext }))
            .data_str("ciphertext")
    }

    pub fn decrypt(&self, ciphertext: &str) -> String {
        self.ok("decryptor", DECRYPT, &json!({ "ciphertext": ciphertext }))
            .data_str("plaintext")
    }

    pub fn sign(&self, input: &str) -> String {
        self.ok("signer", SIGN, &json!({ "input": input }))
            .data_str("signature")
    }

    pub fn verifies(&self, input: &str, signature: &str) -> bool {
        let body = json!({ "input": input, "signature": signature });
        let answer = self.ok("verifier", VERIFY, &body);
        answer.json()["data"]["valid"]
            .as_bool()
            .unwrap_or_else(|| panic!("no data.valid: {}", answer.body))
    }

    /// `latest_version` and `min_decryption_version` of a key.
    pub fn versions(&self, admin: &str, key: &str) -> (Value, Value) {
        let answer = self.send(admin, "GET", &format!("/v1/transit/keys/{key}"), None);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let data = &answer.json()["data"];
        (
            data["latest_version"].clone(),
            data["min_decryption_version"].clone(),
        )
    }

    /// The keys still have one version each and the values made at the start still
    /// open and verify; new values can still be made.
    pub fn assert_unchanged(&self, after: &str) {
        let one = (json!(1), json!(1));
        assert_eq!(self.versions("data_admin", "app-data"), one, "{after}");
        assert_eq!(self.versions("manage_keys", "vault-sign"), one, "{after}");
        assert_eq!(self.decrypt(&self.ciphertext), SECRET, "{after}");
        assert!(self.verifies(SECRET, &self.signature), "{after}");
        assert_eq!(self.decrypt(&self.encrypt("aGk=")), "aGk=", "{after}");
        assert!(self.verifies("aGk=", &self.sign("aGk=")), "{after}");
    }

    /// Sends every refusal, checks its answer, and checks after each that nothing
    /// changed; reports every mismatch at once.
    pub fn assert_refusals(&mut self, refusals: &[Refusal]) {
        let mut failures = Vec::new();
        for refusal in refusals {
            let answer = self.send(
                refusal.endpoint,
                refusal.method,
                &refusal.path,
                refusal.body.as_deref(),
            );
            let expected = (refusal.status, json!([refusal.message]));
            let actual = (answer.status, errors(&answer));
            if actual != expected {
                failures.push(format!(
                    "{} {} {:?}\n    expected {} {}\n    got      {} {}",
                    refusal.method,
                    refusal.path,
                    refusal.body,
                    expected.0,
                    expected.1,
                    answer.status,
                    answer.body.trim_end()
                ));
            }
            self.assert_unchanged(&format!("{} {:?}", refusal.path, refusal.body));
        }
        assert!(self.server.is_running(), "the server exited");
        assert!(
            failures.is_empty(),
            "{} of {} bad inputs answered unlike OpenBao:\n{}",
            failures.len(),
            refusals.len(),
            failures.join("\n")
        );
    }
}

/// The `errors` of an answer, or `null` if it has none.
pub fn errors(answer: &Answer) -> Value {
    serde_json::from_str::<Value>(&answer.body).map_or(Value::Null, |json| json["errors"].clone())
}

/// A request that must be refused with `status` and exactly one `message`.
#[derive(Debug)]
pub struct Refusal {
    pub endpoint: &'static str,
    pub method: &'static str,
    pub path: String,
    pub body: Option<String>,
    pub status: u16,
    pub message: String,
}

/// A POST of `body` refused with 400 and `message`.
pub fn bad(endpoint: &'static str, path: &str, body: impl ToString, message: &str) -> Refusal {
    refused(endpoint, path, body, 400, message)
}

pub fn refused(
    endpoint: &'static str,
    path: &str,
    body: impl ToString,
    status: u16,
    message: &str,
) -> Refusal {
    Refusal {
        endpoint,
        method: "POST",
        path: path.to_owned(),
        body: Some(body.to_string()),
        status,
        message: message.to_owned(),
    }
}

/// Vault's multierror rendering of one error, as its 403 and 500 answers carry it.
pub fn multierror(message: &str) -> String {
    format!("1 error occurred:\n\t* {message}\n\n")
}

/// The base64 payload of a `vault:vN:payload` value.
#[expect(
    clippy::expect_used,
    reason = "a test helper: a panic is a test failure"
)]
pub fn payload(value: &str) -> &str {
    value
        .splitn(3, ':')
        .nth(2)
        .expect("a vault:vN:payload value")
}
