//! `doorstep-local import-loyalty FILE.csv [--dynamodb-table TABLE]`: migrates point balances
//! into the local runner's database, or (with `--dynamodb-table`) into the stack's table on AWS
//! with the usual AWS credentials. The same core import either way (`loyalty::import`).

use crate::config::LocalConfig;
use doorstep_core::chrono::Utc;
use doorstep_core::loyalty::import;
use doorstep_core::ports::Store;
use std::io::Write;
use std::time::Instant;

pub const USAGE: &str = "usage: doorstep-local import-loyalty FILE.csv [--dynamodb-table TABLE]";

/// Runs the import; the exit code is 0 when every row was imported, 2 when some were bad, 1 when
/// the file could not be imported at all.
pub async fn run(args: &[String]) -> i32 {
    let (mut file, mut table) = (None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dynamodb-table" => table = args.next().cloned(),
            other if file.is_none() && !other.starts_with("--") => file = Some(other.to_string()),
            _ => {
                eprintln!("{USAGE}");
                return 1;
            }
        }
    }
    let Some(file) = file else {
        eprintln!("{USAGE}");
        return 1;
    };
    let config = match LocalConfig::load(|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{file}: {e}");
            return 1;
        }
    };
    let store: Box<dyn Store> = match table {
        Some(table) => {
            // A laptop: the whole provider chain (profiles, SSO, environment).
            let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(doorstep_aws::runtime::https_client())
                .load()
                .await;
            eprintln!("importing into DynamoDB table {table}");
            Box::new(doorstep_aws::DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&aws),
                table,
            ))
        }
        None => match doorstep_embedded::SqliteStore::open(&config.database_path()) {
            Ok(store) => {
                eprintln!("importing into {}", config.database_path().display());
                Box::new(store)
            }
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        },
    };
    let started = Instant::now();
    let mut last_drawn = Instant::now();
    let progress = |done: usize, total: usize| {
        if done != total && last_drawn.elapsed().as_millis() < 100 {
            return;
        }
        last_drawn = Instant::now();
        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-6);
        let filled = (done * 30).checked_div(total).unwrap_or(30);
        eprint!(
            "\r  [{}{}] {done}/{total} rows  {rate:.0} rows/s ",
            "#".repeat(filled),
            ".".repeat(30 - filled)
        );
        let _ = std::io::stderr().flush();
    };
    let report = match import::import(
        store.as_ref(),
        &config.settings,
        &text,
        Utc::now(),
        progress,
    )
    .await
    {
        Ok(report) => report,
        Err(e) => {
            eprintln!("\n{file}: {e}");
            return 1;
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    eprintln!();
    println!(
        "{} rows in {seconds:.1} s: {} imported, {} already imported, {} customers created, {} bad",
        report.rows,
        report.imported,
        report.already,
        report.customers_created,
        report.bad.len()
    );
    for bad in report.bad.iter().take(100) {
        println!("  line {}: {}", bad.line, bad.reason);
    }
    if report.bad.len() > 100 {
        println!("  … and {} more", report.bad.len() - 100);
    }
    match report.bad.is_empty() {
        true => 0,
        false => 2,
    }
}
