//! `doorstep-local`: run every Doorstep route on this machine, no AWS account needed.

use doorstep_core::chrono::{Duration, Utc};
use doorstep_core::webhook::WebhookConfig;
use doorstep_embedded::{FileOutbox, SqliteStore};
use doorstep_local::config::LocalConfig;
use doorstep_local::serve::{serve, Limits};
use doorstep_local::{notifier, router, LocalApp};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// How often processed changes and expired records are pruned.
const CLEANUP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("import-loyalty") => std::process::exit(doorstep_local::import::run(&args[1..]).await),
        Some("--help" | "-h") => {
            println!("doorstep-local: every Doorstep route on this machine (see docs/local.md)");
            println!("{}", doorstep_local::import::USAGE);
            return Ok(());
        }
        Some(other) => {
            eprintln!(
                "unknown command '{other}'\n{}",
                doorstep_local::import::USAGE
            );
            std::process::exit(1);
        }
        None => {}
    }

    let config = LocalConfig::load(|name| std::env::var(name).ok())?;
    // One runner per data dir: the lock makes every in-progress claim found at start an orphan.
    let _lock = config.lock_data_dir()?;
    if !config.generated.is_empty() {
        // Shown once, to whoever started the runner; they are kept in the data dir from now on.
        println!(
            "Generated secrets (stored in {}):",
            config.data_dir.join("secrets.json").display()
        );
        for (name, value) in &config.generated {
            println!("  {name}={value}");
        }
    }
    let store = Arc::new(SqliteStore::open(&config.database_path())?);
    let orphaned = store.release_orphaned_claims()?;
    if orphaned > 0 {
        tracing::info!(
            orphaned,
            "messages a stopped run was sending are sent again now"
        );
    }
    let outbox = FileOutbox::new(config.data_dir.join("outbox.jsonl"))
        .with_send_delay(std::time::Duration::from_millis(config.test_send_delay_ms));
    let app = Arc::new(LocalApp::new(
        store.clone(),
        WebhookConfig {
            secrets: config.secrets.clone(),
            defaults: config.defaults.clone(),
            settings: config.settings.clone(),
        },
        config.settings.clone(),
        outbox,
        config.admin_token.expose(),
    ));
    // The notifier runs beside the routes, as the stream-driven Lambda and the schedule do on AWS.
    let ticking = app.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            interval.tick().await;
            if let Err(e) = ticking.notifier.tick(Utc::now()).await {
                tracing::warn!(error = %e, "notifier tick failed");
            }
        }
    });
    // Merchant webhooks, as the merchant-webhook Lambda delivers them from SQS on AWS.
    let worker = doorstep_local::webhooks::WebhookWorker {
        store: store.clone(),
        poster: Arc::new(doorstep_outbound::HttpPoster::new()?),
        secret: config.settings.merchant_webhook_secret.clone(),
    };
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            interval.tick().await;
            if let Err(e) = worker.tick(Utc::now()).await {
                tracing::warn!(error = %e, "merchant webhook delivery failed; will retry");
            }
        }
    });
    let retention = Duration::days(i64::from(config.settings.retention_days));
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(CLEANUP_EVERY);
        loop {
            interval.tick().await;
            match store.cleanup(Utc::now(), retention, notifier::CURSOR) {
                Ok(cleaned) => tracing::info!(?cleaned, "expired records pruned"),
                Err(e) => tracing::warn!(error = %e, "cleanup failed; will retry"),
            }
        }
    });
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
    let listener = tokio::net::TcpListener::bind(address).await?;
    println!(
        "Doorstep listening on http://{address} (data in {})",
        config.data_dir.display()
    );
    serve(listener, router(app), Limits::default(), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
