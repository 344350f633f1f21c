//! Command line and environment.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::http::middleware::TrustedProxies;

#[derive(Debug, Parser)]
#[command(
    name = "tokenwell",
    version,
    about = "Tokenwell: auth tokens for your organization's API, CLI and File Forwarder"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Create an admin (and the organization, if none has that name). Reads the password
    /// from standard input.
    CreateAdmin(CreateAdminArgs),
    /// Create a user with a given role (admin, member or read-only). Reads the password
    /// from standard input.
    CreateUser(CreateUserArgs),
    /// Apply the database migrations, then exit. Run it once before starting instances
    /// with `serve --no-migrate`.
    Migrate(DatabaseArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite:PATH` (created on first start).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite:data/tokenwell.db")]
    pub database_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Directory with the built site (`pkg/` with the WASM, JS and CSS).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// Mark cookies Secure; set when Tokenwell is served over HTTPS.
    #[arg(long, env = "TOKENWELL_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,
    /// Hours after which an initial password that an admin generated stops working unless
    /// its user has replaced it.
    #[arg(long, env = "TOKENWELL_INITIAL_PASSWORD_HOURS", default_value_t = 72, value_parser = clap::value_parser!(u64).range(1..=8760))]
    pub initial_password_hours: u64,
    /// Largest file the API accepts, in bytes.
    #[arg(long, env = "TOKENWELL_MAX_UPLOAD_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_upload_bytes: usize,
    /// Where uploaded files are stored.
    #[arg(long, env = "TOKENWELL_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Uploads received at the same time; more are answered 503 with Retry-After.
    #[arg(long, env = "TOKENWELL_MAX_CONCURRENT_UPLOADS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_uploads: u32,
    /// Total size of one organization's files, in bytes; an upload beyond it gets 507.
    #[arg(long, env = "TOKENWELL_ORG_QUOTA_BYTES", default_value_t = 10 * 1024 * 1024 * 1024)]
    pub org_quota_bytes: u64,
    /// Seconds an upload may wait for its next bytes before it is abandoned with 408 (at most
    /// the request timeout, which bounds every request body's stalls).
    #[arg(long, env = "TOKENWELL_UPLOAD_IDLE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub upload_idle_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` is believed: comma-separated addresses or
    /// CIDR ranges (IPv4 and IPv6). Empty: the peer address is the client's.
    #[arg(long, env = "TOKENWELL_TRUSTED_PROXIES", default_value = "", hide_default_value = true, value_parser = TrustedProxies::parse)]
    pub trusted_proxies: TrustedProxies,
    /// Seconds a client has to send a request's headers; then the connection is closed.
    #[arg(long, env = "TOKENWELL_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,
    /// Seconds a console request (page or server function) may take, body included, before
    /// it is answered 408; no request body anywhere may stall for longer than this.
    #[arg(long, env = "TOKENWELL_REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,
    /// Console requests (pages, server functions, static files) handled at once; more are
    /// answered 503 with `Retry-After`. The token API and health checks are not counted.
    #[arg(long, env = "TOKENWELL_CONSOLE_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub console_concurrency: u32,
    /// Serve Prometheus metrics at `GET /metrics` on this address (e.g. 127.0.0.1:9100), a
    /// listener of its own that serves nothing else. Off when not set.
    #[arg(long, env = "TOKENWELL_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// The key that seals authenticator apps' secrets at rest: 64 hexadecimal digits (e.g.
    /// `openssl rand -hex 32`). When unset, one is generated into the data directory
    /// (`secret.key`) at first start. Instances that share a database must share the key.
    #[arg(long, env = "TOKENWELL_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// The address people open Tokenwell at, e.g. `https://tokens.example.com`: passkeys
    /// belong to its host name. Default: `http://localhost:PORT` (the listening port).
    #[arg(long, env = "TOKENWELL_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Seconds for which a sign-in (or "Confirm access") allows sensitive actions: generating
    /// or regenerating a token, adding a user, changing a role, disabling a user, resetting a
    /// password. After that the console asks for the password or a code again.
    #[arg(long, env = "TOKENWELL_REAUTH_SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub reauth_secs: u64,
    /// Do not apply migrations at start (run `tokenwell migrate` once instead); refuse to
    /// start when the database lacks any.
    #[arg(long, env = "TOKENWELL_NO_MIGRATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_migrate: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CreateAdminArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Organization name.
    #[arg(long)]
    pub org: String,
    #[arg(long)]
    pub email: String,
    /// Display name (defaults to the part of the email before the @).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CreateUserArgs {
    #[command(flatten)]
    pub person: CreateAdminArgs,
    /// admin, member or read-only.
    #[arg(long, value_parser = ["admin", "member", "read-only"])]
    pub role: String,
}

/// `tokenwell` with no subcommand serves, configured from the environment.
#[derive(Debug, Parser)]
struct ServeOnly {
    #[command(flatten)]
    args: ServeArgs,
}

impl ServeArgs {
    pub fn from_env() -> ServeArgs {
        ServeOnly::parse_from(["tokenwell"]).args
    }
}
