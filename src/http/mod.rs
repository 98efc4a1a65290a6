//! The HTTP layer: Vault's request pipeline in front of the transit handlers.
//!
//! - [`error`] and [`response`]: error answers and the success envelope.
//! - [`limits`]: the JSON complexity limit OpenBao applies to every body.
//! - [`params`]: body and query decoding with Vault's weak typing.
//! - [`route`]: paths and methods parsed into typed routes.
//! - [`sys`]: `sys/health` and the other unauthenticated status endpoints.
//! - [`token`] answers `auth/token/lookup-self`.
//! - [`transit`]: the transit endpoints, one file per route family.
//!
//! Every request passes the same steps in Vault's order: body size (413), JSON
//! complexity (400), token (403 `permission denied`), ACL (403 multierror), route
//! and method (404/405), then the handler. One log line per request records method,
//! route, status, latency and a short hash of the token, never the token or any
//! payload.

pub mod error;
pub mod limits;
pub mod params;
pub mod response;
pub mod route;
pub mod sys;
pub mod token;
pub mod transit;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use crate::auth::token::{log_id, token_digest};
use crate::auth::{Capability, TokenEntry};
use crate::service::Service;
use error::ApiError;
use params::Params;
use route::{Operation, Route, Transit};

/// The application router: every path goes through [`handle`].
pub fn router(service: Arc<Service>) -> Router {
    Router::new().fallback(handle).with_state(service)
}

/// What the log line of a request says besides its status.
#[derive(Debug, Default)]
struct LogFields {
    route: &'static str,
    token: Option<String>,
}

async fn handle(State(service): State<Arc<Service>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let mut log = LogFields {
        route: "unknown",
        token: None,
    };

    let response = match dispatch(&service, &parts, body, &mut log).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };

    tracing::info!(
        method = %parts.method,
        route = log.route,
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        token = log.token.as_deref().unwrap_or("-"),
        "request"
    );
    response
}

async fn dispatch(
    service: &Service,
    parts: &Parts,
    body: Body,
    log: &mut LogFields,
) -> Result<Response, ApiError> {
    let body = read_body(
        body,
        service.config.max_request_size,
        service.config.read_timeout,
    )
    .await?;

    let raw_path = parts.uri.path();
    let Some(path) = raw_path.strip_prefix("/v1/") else {
        return Err(ApiError::NoHandler(
            raw_path.trim_start_matches('/').to_owned(),
        ));
    };
    let path = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| ApiError::NoHandler(path.to_owned()))?;

    let mut query = Params::from_query(parts.uri.query());
    let list = parse_list_flag(&mut query, &parts.method)?;
    let operation = Operation::of(&parts.method, list);

    if let Some(response) = sys::handle(service, &path, &parts.method, parts.uri.query()) {
        log.route = "sys";
        return response;
    }

    limits::check_json_complexity(&body)?;

    if parts.method == Method::PATCH {
        let content_type = header_str(&parts.headers, header::CONTENT_TYPE.as_str());
        if content_type != Some("application/merge-patch+json") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "PATCH requires Content-Type of application/merge-patch+json, provided {}",
                content_type.unwrap_or_default()
            )));
        }
    }

    // A list operation addresses the path with a trailing slash, as in Vault.
    let route_path = if operation == Operation::List && !path.ends_with('/') {
        format!("{path}/")
    } else {
        path.to_string()
    };
    let route = Route::parse(&route_path);
    if let Ok(route) = route {
        log.route = route.label();
    }

    let presented = presented_token(&parts.headers).ok_or(ApiError::Unauthenticated)?;
    let digest = token_digest(presented);
    log.token = Some(log_id(&digest));
    let token = service
        .tokens
        .authenticate_digest(&digest, service.clock.now())
        .ok_or(ApiError::Unauthenticated)?;

    if operation == Operation::Options {
        return Err(ApiError::bad_request(
            "cannot handle internal-only request operation",
        ));
    }
    authorize(service, &token, &path, route.as_ref().ok(), operation)?;

    // Methods no route answers; only a root token gets this far with them.
    match (operation, &parts.method) {
        (Operation::Head, _) => return Ok(response::empty(StatusCode::METHOD_NOT_ALLOWED)),
        (Operation::Other, &Method::PATCH) => return Err(ApiError::UnsupportedOperation),
        (Operation::Other, _) => return Err(ApiError::MethodNotAllowed),
        _ => {}
    }
    if operation == Operation::Update && path.ends_with('/') {
        return Err(ApiError::bad_request(
            "cannot write to a path ending in '/'",
        ));
    }
    let route = route?;
    if !route.allows(operation) {
        return Err(ApiError::UnsupportedOperation);
    }

    let params = match operation {
        Operation::Update => {
            let content_type = header_str(&parts.headers, header::CONTENT_TYPE.as_str());
            Params::from_body(content_type, &body)?
        }
        _ => query,
    };

    match route {
        Route::LookupSelf => token::lookup_self(service, &token),
        Route::Transit(transit) => transit::handle(service, transit, operation, params).await,
    }
}

