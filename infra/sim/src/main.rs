//! `cargo run --release -p doorstep-sim -- --orders N --days D --seed S --out DIR [--aws ENDPOINT] [--end YYYY-MM-DD]`
//!
//! Writes `DIR/report.json` and `DIR/report.html` and prints the trust and cost tables. Exits 1
//! when any shopper-trust property was violated or a request was refused.

use doorstep_core::chrono::{Datelike, NaiveDate, Utc};
use doorstep_sim::{run, Config};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: doorstep-sim [--orders N (10000)] [--days D (30)] [--seed S (1)] [--out DIR (target/sim)] [--aws ENDPOINT] [--end YYYY-MM-DD (today)]";

fn parse() -> Result<Config, String> {
    let mut config = Config {
        orders: 10_000,
        days: 30,
        seed: 1,
        out: PathBuf::from("target/sim"),
        aws: None,
        end: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: '{v}' is not a number"))
        };
        match flag.as_str() {
            "--orders" => config.orders = number(value()?)?.clamp(1, 1_000_000) as usize,
            "--days" => config.days = number(value()?)?.clamp(1, 365) as i64,
            "--seed" => config.seed = number(value()?)?,
            "--out" => config.out = PathBuf::from(value()?),
            "--aws" => config.aws = Some(value()?),
            "--end" => config.end = Some(end_day(&value()?)?),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    Ok(config)
}

/// The day a month ends at the start of: a real date, no later than today (every event of
/// the month lies in the past, as a real provider's would) and no earlier than 2001.
fn end_day(raw: &str) -> Result<NaiveDate, String> {
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| format!("--end: '{raw}' is not a date (YYYY-MM-DD)"))?;
    let today = Utc::now().date_naive();
    match day.year() > 2000 && day <= today {
        true => Ok(day),
        false => Err(format!(
            "--end: {day} is not between 2001-01-01 and today ({today})"
        )),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match parse() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(&config).await {
        Ok(report) => {
            println!("{}", report.summary());
            println!("wrote {}/report.json and report.html", config.out.display());
            match report.trust_violations == 0
                && report.requests_refused.is_empty()
                && report.failures.is_empty()
            {
                true => ExitCode::SUCCESS,
                false => ExitCode::FAILURE,
            }
        }
        Err(e) => {
            eprintln!("doorstep-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
