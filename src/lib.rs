//! vault-kms: a key management service that speaks the HashiCorp Vault transit API.
//!
//! Applications send data to vault-kms and get it signed, verified, encrypted,
//! decrypted or rewrapped under named, versioned keys; they never hold the keys.
//!
//! # Layout
//! - [`config`]: the YAML file: listener, data dir, endpoints of (policy, key, type).
//! - [`service`]: opening a data dir: storage, master key, keys and tokens.
//! - [`http`]: Vault's request pipeline and the transit endpoints.
//! - [`auth`]: endpoint tokens and the policies they carry.
//! - [`keyring`]: named keys, their versions and version rules.
//! - [`crypto`]: the algorithms, one file per family, on aws-lc-rs (and AWS-LC's C API
//!   where aws-lc-rs lacks a combination).
//! - [`barrier`]: the master key and the encryption of everything stored.
//! - [`storage`]: the durable record store behind a small trait (SQLite).
//! - [`connection`]: connection details as the platform prints them.
//! - [`probe`]: the `health` command's check of a running server.
//! - [`encoding`]: base64 with Vault's exact rules.
//! - [`log`]: where log lines go: batched writes from a background thread.
//! - [`secret`]: zeroizing, unprintable containers for secrets.
//! - [`clock`]: injectable time.

pub mod auth;
pub mod barrier;
pub mod clock;
pub mod config;
pub mod connection;
pub mod crypto;
pub mod encoding;
pub mod http;
pub mod keyring;
pub mod log;
pub mod probe;
pub mod secret;
pub mod service;
pub mod storage;

use std::future::Future;
use std::sync::Arc;

use service::Service;

/// Binds the configured listen address and serves until `shutdown` completes.
///
/// # Errors
/// A message when the address cannot be bound or the listener fails.
pub async fn run(
    service: Arc<Service>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let address = service.config.listen;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    serve_on(listener, service, shutdown).await
}

/// Serves on an already bound listener until `shutdown` completes.
///
/// # Errors
/// A message when the listener fails.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    service: Arc<Service>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        address = %address,
        keys = service.keyring.names().len(),
        endpoints = service.config.endpoints.len(),
        master_key = ?service.master_key_source,
        "vault-kms listening"
    );
    let rotator = tokio::spawn(rotate_periodically(service.clone()));
    let read_timeout = service.config.read_timeout;
    let served = http::serve(listener, http::router(service), read_timeout, shutdown)
        .await
        .map_err(|e| format!("server failed: {e}"));
    rotator.abort();
    served
}

/// How often the server looks for keys whose automatic rotation is due. Vault
/// checks about once a minute too, so a rotation happens within a minute of its
/// time.
const ROTATION_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

async fn rotate_periodically(service: Arc<Service>) {
    let mut interval = tokio::time::interval(ROTATION_CHECK_INTERVAL);
    loop {
        interval.tick().await;
        for name in service.keyring.rotate_due_keys().await {
            tracing::info!(key = %name, "rotated key automatically");
        }
    }
}
