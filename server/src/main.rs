use std::{io::Read, process::ExitCode};

use app::model::{Choice, Role};
use clap::Parser;
use server::{
    config::{Cli, Command, CreateAdminArgs, DatabaseArgs, ServeArgs},
    startup, telemetry,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(ServeArgs::from_env()).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::CreateAdmin(args)) => create_user(args, Role::Admin).await,
        Some(Command::CreateUser(args)) => {
            let role = if args.role == "read-only" {
                Role::ReadOnly
            } else {
                Role::parse(&args.role).unwrap_or(Role::Member)
            };
            create_user(args.person, role).await
        }
        Some(Command::Migrate(args)) => migrate(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tokenwell: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let app = startup::Application::build(args, listener).await?;
    tracing::info!("listening on http://{}", app.address());
    if let Some(addr) = app.metrics_address() {
        tracing::info!("metrics at http://{addr}/metrics");
    }
    app.run_until_stopped().await
}

async fn create_user(args: CreateAdminArgs, role: Role) -> Result<(), String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let password = input.lines().next().unwrap_or_default().to_string();
    let email = startup::create_user(&args, role, password).await?;
    println!("Created {} {email} in organization {:?}.", role.label(), args.org.trim());
    Ok(())
}

async fn migrate(args: DatabaseArgs) -> Result<(), String> {
    startup::migrate(&args).await?;
    println!("The database is up to date.");
    Ok(())
}
