//! `sys/health`, `sys/seal-status`, `sys/init` and `sys/leader`: unauthenticated
//! status endpoints, answered as raw objects without the envelope, as Vault does.
//!
//! vault-kms has no seal: it is always initialized, unsealed and active.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::Serialize;

use super::error::ApiError;
use super::response::json_response;
use crate::service::Service;

/// The version reported where Vault reports its own.
const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Serialize)]
struct Health<'a> {
    initialized: bool,
    sealed: bool,
    standby: bool,
    replication_performance_mode: &'static str,
    replication_dr_mode: &'static str,
    server_time_utc: i64,
    version: &'static str,
    cluster_name: &'a str,
    cluster_id: &'a str,
}

#[derive(Serialize)]
struct SealStatus<'a> {
    #[serde(rename = "type")]
    seal_type: &'static str,
    initialized: bool,
    sealed: bool,
    t: u8,
    n: u8,
    progress: u8,
    nonce: &'static str,
    recovery_seal: bool,
    version: &'static str,
    migration: bool,
    cluster_name: &'a str,
    cluster_id: &'a str,
    storage_type: &'static str,
}

#[derive(Serialize)]
struct Init {
    initialized: bool,
}

#[derive(Serialize)]
struct Leader {
    ha_enabled: bool,
}

/// Answers `path` if it is one of the status endpoints; `None` otherwise.
pub fn handle(
    service: &Service,
    path: &str,
    method: &Method,
    query: Option<&str>,
) -> Option<Result<Response, ApiError>> {
    let head = method == Method::HEAD;
    let readable = method == Method::GET || (head && path == "sys/health");
    let response = match path {
        "sys/health" | "sys/seal-status" | "sys/init" | "sys/leader" if !readable => {
            Err(ApiError::MethodNotAllowed)
        }
        "sys/health" => health(service, query, head),
        "sys/seal-status" => Ok(seal_status(service)),
        "sys/init" => Ok(json_response(StatusCode::OK, &Init { initialized: true })),
        "sys/leader" => Ok(json_response(StatusCode::OK, &Leader { ha_enabled: false })),
        _ => return None,
    };
    Some(response)
}

fn health(service: &Service, query: Option<&str>, head: bool) -> Result<Response, ApiError> {
    // `activecode` picks the status of a healthy active node (default 200); the
    // codes for standby, sealed and uninitialized states never apply here.
    let mut status = StatusCode::OK;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let code = || value.parse::<u16>().map_err(|_| ApiError::BadRequestEmpty);
        match name.as_ref() {
            // Only final statuses: an informational one would break the exchange.
            "activecode" => {
                status = StatusCode::from_u16(code()?)
                    .ok()
                    .filter(|s| (200..=599).contains(&s.as_u16()))
                    .ok_or(ApiError::BadRequestEmpty)?;
            }
            "standbycode" | "sealedcode" | "uninitcode" | "perfstandbyactivecode" => {
                code()?;
            }
            _ => {}
        }
    }

    if head {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = status;
        return Ok(response);
    }
    let body = Health {
        initialized: true,
        sealed: false,
        standby: false,
        replication_performance_mode: "disabled",
        replication_dr_mode: "disabled",
        server_time_utc: service.clock.now().unix_timestamp(),
        version: VERSION,
        cluster_name: &service.cluster.name,
        cluster_id: &service.cluster.id,
    };
    Ok(json_response(status, &body))
}

fn seal_status(service: &Service) -> Response {
    let body = SealStatus {
        seal_type: "shamir",
        initialized: true,
        sealed: false,
        t: 1,
        n: 1,
        progress: 0,
        nonce: "",
        recovery_seal: false,
        version: VERSION,
        migration: false,
        cluster_name: &service.cluster.name,
        cluster_id: &service.cluster.id,
        storage_type: if service.config.in_memory {
            "inmem"
        } else {
            "sqlite"
        },
    };
    json_response(StatusCode::OK, &body)
}
