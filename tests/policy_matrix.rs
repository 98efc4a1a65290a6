//! The policy matrix, end to end: every endpoint's token against every transit route
//! of both keys, and the ways a token can be presented.
//!
//! The expected answers are OpenBao 2.7.2's, captured from a dev server with the same
//! policies: the token is checked first (403 `permission denied`), then the ACL
//! (403 multierror, whatever the route), and only a granted request reaches routing,
//! where it may still be 404 (no such route) or 405 (the route, not for this method).

mod common;

use common::{Answer, Server};
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const SIGN_KEY: &str = "vault-sign";
const DATA_KEY: &str = "app-data";

/// The message input and plaintext of every request ("hi").
const INPUT: &str = "aGk=";

const DENIED: &str = "1 error occurred:\n\t* permission denied\n\n";
const UNAUTHENTICATED: &str = "permission denied";
const UNSUPPORTED_OPERATION: &str = "1 error occurred:\n\t* unsupported operation\n\n";
const UNSUPPORTED_PATH: &str = "1 error occurred:\n\t* unsupported path\n\n";

/// The policies of the service's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    Admin,
    Sign,
    Verify,
    Encrypt,
    Decrypt,
    Rewrap,
}

use Policy::{Admin, Decrypt, Encrypt, Rewrap, Sign, Verify};

/// Every endpoint of `common::ENDPOINTS` with the (policy, key) entries it declares.
const ENDPOINT_GRANTS: &[(&str, &[(Policy, &str)])] = &[
    (
        "manage_keys",
        &[(Admin, SIGN_KEY), (Sign, SIGN_KEY), (Verify, SIGN_KEY)],
    ),
    (
        "app_encryption",
        &[(Encrypt, DATA_KEY), (Decrypt, DATA_KEY), (Rewrap, DATA_KEY)],
    ),
    ("signer", &[(Sign, SIGN_KEY)]),
    ("verifier", &[(Verify, SIGN_KEY)]),
    ("encryptor", &[(Encrypt, DATA_KEY)]),
    ("decryptor", &[(Decrypt, DATA_KEY)]),
    ("rewrapper", &[(Rewrap, DATA_KEY)]),
    ("data_admin", &[(Admin, DATA_KEY)]),
];