/// Reads a whole body: 413 past the size limit, 408 when the client is too slow,
/// 400 when the body is malformed (a broken chunked encoding, say).
async fn read_body(
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<axum::body::Bytes, ApiError> {
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit));
    match read.await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(err)) => {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                Err(ApiError::TooLarge)
            } else {
                Err(ApiError::bad_request("failed to read the request body"))
            }
        }
        Err(_) => Err(ApiError::RequestTimeout),
    }
}

/// Checks the token's ACL for the path and operation, as Vault does before routing.
fn authorize(
    service: &Service,
    token: &TokenEntry,
    path: &str,
    route: Option<&Route<'_>>,
    operation: Operation,
) -> Result<(), ApiError> {
    let Some(mut capability) = operation.capability() else {
        // No policy grants HEAD, PATCH or unknown methods; root holds every right.
        return if token.acl.is_root() {
            Ok(())
        } else {
            Err(ApiError::Denied)
        };
    };

    // Encrypting with a key that does not exist would create it (Vault's upsert),
    // which needs `create` rather than `update`.
    if let Some(Route::Transit(Transit::Encrypt(name))) = route
        && capability == Capability::Update
        && service.keyring.get(name).is_none()
    {
        capability = Capability::Create;
    }

    let acl_path = if operation == Operation::List && !path.ends_with('/') {
        format!("{path}/")
    } else {
        path.to_owned()
    };
    if token.acl.allows(&acl_path, capability) {
        Ok(())
    } else {
        Err(ApiError::Denied)
    }
}

/// Reads and removes `list` from GET query parameters (Go `ParseBool` values).
fn parse_list_flag(query: &mut Params, method: &Method) -> Result<bool, ApiError> {
    if method != Method::GET {
        return Ok(false);
    }
    let Some(value) = query.take("list") else {
        return Ok(false);
    };
    match value.as_str().unwrap_or_default() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(ApiError::BadRequestEmpty),
    }
}

/// The token of a request: `X-Vault-Token` if non-empty, else `Authorization: Bearer`.
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(token) = header_str(headers, "x-vault-token").map(str::trim)
        && !token.is_empty()
    {
        return Some(token);
    }
    headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// How long a shutdown waits for requests in flight before closing their
/// connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` completes, over HTTP/1.1.
///
/// Each connection gets a header read timeout, so that clients that send half a
/// request cannot hold connections (and file descriptors) forever; on shutdown the
/// listener closes at once and requests in flight get a bounded grace period.
///
/// # Errors
/// None at present: accept errors (such as running out of file descriptors) are
/// logged and retried.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(cause = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(read_timeout)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away mid-request is not the server's problem.
            let _ = connection.await;
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("closing connections still busy after the shutdown grace period");
        }
    }
    Ok(())
}
