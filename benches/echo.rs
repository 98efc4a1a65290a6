//! A bare HTTP echo server: the ceiling of the HTTP stack under the benchmark's load.
//!
//! It runs on the same HTTP loop as vault-kms (`vault_kms::http::serve`: hyper's
//! HTTP/1.1, axum's router, a multi-threaded tokio runtime with one worker per core,
//! as `vault-kms serve` builds it) and answers every request with
//! 200 and the request's own body, without parsing, authentication, cryptography or
//! logging. `bench/run` starts it with `--listen 127.0.0.1:PORT` and drives it like
//! the servers. Run without `--listen` (as `cargo bench` does) it does nothing.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::Router;
use axum::body::Bytes;

async fn echo(body: Bytes) -> Bytes {
    body
}

/// The address after `--listen`, if the arguments hold one.
fn listen_address() -> Option<Result<SocketAddr, String>> {
    let mut args = std::env::args().skip_while(|arg| arg != "--listen").skip(1);
    let value = args.next()?;
    Some(
        value
            .parse()
            .map_err(|_| format!("--listen {value:?} is not an address like 127.0.0.1:8300")),
    )
}

async fn serve(address: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let read_timeout = std::time::Duration::from_secs(30);
    let forever = std::future::pending::<()>();
    vault_kms::http::serve(
        listener,
        Router::new().fallback(echo),
        read_timeout,
        forever,
    )
    .await
}

fn main() -> ExitCode {
    let address = match listen_address() {
        None => {
            println!("echo: an HTTP echo server for bench/run; start it with --listen ADDRESS");
            return ExitCode::SUCCESS;
        }
        Some(Err(message)) => {
            eprintln!("echo: {message}");
            return ExitCode::FAILURE;
        }
        Some(Ok(address)) => address,
    };

    let served =
        tokio::runtime::Runtime::new().and_then(|runtime| runtime.block_on(serve(address)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("echo: {err}");
            ExitCode::FAILURE
        }
    }
}