/// Which tokens the ACL lets through for one request.
#[derive(Clone, Copy, Debug)]
enum Grant {
    /// Tokens holding this policy for this key.
    To(Policy, &'static str),
    /// Every token: Vault's `default` policy.
    EveryToken,
    /// No token of this service.
    Nobody,
}

/// What a `data` member of a 200 answer must hold.
#[derive(Clone, Debug)]
enum Member {
    Equals(Value),
    StartsWith(&'static str),
    /// The token that made the request (lookup-self's `id`).
    TheToken,
}

/// The answer to a request the ACL lets through.
#[derive(Clone, Debug)]
enum Reached {
    Ok(&'static str, Member),
    /// 405 `unsupported operation`: the route exists, not for this method.
    WrongMethod,
    /// 404 `unsupported path`: the ACL grants the path but no route serves it.
    NoRoute,
    /// The handler's own refusal: a 500 with Vault's multierror text.
    Refused(&'static str),
}

/// One request of the matrix.
#[derive(Clone, Debug)]
struct Probe {
    method: &'static str,
    path: String,
    body: Option<String>,
    grant: Grant,
    reached: Reached,
}

impl Probe {
    /// A request that, where granted, answers 405 unless [`Probe::answers`] says otherwise.
    fn new(method: &'static str, path: String, body: Option<String>, grant: Grant) -> Self {
        Self {
            method,
            path,
            body,
            grant,
            reached: Reached::WrongMethod,
        }
    }

    fn answers(mut self, reached: Reached) -> Self {
        self.reached = reached;
        self
    }

    fn is_granted_to(&self, grants: &[(Policy, &str)]) -> bool {
        match self.grant {
            Grant::To(policy, key) => grants.contains(&(policy, key)),
            Grant::EveryToken => true,
            Grant::Nobody => false,
        }
    }
}

/// Values made before the matrix runs, so that granted requests carry valid bodies.
struct Material {
    /// `app-data` v1 ciphertext of [`INPUT`].
    ciphertext: String,
    /// `vault-sign` signature of [`INPUT`] with sha2-256.
    signature_sha256: String,
    /// `vault-sign` signature of [`INPUT`] with sha2-512.
    signature_sha512: String,
}

impl Material {
    fn make(server: &Server) -> Self {
        let encrypt = ok(server.post(
            &format!("/v1/transit/encrypt/{DATA_KEY}"),
            &server.token("app_encryption"),
            &json!({ "plaintext": INPUT }).to_string(),
        ));
        let manage = server.token("manage_keys");
        let sign = |algorithm: &str| {
            ok(server.post(
                &format!("/v1/transit/sign/{SIGN_KEY}/{algorithm}"),
                &manage,
                &json!({ "input": INPUT }).to_string(),
            ))
            .data_str("signature")
        };
        Self {
            ciphertext: encrypt.data_str("ciphertext"),
            signature_sha256: sign("sha2-256"),
            signature_sha512: sign("sha2-512"),
        }
    }
}

fn ok(answer: Answer) -> Answer {
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer
}

/// The routes of the keys family for `key`.
fn key_probes(key: &'static str) -> Vec<Probe> {
    let admin = Grant::To(Admin, key);
    let base = format!("/v1/transit/keys/{key}");
    let described = Reached::Ok("name", Member::Equals(json!(key)));
    vec![
        Probe::new("GET", base.clone(), None, admin).answers(described.clone()),
        // The admin policy reads the key; creating, deleting and listing it are not granted.
        Probe::new("POST", base.clone(), Some("{}".into()), Grant::Nobody),
        Probe::new("DELETE", base.clone(), None, Grant::Nobody),
        Probe::new("LIST", base.clone(), None, Grant::Nobody),
        Probe::new("GET", format!("{base}?list=true"), None, Grant::Nobody),
        Probe::new("POST", format!("{base}/rotate"), None, admin).answers(described.clone()),
        Probe::new("GET", format!("{base}/rotate"), None, admin),
        Probe::new("DELETE", format!("{base}/rotate"), None, admin),
        Probe::new("LIST", format!("{base}/rotate"), None, Grant::Nobody),
        Probe::new("POST", format!("{base}/config"), Some("{}".into()), admin)
            .answers(described.clone()),
        Probe::new("GET", format!("{base}/config"), None, admin),
        Probe::new("DELETE", format!("{base}/config"), None, admin),
        // A restore of a key that is not soft-deleted changes nothing; soft delete
        // and trim themselves are tested in trim_soft_delete.rs.
        Probe::new("POST", format!("{base}/soft-delete-restore"), None, admin).answers(described),
        Probe::new("DELETE", format!("{base}/soft-delete-restore"), None, admin),
        Probe::new("POST", format!("{base}/soft-delete"), None, admin),
        Probe::new("GET", format!("{base}/soft-delete"), None, admin),
        Probe::new("GET", format!("{base}/trim"), None, admin),
        Probe::new("DELETE", format!("{base}/trim"), None, admin),
        // Import makes new keys only, so the admin of an existing key reaches the
        // handler and is refused by it; import_version needs an imported key.
        Probe::new(
            "POST",
            format!("{base}/import"),
            Some(r#"{"ciphertext":""}"#.into()),
            admin,
        )
        .answers(Reached::Refused(
            "the import path cannot be used with an existing key; use import-version to \
             rotate an existing imported key",
        )),
        Probe::new("GET", format!("{base}/import"), None, admin),
        Probe::new(
            "POST",
            format!("{base}/import_version"),
            Some("{}".into()),
            admin,
        )
        .answers(Reached::Refused(
            "the import_version endpoint can only be used with an imported key",
        )),
        Probe::new("GET", format!("{base}/import_version"), None, admin),
        Probe::new("GET", format!("{base}/nonexistent-sub"), None, admin).answers(Reached::NoRoute),
        Probe::new(
            "POST",
            format!("{base}/nonexistent-sub"),
            Some("{}".into()),
            admin,
        )
        .answers(Reached::NoRoute),
    ]
}

/// POST on `path` (granted by `grant`, answering `posted`), GET (granted by `grant`
/// too, but 405) and DELETE (granted to nobody).
fn data_probes(path: String, body: String, grant: Grant, posted: Reached) -> Vec<Probe> {
    vec![
        Probe::new("POST", path.clone(), Some(body), grant).answers(posted),
        Probe::new("GET", path.clone(), None, grant),
        Probe::new("DELETE", path, None, Grant::Nobody),
    ]
}

/// Every transit route for `key`, with bodies valid for the route.
fn transit_probes(key: &'static str, material: &Material) -> Vec<Probe> {
    let mut probes = key_probes(key);

    let sealed = || Reached::Ok("ciphertext", Member::StartsWith("vault:v"));
    let plaintext = json!({ "plaintext": INPUT }).to_string();
    let ciphertext = json!({ "ciphertext": material.ciphertext }).to_string();
    probes.extend(data_probes(
        format!("/v1/transit/encrypt/{key}"),
        plaintext,
        Grant::To(Encrypt, key),
        sealed(),
    ));
    probes.extend(data_probes(
        format!("/v1/transit/decrypt/{key}"),
        ciphertext.clone(),
        Grant::To(Decrypt, key),
        Reached::Ok("plaintext", Member::Equals(json!(INPUT))),
    ));
    probes.extend(data_probes(
        format!("/v1/transit/rewrap/{key}"),
        ciphertext,
        Grant::To(Rewrap, key),
        sealed(),
    ));

    let input = json!({ "input": INPUT }).to_string();
    for path in [
        format!("/v1/transit/sign/{key}"),
        format!("/v1/transit/sign/{key}/sha2-256"),
    ] {
        probes.extend(data_probes(
            path,
            input.clone(),
            Grant::To(Sign, key),
            Reached::Ok("signature", Member::StartsWith("vault:v")),
        ));
    }
    for (path, signature) in [
        (
            format!("/v1/transit/verify/{key}"),
            &material.signature_sha256,
        ),
        (
            format!("/v1/transit/verify/{key}/sha2-512"),
            &material.signature_sha512,
        ),
    ] {
        probes.extend(data_probes(
            path,
            json!({ "input": INPUT, "signature": signature }).to_string(),
            Grant::To(Verify, key),
            Reached::Ok("valid", Member::Equals(json!(true))),
        ));
    }
    probes
}

/// Paths outside any key's routes.
fn other_probes() -> Vec<Probe> {
    let nobody = |method, path: &str| Probe::new(method, path.to_owned(), None, Grant::Nobody);
    vec![
        nobody("LIST", "/v1/transit/keys"),
        nobody("GET", "/v1/transit/keys?list=true"),
        nobody("GET", "/v1/transit/unknown"),
        nobody("GET", "/v1/transit/wrapping_key"),
        Probe::new(
            "POST",
            "/v1/transit/unknown".into(),
            Some("{}".into()),
            Grant::Nobody,
        ),
        // Export is a top-level path of its own: not even the admin policy reaches it.
        nobody("GET", "/v1/transit/export/public-key/vault-sign"),
        nobody("GET", "/v1/transit/export/signing-key/vault-sign/latest"),
        nobody(
            "GET",
            "/v1/transit/export/encryption-key/app-data?format=raw",
        ),
        nobody("GET", "/v1/sys/mounts"),
        nobody("GET", "/v1/secret/foo"),
        Probe::new(
            "GET",
            "/v1/auth/token/lookup-self".into(),
            None,
            Grant::EveryToken,
        )
        .answers(Reached::Ok("id", Member::TheToken)),
        // The default policy grants only read on lookup-self.
        Probe::new(
            "POST",
            "/v1/auth/token/lookup-self".into(),
            Some("{}".into()),
            Grant::Nobody,
        ),
    ]
}

/// Why `answer` is not what `probe` should get with `token`, if it is not.
fn mismatch(probe: &Probe, granted: bool, token: &str, answer: &Answer) -> Option<String> {
    if !granted {
        return expect_error(answer, 403, DENIED);
    }
    match &probe.reached {
        Reached::WrongMethod => expect_error(answer, 405, UNSUPPORTED_OPERATION),
        Reached::NoRoute => expect_error(answer, 404, UNSUPPORTED_PATH),
        Reached::Refused(message) => expect_error(
            answer,
            500,
            &format!("1 error occurred:\n\t* {message}\n\n"),
        ),
        Reached::Ok(field, member) => {
            if answer.status != 200 {
                return Some(format!("expected 200, got {}", answer.status));
            }
            let actual = &answer.json()["data"][*field];
            let fits = match member {
                Member::Equals(value) => actual == value,
                Member::StartsWith(prefix) => {
                    actual.as_str().is_some_and(|s| s.starts_with(prefix))
                }
                Member::TheToken => actual == token,
            };
            (!fits).then(|| format!("data.{field} is {actual}, expected {member:?}"))
        }
    }
}

fn expect_error(answer: &Answer, status: u16, message: &str) -> Option<String> {
    let errors: Option<Value> = serde_json::from_str::<Value>(&answer.body)
        .ok()
        .map(|json| json["errors"].clone());
    let expected = json!([message]);
    if answer.status == status && errors.as_ref() == Some(&expected) {
        None
    } else {
        Some(format!("expected {status} {expected}"))
    }
}

#[test]
fn every_endpoint_reaches_exactly_the_routes_its_policies_grant() {
    let server = Server::start();
    let material = Material::make(&server);
    let mut probes = transit_probes(SIGN_KEY, &material);
    probes.extend(transit_probes(DATA_KEY, &material));
    probes.extend(other_probes());

    let mut failures = Vec::new();
    for (endpoint, grants) in ENDPOINT_GRANTS {
        // Guards the table itself: every endpoint is granted transit requests, not
        // only lookup-self.
        let granted_count = probes.iter().filter(|p| p.is_granted_to(grants)).count();
        assert!(
            granted_count > 1,
            "{endpoint} is granted {granted_count} requests"
        );

        let token = server.token(endpoint);
        for probe in &probes {
            let granted = probe.is_granted_to(grants);
            let answer = server.request(
                probe.method,
                &probe.path,
                Some(&token),
                probe.body.as_deref(),
            );
            if let Some(why) = mismatch(probe, granted, &token, &answer) {
                failures.push(format!(
                    "{endpoint}: {} {} -> {} {}: {why}",
                    probe.method,
                    probe.path,
                    answer.status,
                    answer.body.trim_end()
                ));
            }
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {} requests answered unlike OpenBao:\n{}",
        failures.len(),
        probes.len() * ENDPOINT_GRANTS.len(),
        failures.join("\n")
    );
}

/// Sends a request with exactly `headers` (and a JSON body with curl's form content
/// type, if any), for the ways a token can be presented.
#[expect(
    clippy::unwrap_used,
    reason = "a test helper: a panic is a test failure"
)]
fn send(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = Client::new().request(method, server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    Answer {
        status,
        body: response.text().unwrap(),
    }
}

fn assert_error(answer: &Answer, status: u16, message: &str, what: &str) {
    assert_eq!(
        (answer.status, answer.json()["errors"].clone()),
        (status, json!([message])),
        "{what}: {}",
        answer.body
    );
}

const BOGUS: &str = "s.bogusbogusbogusbogusbogus";

#[test]
fn requests_without_a_valid_token_get_the_plain_permission_denied() {
    let server = Server::start();
    let signer = server.token("signer");
    let lowercase = format!("bearer {signer}");
    let bogus_bearer = format!("Bearer {BOGUS}");
    let real_bearer = format!("Bearer {signer}");
    let presentations: [(&str, &[(&str, &str)]); 6] = [
        ("no token", &[]),
        ("bogus X-Vault-Token", &[("X-Vault-Token", BOGUS)]),
        ("bogus Bearer", &[("Authorization", &bogus_bearer)]),
        ("lowercase bearer", &[("Authorization", &lowercase)]),
        (
            "Authorization without a scheme",
            &[("Authorization", &signer)],
        ),
        (
            "bogus X-Vault-Token beside a valid Bearer",
            &[("X-Vault-Token", BOGUS), ("Authorization", &real_bearer)],
        ),
    ];
    // Paths the signer may use and paths nobody may use: none is reached, and none
    // answers differently.
    let requests = [
        ("GET", "/v1/auth/token/lookup-self", None),
        (
            "POST",
            "/v1/transit/sign/vault-sign/sha2-256",
            Some(r#"{"input":"aGk="}"#),
        ),
        ("GET", "/v1/transit/sign/vault-sign", None),
        ("GET", "/v1/transit/unknown", None),
        ("GET", "/v1/sys/mounts", None),
        ("GET", "/v1/nomount/foo", None),
    ];

    for (what, headers) in presentations {
        for (method, path, body) in requests {
            let answer = send(&server, method, path, headers, body);
            assert_error(
                &answer,
                403,
                UNAUTHENTICATED,
                &format!("{what}, {method} {path}"),
            );
        }
    }
    // The same signer token in X-Vault-Token works: the refusals above are about how
    // it was presented.
    let answer = send(
        &server,
        "POST",
        "/v1/transit/sign/vault-sign/sha2-256",
        &[("X-Vault-Token", &signer)],
        Some(r#"{"input":"aGk="}"#),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[test]
fn a_bearer_token_works_and_x_vault_token_wins_over_it() {
    let server = Server::start();
    let signer = server.token("signer");
    let encryptor = server.token("encryptor");
    let signer_bearer = format!("Bearer {signer}");
    let lookup_self = |headers: &[(&str, &str)]| {
        let answer = send(&server, "GET", "/v1/auth/token/lookup-self", headers, None);
        assert_eq!(answer.status, 200, "{headers:?}: {}", answer.body);
        answer.data_str("id")
    };
    let sign = |headers: &[(&str, &str)]| {
        let body = json!({ "input": INPUT }).to_string();
        send(
            &server,
            "POST",
            "/v1/transit/sign/vault-sign/sha2-256",
            headers,
            Some(&body),
        )
    };

    assert_eq!(lookup_self(&[("Authorization", &signer_bearer)]), signer);
    let spaced = format!("Bearer   {signer}  ");
    assert_eq!(
        lookup_self(&[("Authorization", &spaced)]),
        signer,
        "trimmed"
    );
    let signed = sign(&[("Authorization", &signer_bearer)]);
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert!(
        signed.data_str("signature").starts_with("vault:v1:"),
        "{}",
        signed.body
    );

    // An empty X-Vault-Token is no token: the Bearer is used.
    let empty_header = [
        ("X-Vault-Token", ""),
        ("Authorization", signer_bearer.as_str()),
    ];
    assert_eq!(lookup_self(&empty_header), signer);

    // With a valid X-Vault-Token (encryptor) and a valid Bearer (signer), the request
    // is the encryptor's: lookup-self names it and signing is denied by the ACL.
    let both = [
        ("X-Vault-Token", encryptor.as_str()),
        ("Authorization", signer_bearer.as_str()),
    ];
    assert_eq!(lookup_self(&both), encryptor);
    assert_error(
        &sign(&both),
        403,
        DENIED,
        "sign with the encryptor's X-Vault-Token",
    );
}

#[test]
fn a_token_never_reaches_the_other_key_under_any_spelling() {
    let server = Server::start();
    let signature = Material::make(&server).signature_sha256;
    let data = json!({ "plaintext": INPUT }).to_string();
    let input = json!({ "input": INPUT }).to_string();
    let verify = json!({ "input": INPUT, "signature": signature }).to_string();
    // Each token with a request it is granted on its own key, and the other key.
    let cases = [
        (
            "data_admin",
            "POST",
            "/v1/transit/keys/{}/rotate",
            None,
            DATA_KEY,
            SIGN_KEY,
        ),
        (
            "data_admin",
            "GET",
            "/v1/transit/keys/{}",
            None,
            DATA_KEY,
            SIGN_KEY,
        ),
        (
            "manage_keys",
            "GET",
            "/v1/transit/keys/{}",
            None,
            SIGN_KEY,
            DATA_KEY,
        ),
        (
            "manage_keys",
            "POST",
            "/v1/transit/keys/{}/config",
            Some("{}"),
            SIGN_KEY,
            DATA_KEY,
        ),
        (
            "manage_keys",
            "POST",
            "/v1/transit/sign/{}",
            Some(&input),
            SIGN_KEY,
            DATA_KEY,
        ),
        (
            "app_encryption",
            "POST",
            "/v1/transit/encrypt/{}",
            Some(&data),
            DATA_KEY,
            SIGN_KEY,
        ),
        (
            "signer",
            "POST",
            "/v1/transit/sign/{}/sha2-256",
            Some(&input),
            SIGN_KEY,
            DATA_KEY,
        ),
        (
            "verifier",
            "POST",
            "/v1/transit/verify/{}",
            Some(&verify),
            SIGN_KEY,
            DATA_KEY,
        ),
    ];
    // The exact name, another case, percent-encoded, and a prefix sibling.
    let spellings = |name: &str| {
        [
            name.to_owned(),
            name.to_uppercase(),
            name.replace('-', "%2D"),
            format!("{name}X"),
        ]
    };

    for (endpoint, method, template, body, own, other) in cases {
        let token = server.token(endpoint);
        let send_to =
            |name: &str| server.request(method, &template.replace("{}", name), Some(&token), body);

        // The control: the same request on the token's own key, percent-encoded too.
        for name in [own.to_owned(), own.replace('-', "%2D")] {
            let answer = send_to(&name);
            assert_eq!(
                answer.status, 200,
                "{endpoint} {method} {template} on {name}: {}",
                answer.body
            );
        }
        for name in spellings(other) {
            let what = format!("{endpoint} {method} {template} on {name}");
            assert_error(&send_to(&name), 403, DENIED, &what);
        }
    }
}

#[test]
fn head_is_denied_even_where_read_is_granted() {
    let server = Server::start();
    for (endpoint, path, get_status) in [
        ("signer", "/v1/transit/sign/vault-sign/sha2-256", 405),
        ("manage_keys", "/v1/transit/keys/vault-sign", 200),
    ] {
        let token = server.token(endpoint);
        let head = server.request("HEAD", path, Some(&token), None);
        assert_eq!(
            (head.status, head.body.as_str()),
            (403, ""),
            "{endpoint} HEAD {path}"
        );
        let get = server.request("GET", path, Some(&token), None);
        assert_eq!(
            get.status, get_status,
            "{endpoint} GET {path}: {}",
            get.body
        );
    }
}
