//! The `vault-kms` command: parse arguments, set up logging, run the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;
use vault_kms::clock::SystemClock;
use vault_kms::config::{Config, DEFAULT_CONFIG_PATH};
use vault_kms::connection::{self, Connection};
use vault_kms::secret::SecretString;
use vault_kms::service::{Mode, Service};

/// A key management service that speaks the HashiCorp Vault transit API.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Config file [default: config/vault-kms.yaml; with --dev and no such file,
        /// none: a development server without endpoints].
        #[arg(long, env = "VAULT_KMS_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address, overriding the config's `listen` (e.g. 0.0.0.0:8200).
        #[arg(long, env = "VAULT_KMS_LISTEN")]
        listen: Option<String>,
        /// Log line format.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Development mode: a root token with every capability, printed at start.
        #[arg(long)]
        dev: bool,
        /// The root token to use in development mode (default: a random one).
        #[arg(long, requires = "dev")]
        dev_root_token_id: Option<String>,
        /// Keep everything in memory; nothing survives the process.
        #[arg(long)]
        in_memory: bool,
    },
    /// Print every endpoint's connection details as JSON.
    Relationships {
        /// Config file.
        #[arg(long, env = "VAULT_KMS_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// The server's listen address, if `serve` overrides the config's.
        #[arg(long, env = "VAULT_KMS_LISTEN")]
        listen: Option<String>,
    },
    /// Print one endpoint's connection details as NAME_PROPERTY=value lines.
    Env {
        /// The endpoint id.
        endpoint: String,
        /// Config file.
        #[arg(long, env = "VAULT_KMS_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Variable name prefix (default: the endpoint id in upper case).
        #[arg(long)]
        prefix: Option<String>,
        /// Start each line with `export `.
        #[arg(long)]
        export: bool,
        /// The server's listen address, if `serve` overrides the config's.
        #[arg(long, env = "VAULT_KMS_LISTEN")]
        listen: Option<String>,
    },
    /// Exit 0 if the server at ADDRESS answers /v1/sys/health with 200.
    Health {
        /// host:port of the server.
        #[arg(long, default_value = "127.0.0.1:8200")]
        address: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = match &cli.command {
        Command::Serve { log_format, .. } => Some(*log_format),
        Command::Relationships { .. } | Command::Env { .. } => Some(LogFormat::Text),
        Command::Health { .. } => None,
    };
    // Held until the command ends: dropping it writes the last lines.
    let logs = match log_format.map(init_tracing).transpose() {
        Ok(guard) => guard,
        Err(message) => {
            eprintln!("vault-kms: {message}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve {
            config,
            listen,
            log_format: _,
            dev,
            dev_root_token_id,
            in_memory,
        } => {
            let dev = dev.then_some(dev_root_token_id);
            serve(config.as_deref(), listen.as_deref(), dev, in_memory)
        }
        Command::Relationships { config, listen } => relationships(&config, listen.as_deref()),
        Command::Env {
            endpoint,
            config,
            prefix,
            export,
            listen,
        } => env(
            &config,
            listen.as_deref(),
            &endpoint,
            prefix.as_deref(),
            export,
        ),
        Command::Health { address } => vault_kms::probe::check_health(&address),
    };
    // Write the gathered log lines first, so that a final error comes after them.
    drop(logs);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("vault-kms: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` sets levels (default `info`).
/// Lines gather in memory and a background thread writes them every few
/// milliseconds (see `vault_kms::log`), so that request handling never waits on
/// stderr and a busy server does not pay a system call per line; nothing is dropped,
/// and the returned guard writes what is left when it is dropped at exit.
fn init_tracing(format: LogFormat) -> Result<vault_kms::log::FlushGuard, String> {
    let (writer, guard) =
        vault_kms::log::batched(std::io::stderr(), vault_kms::log::FLUSH_INTERVAL)
            .map_err(|e| format!("cannot start the log writer: {e}"))?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(vault_kms::log::UtcMicros)
        .with_writer(writer)
        .with_ansi(terminal);
    match format {
        LogFormat::Text if terminal => builder.init(),
        // The default field formatter styles every field name even when colours are
        // off; plain `name=value` pairs give the same text at a fraction of the cost.
        LogFormat::Text => builder.fmt_fields(vault_kms::log::PlainFields).init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(guard)
}

/// Loads a config and applies a `--listen` override.
fn load(config_path: &Path, listen: Option<&str>) -> Result<Config, String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    with_listen(config, listen)
}

fn with_listen(mut config: Config, listen: Option<&str>) -> Result<Config, String> {
    if let Some(listen) = listen {
        config.listen = listen
            .parse()
            .map_err(|_| format!("--listen {listen:?} is not an address like 0.0.0.0:8200"))?;
    }
    Ok(config)
}

/// Opens a data dir to read connection details; creates nothing.
fn inspect(config: &Path, listen: Option<&str>) -> Result<Service, String> {
    let config = load(config, listen)?;
    if config.in_memory {
        return Err(format!(
            "{}: in_memory is set, so no token outlives its server; read the tokens from a \
             persistent data dir instead",
            config.path.display()
        ));
    }
    Service::open(config, Arc::new(SystemClock), Mode::Inspect).map_err(|e| e.to_string())
}

/// `dev` is `Some` in development mode, holding the requested root token id.
/// `config_path` is `None` when none is named: the default file, which a development
/// server may go without, as `vault server -dev` needs no config.
fn serve(
    config_path: Option<&Path>,
    listen: Option<&str>,
    dev: Option<Option<String>>,
    in_memory: bool,
) -> Result<(), String> {
    let default_path = Path::new(DEFAULT_CONFIG_PATH);
    let mut config = match config_path {
        Some(path) => load(path, listen)?,
        None if dev.is_some() && !default_path.exists() => {
            tracing::info!(
                path = DEFAULT_CONFIG_PATH,
                "no config file: a development server without endpoints"
            );
            let empty = Config::parse(default_path, "").map_err(|e| e.to_string())?;
            with_listen(empty, listen)?
        }
        None => load(default_path, listen)?,
    };
    config.in_memory |= in_memory;
    if let Some(id) = dev {
        let token = match id {
            Some(id) if !id.is_empty() => id,
            Some(_) => return Err("--dev-root-token-id must not be empty".to_owned()),
            None => vault_kms::auth::token::random_token().map_err(|e| e.to_string())?,
        };
        config.dev_root_token = Some(SecretString::new(token));
    }
    config.check_servable().map_err(|e| e.to_string())?;

    // Bind first: a server that cannot listen must not create keys or tokens.
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let address = config.listen;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(address))
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;

    let service =
        Service::open(config, Arc::new(SystemClock), Mode::Serve).map_err(|e| e.to_string())?;
    if let Some(root) = &service.config.dev_root_token {
        // Like Vault's dev server, print the root token for the person who started
        // it, on standard output (never in the log).
        println!(
            "vault-kms is running in development mode: the root token below has every \
             capability.\n\nRoot Token: {}\n",
            root.expose()
        );
    }

    runtime.block_on(vault_kms::serve_on(
        listener,
        Arc::new(service),
        shutdown_signal(),
    ))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

fn relationships(config: &Path, listen: Option<&str>) -> Result<(), String> {
    let service = inspect(config, listen)?;
    let all = connection::relationships(&service);
    let json = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
    println!("{json}");
    Ok(())
}

fn env(
    config: &Path,
    listen: Option<&str>,
    endpoint: &str,
    prefix: Option<&str>,
    export: bool,
) -> Result<(), String> {
    let service = inspect(config, listen)?;
    let connection = Connection::for_endpoint(&service, endpoint).ok_or_else(|| {
        format!(
            "no endpoint {endpoint:?} in {}",
            service.config.path.display()
        )
    })?;
    let prefix = prefix.map_or_else(|| connection::default_prefix(endpoint), str::to_owned);
    let valid_name = prefix
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(format!(
            "--prefix {prefix:?} is not a shell variable name (letters, digits and _)"
        ));
    }
    if let Some(token) = service.tokens.get(endpoint)
        && token.expires.is_some_and(|e| e <= service.clock.now())
    {
        eprintln!("vault-kms: warning: the token of endpoint {endpoint} has expired");
    }
    print!("{}", connection.env_lines(&prefix, export));
    Ok(())
}
