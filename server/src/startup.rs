//! Building the application: database, state, router, and serving it.

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use app::{
    model::Role,
    server::{
        last_used::LastUsed,
        password::Hasher,
        secret_box::{KeySource, SecretBox},
        throttle::LoginThrottle,
        two_factor, users, AppState, AppStateInner, SecurityConfig, Store,
    },
    shell, App,
};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};

use crate::{
    config::{CreateAdminArgs, DatabaseArgs, ServeArgs},
    http, metrics,
};

/// A server bound to a listener, ready to run. Tests bind port 0 and read `address()`.
pub struct Application {
    address: SocketAddr,
    listener: tokio::net::TcpListener,
    router: Router,
    state: AppState,
    timeouts: http::serve::Timeouts,
    metrics: Option<metrics::Exporter>,
}

impl Application {
    pub async fn build(
        args: ServeArgs,
        listener: tokio::net::TcpListener,
    ) -> Result<Application, String> {
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let url = &args.database.database_url;
        // With --no-migrate the schema is `tokenwell migrate`'s job; refuse one it has not done.
        let opened =
            if args.no_migrate { Store::open_existing(url).await } else { Store::open(url).await };
        let store = opened.map_err(|e| e.to_string())?;
        let passwords = Hasher::new().await.map_err(|e| e.to_string())?;
        // Absolute: leptos resolves a relative name against the executable's directory.
        let hash_file = std::path::absolute(args.site_root.join(http::assets::HASH_FILE))
            .map_err(|e| e.to_string())?;
        let leptos_options = LeptosOptions::builder()
            .output_name("tokenwell")
            .site_root(args.site_root.to_string_lossy().to_string())
            .site_pkg_dir("pkg")
            // cargo-leptos `hash-files` names the site's WASM, JS and CSS by their content and
            // lists the hashes here (Cargo.toml); the shell links those names when it exists.
            .hash_files(hash_file.is_file())
            .hash_file(hash_file.to_string_lossy().into())
            .site_addr(address)
            .env(match std::env::var("LEPTOS_ENV").as_deref() {
                Ok("DEV") | Ok("dev") | Ok("development") => leptos::config::Env::DEV,
                _ => leptos::config::Env::PROD,
            })
            .build();
        let (secrets, source) = SecretBox::load(args.secret_key.as_deref(), &args.data_dir)
            .map_err(|e| e.to_string())?;
        if source == KeySource::Generated {
            tracing::warn!(
                path = %args.data_dir.join(app::server::secret_box::KEY_FILE).display(),
                "generated a new secret key for two-factor secrets; set TOKENWELL_SECRET_KEY to \
                 the same value on every instance that shares this database"
            );
        }
        let public_url = args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{}", address.port()));
        let webauthn = two_factor::passkeys_for(&public_url)?;
        if webauthn.is_none() {
            tracing::warn!(%public_url, "passkeys are off: the public address is not a host name");
        }
        let throttle = LoginThrottle::new(store.clone());
        throttle.start_sweeping();
        store.start_search_indexer();
        let state = AppState::new(AppStateInner {
            leptos_options,
            store: store.clone(),
            security: SecurityConfig {
                secure_cookies: args.secure_cookies,
                initial_password_lifetime: std::time::Duration::from_secs(
                    args.initial_password_hours * 3600,
                ),
                reauth_window: Duration::from_secs(args.reauth_secs),
                ..SecurityConfig::default()
            },
            throttle,
            passwords,
            last_used: LastUsed::start(store.clone()),
            log_budget: Default::default(),
            secrets,
            webauthn,
            session_lookups: Default::default(),
        });
        let router = router(state.clone(), &args);
        let timeouts = http::serve::Timeouts {
            header: Duration::from_secs(args.header_timeout_secs),
            body_stall: Duration::from_secs(args.request_timeout_secs),
        };
        let metrics = match args.metrics_addr {
            Some(addr) => Some(metrics::Exporter::bind(addr, store.clone(), timeouts).await?),
            None => None,
        };
        Ok(Application { address, listener, router, state, timeouts, metrics })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where `/metrics` is served, when `--metrics-addr` is set.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(metrics::Exporter::address)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(self) -> Result<(), String> {
        let metrics = self.metrics.map(|exporter| tokio::spawn(exporter.run()));
        http::serve::serve(self.listener, self.router, self.timeouts, shutdown_signal()).await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        self.state.store.close().await;
        Ok(())
    }
}

/// The app's routes, found once per process. leptos finds them by rendering the app with
/// resource loading switched off for the whole process (`SuppressResourceLoad`), and a
/// resource first polled in that window never loads (leptos-rs/leptos#4773): a page that a
/// router built earlier was rendering meanwhile stalled until its client gave up. A server
/// builds one router; the tests build many in one process, and stalled now and then.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Pages, server functions, the token API, health checks, static files, and the
/// middleware that protects all of them.
pub fn router(state: AppState, args: &ServeArgs) -> Router {
    let routes = route_list();
    let context = {
        let state = state.clone();
        move || provide_context(state.clone())
    };
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .route(app::routes::AUDIT_CSV, axum::routing::get(http::export::audit_csv))
        .fallback(http::assets::files_or_page(&state.leptos_options, context, shell));
    http::wire(pages, state, args)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// `tokenwell migrate`: opening the store applies what is missing.
pub async fn migrate(args: &DatabaseArgs) -> Result<(), String> {
    let store = Store::open(&args.database_url).await.map_err(|e| e.to_string())?;
    store.close().await;
    Ok(())
}

/// `tokenwell create-admin` and `create-user`. Returns the normalised email.
pub async fn create_user(
    args: &CreateAdminArgs,
    role: Role,
    password: String,
) -> Result<String, String> {
    users::create_from_command_line(
        &args.database.database_url,
        &args.org,
        args.name.as_deref(),
        &args.email,
        role,
        password,
    )
    .await
    .map_err(|e| e.to_string())
}
