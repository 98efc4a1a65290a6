//! Connection details as the platform hands them to apps.
//!
//! `relationships` prints, for each endpoint, a list with one connection object shaped
//! like the platform's `PLATFORM_RELATIONSHIPS` entries; `env` prints one endpoint's
//! details as `NAME_PROPERTY=value` lines ready for a shell.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::service::Service;

/// The service name and version shown in `type`, e.g. `vault-kms:0.1`.
fn service_type() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let major_minor: Vec<&str> = version.split('.').take(2).collect();
    format!("vault-kms:{}", major_minor.join("."))
}

/// One endpoint's connection object.
#[derive(Debug, Serialize)]
pub struct Connection {
    username: String,
    scheme: &'static str,
    service: &'static str,
    fragment: String,
    ip: String,
    instance_ips: Vec<String>,
    hostname: String,
    port: u16,
    cluster: String,
    host: String,
    rel: String,
    path: &'static str,
    query: Query,
    password: String,
    epoch: u32,
    #[serde(rename = "type")]
    service_type: String,
    public: bool,
    host_mapped: bool,
}

#[derive(Debug, Serialize)]
struct Query {
    is_master: bool,
}

impl Connection {
    /// The connection object for `endpoint`, or `None` if it is not configured.
    pub fn for_endpoint(service: &Service, endpoint: &str) -> Option<Self> {
        let token = service.tokens.get(endpoint)?;
        let config = &service.config;
        let ip = if config.listen.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            config.listen.ip().to_string()
        };
        Some(Self {
            username: String::new(),
            scheme: "http",
            service: "vault-kms",
            fragment: String::new(),
            instance_ips: vec![ip.clone()],
            ip,
            hostname: config.advertise_host(),
            port: config.listen.port(),
            cluster: service.cluster.name.clone(),
            host: config.advertise_host(),
            rel: endpoint.to_owned(),
            path: "/",
            query: Query { is_master: true },
            password: token.secret().expose().to_owned(),
            epoch: 0,
            service_type: service_type(),
            public: false,
            host_mapped: false,
        })
    }

    /// The `NAME_PROPERTY=value` lines, in the platform's order, quoted for a shell.
    pub fn env_lines(&self, prefix: &str, export: bool) -> String {
        let quote_list = |items: &[String]| {
            let inner: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
            format!("[{}]", inner.join(", "))
        };
        let python_bool = |b: bool| if b { "True" } else { "False" };
        let pairs = [
            ("USERNAME", self.username.clone()),
            ("SCHEME", self.scheme.to_owned()),
            ("SERVICE", self.service.to_owned()),
            ("FRAGMENT", self.fragment.clone()),
            ("IP", self.ip.clone()),
            ("INSTANCE_IPS", quote_list(&self.instance_ips)),
            ("HOSTNAME", self.hostname.clone()),
            ("PORT", self.port.to_string()),
            ("CLUSTER", self.cluster.clone()),
            ("HOST", self.host.clone()),
            ("REL", self.rel.clone()),
            ("PATH", self.path.to_owned()),
            (
                "QUERY",
                format!("{{'is_master': {}}}", python_bool(self.query.is_master)),
            ),
            ("PASSWORD", self.password.clone()),
            ("EPOCH", self.epoch.to_string()),
            ("TYPE", self.service_type.clone()),
            ("PUBLIC", self.public.to_string()),
            ("HOST_MAPPED", self.host_mapped.to_string()),
        ];

        let mut out = String::new();
        for (name, value) in pairs {
            let export = if export { "export " } else { "" };
            let _ = writeln!(out, "{export}{prefix}_{name}={}", shell_quote(&value));
        }
        out
    }
}

/// Every endpoint's connection list, keyed by endpoint id.
pub fn relationships(service: &Service) -> BTreeMap<String, Vec<Connection>> {
    service
        .config
        .endpoints
        .iter()
        .filter_map(|e| {
            Some((
                e.id.clone(),
                vec![Connection::for_endpoint(service, &e.id)?],
            ))
        })
        .collect()
}

/// The default variable prefix of an endpoint: its id in upper case.
pub fn default_prefix(endpoint: &str) -> String {
    endpoint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Quotes a value for POSIX shells only when it needs it.
fn shell_quote(value: &str) -> String {
    // An empty value stays empty (`NAME_USERNAME=`), as the platform prints it.
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:@%+,".contains(c);
    if value.chars().all(plain) {
        return value.to_owned();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("vkms.abc-_123"), "vkms.abc-_123");
        assert_eq!(shell_quote(""), "");
        assert_eq!(shell_quote("['127.0.0.1']"), r"'['\''127.0.0.1'\'']'");
        assert_eq!(shell_quote("a b"), "'a b'");
    }

    #[test]
    fn default_prefix_is_the_upper_case_endpoint_id() {
        assert_eq!(default_prefix("manage_keys"), "MANAGE_KEYS");
        assert_eq!(default_prefix("app-enc"), "APP_ENC");
    }

    #[test]
    fn service_type_names_the_minor_version() {
        assert!(service_type().starts_with("vault-kms:0."));
    }
}
