//! `report.json` for machines and `report.html` (tables and inline SVG charts, no script) for a
//! merchant.

use crate::measure::{Cost, Distribution, Measured, Trust};
use crate::world::World;
use crate::Config;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub seed: u64,
    pub days: i64,
    /// The UTC day the month ended at the start of (`--end`).
    pub end: doorstep_core::chrono::NaiveDate,
    pub backend: &'static str,
    pub orders: usize,
    pub shipments: usize,
    pub customers: usize,
    pub subscriptions: usize,
    pub events: u64,
    pub events_per_second: f64,
    pub wall_seconds: f64,
    pub trust: Trust,
    pub trust_violations: usize,
    pub messages_per_shipment: Distribution,
    pub messages_per_shipment_by_channel: BTreeMap<String, f64>,
    pub messages_per_shipment_by_kind: BTreeMap<String, f64>,
    pub messages: BTreeMap<String, usize>,
    pub messages_sent: usize,
    pub messages_suppressed: usize,
    pub messages_deferred: usize,
    pub minutes_from_event_to_message: Distribution,
    pub storage_calls_per_shipment: f64,
    pub storage_calls: BTreeMap<String, u64>,
    pub lambda_invocations: BTreeMap<String, u64>,
    /// Handler milliseconds by function, each invocation rounded up as Lambda bills it (on
    /// `--aws`, time spent waiting for the endpoint included).
    pub lambda_ms: BTreeMap<String, f64>,
    pub requests_refused: Vec<(String, u16)>,
    /// What failed inside the stack (jobs, notifier, stream, dead letters), with how often.
    pub failures: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    #[serde(skip)]
    pub sms_by_local_hour: Vec<usize>,
    #[serde(skip)]
    pub email_by_local_hour: Vec<usize>,
    #[serde(skip)]
    pub shipments_by_count: Vec<usize>,
}

impl Report {
    pub fn new(config: &Config, world: &World, m: Measured) -> Self {
        Self {
            seed: config.seed,
            days: config.days,
            end: world.end.date_naive(),
            backend: if config.aws.is_some() {
                "dynamodb"
            } else {
                "sqlite"
            },
            orders: world.orders.len(),
            shipments: m.shipments,
            customers: world.customers.len(),
            subscriptions: world.subscriptions.len(),
            events: m.events,
            events_per_second: m.events_per_second,
            wall_seconds: m.wall_seconds,
            trust_violations: m.trust.violations(),
            trust: m.trust,
            messages_per_shipment: m.messages.per_shipment,
            messages_per_shipment_by_channel: m.messages.by_channel,
            messages_per_shipment_by_kind: m.messages.by_kind,
            messages: m.messages.by_message,
            messages_sent: m.messages.sent,
            messages_suppressed: m.messages.suppressed,
            messages_deferred: m.messages.deferred,
            minutes_from_event_to_message: m.messages.minutes_after_event,
            storage_calls_per_shipment: m.storage_calls_per_shipment,
            storage_calls: m.storage_calls,
            lambda_invocations: m.invocations.lambda,
            lambda_ms: m.invocations.lambda_ms,
            requests_refused: m.refused,
            failures: m.failures,
            cost: m.cost,
            sms_by_local_hour: m.messages.sms_by_local_hour,
            email_by_local_hour: m.messages.email_by_local_hour,
            shipments_by_count: m.messages.shipments_by_count,
        }
    }

    /// The tables printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let t = &self.trust;
        let _ = writeln!(
            out,
            "doorstep-sim: {} orders, {} shipments over {} days (seed {}, {})",
            self.orders, self.shipments, self.days, self.seed, self.backend
        );
        let _ = writeln!(out, "\nshopper trust (each must be 0)");
        for (name, n) in [
            (
                "SMS inside the customer's quiet hours",
                t.sms_in_quiet_hours,
            ),
            ("marketing without consent", t.marketing_without_consent),
            (
                "promotions within 30 days of a <=2-star review",
                t.promotions_after_bad_review,
            ),
            (
                "failed attempts without the delivery-choice link",
                t.failed_attempts_without_choice_link,
            ),
            ("messages sent twice", t.duplicate_messages),
        ] {
            let _ = writeln!(out, "  {name:<52} {n}");
        }
        let _ = writeln!(
            out,
            "  {:<52} {}",
            "deferred messages superseded (not a violation)", t.deferred_superseded
        );
        let m = &self.messages_per_shipment;
        let _ = writeln!(
            out,
            "\nmessages per shipment: median {}, p95 {}, max {}",
            m.median, m.p95, m.max
        );
        let l = &self.minutes_from_event_to_message;
        let _ = writeln!(
            out,
            "minutes from the carrier's event to its message: median {:.1}, p95 {:.1}",
            l.median, l.p95
        );
        let _ = writeln!(
            out,
            "storage calls per shipment: {:.1}",
            self.storage_calls_per_shipment
        );
        let _ = writeln!(
            out,
            "speed: {} events in {:.1} s = {:.0} events/s",
            self.events, self.wall_seconds, self.events_per_second
        );
        if let Some(cost) = &self.cost {
            let _ = writeln!(out, "\ncost per 1,000 shipments (on-demand, us-east-1)");
            for line in &cost.lines {
                let _ = writeln!(
                    out,
                    "  {:<36} {:>10.3} per shipment x ${:.10} = ${:.5}",
                    line.item, line.per_shipment, line.unit_price_usd, line.per_1000_usd
                );
            }
            let _ = writeln!(out, "  {:<36} ${:.4} (at 10,000 shipments a month: ${:.4}; AfterShip Tracking Pro: ${:.2})", "total (Lambda + DynamoDB + API Gateway)", cost.per_1000_shipments_usd, cost.per_1000_shipments_at_10000_a_month_usd, cost.aftership_per_1000_usd);
        }
        if !self.failures.is_empty() {
            let _ = writeln!(out, "\nfailures inside the stack (each is a defect)");
            for (what, n) in &self.failures {
                let _ = writeln!(out, "  {n:>6} x {what}");
            }
        }
        if !self.requests_refused.is_empty() {
            let _ = writeln!(
                out,
                "\nrequests refused: {} (first: {:?})",
                self.requests_refused.len(),
                self.requests_refused.first()
            );
        }
        out
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Vertical bars with labels under each.
fn columns(title: &str, series: &[(&str, &str, &[usize])], labels: &[String]) -> String {
    let (w, h, pad) = (720.0, 220.0, 30.0);
    let n = labels.len().max(1) as f64;
    let top = series
        .iter()
        .map(|(_, _, values)| values.iter().copied().max().unwrap_or(0))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let band = (w - 2.0 * pad) / n;
    let bar = band / (series.len() as f64 + 1.0);
    let mut svg = format!("<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"{}\">", escape(title), h + 40.0, escape(title));
    for (s, (_, colour, values)) in series.iter().enumerate() {
        for (i, v) in values.iter().enumerate() {
            let height = (*v as f64) / top * h;
            let x = pad + i as f64 * band + s as f64 * bar;
            let _ = write!(svg, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{height:.1}\" fill=\"{colour}\"><title>{v}</title></rect>", h - height);
        }
    }
    for (i, label) in labels.iter().enumerate() {
        let x = pad + i as f64 * band + band / 2.0;
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            h + 14.0,
            escape(label)
        );
    }
    let mut legend_x = pad;
    for (name, colour, _) in series {
        let _ = write!(svg, "<rect x=\"{legend_x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>", h + 22.0, legend_x + 14.0, h + 31.0, escape(name));
        legend_x += 120.0;
    }
    svg.push_str("</svg></figure>");
    svg
}

/// Horizontal bars, largest first.
fn bars(title: &str, values: &[(String, f64)], unit: &str) -> String {
    let top = values
        .iter()
        .map(|(_, v)| *v)
        .fold(0.0, f64::max)
        .max(1e-12);
    let row = 18.0;
    let mut svg = format!("<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 720 {}\" role=\"img\" aria-label=\"{}\">", escape(title), row * values.len() as f64 + 10.0, escape(title));
    for (i, (label, v)) in values.iter().enumerate() {
        let y = i as f64 * row;
        let width = v / top * 380.0;
        let _ = write!(svg, "<text x=\"0\" y=\"{:.1}\" font-size=\"11\">{}</text><rect x=\"260\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"#0b6e4f\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{v:.3} {}</text>", y + 12.0, escape(label), y + 2.0, row - 5.0, 266.0 + width, y + 12.0, escape(unit));
    }
    svg.push_str("</svg></figure>");
    svg
}

pub fn html(report: &Report) -> String {
    let mut body = String::new();
    let t = &report.trust;
    let _ = write!(body, "<h1>A month of a store, measured</h1><p>{} orders, {} shipments, {} customers over {} days (seed {}), on {}; {} events in {:.1} s ({:.0} per second).</p>",
        report.orders, report.shipments, report.customers, report.days, report.seed, report.backend, report.events, report.wall_seconds, report.events_per_second);
    let _ = write!(
        body,
        "<h2>Shopper trust</h2><table><tr><th>property</th><th>violations</th></tr>"
    );
    for (name, n) in [
        (
            "SMS inside the customer's quiet hours",
            t.sms_in_quiet_hours,
        ),
        ("Marketing without consent", t.marketing_without_consent),
        (
            "Promotions within 30 days of a review of 2 stars or less",
            t.promotions_after_bad_review,
        ),
        (
            "Failed-attempt messages without the delivery-choice link",
            t.failed_attempts_without_choice_link,
        ),
        ("Messages sent twice", t.duplicate_messages),
    ] {
        let class = if n == 0 { "ok" } else { "bad" };
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=\"{class}\">{n}</td></tr>",
            escape(name)
        );
    }
    let _ = write!(body, "</table><p>Deferred by quiet hours and then overtaken by a later milestone (dropped, as intended): {}.</p>", t.deferred_superseded);
    // Failures inside the stack: a job, the notifier, the stream, a dead letter (each must be 0).
    let class = if report.failures.is_empty() {
        "ok"
    } else {
        "bad"
    };
    let total: u64 = report.failures.values().sum();
    let _ = write!(
        body,
        "<p>Failures inside the stack (jobs, notifier, stream, dead letters): <span class=\"{class}\">{total}</span></p>"
    );
    if !report.failures.is_empty() {
        body.push_str("<table><tr><th>failure</th><th>times</th></tr>");
        for (what, n) in &report.failures {
            let _ = write!(body, "<tr><td>{}</td><td>{n}</td></tr>", escape(what));
        }
        body.push_str("</table>");
    }
    let m = &report.messages_per_shipment;
    let l = &report.minutes_from_event_to_message;
    let _ = write!(body, "<h2>Messages</h2><p>Per shipment: median {}, 95th percentile {}, at most {}. From the carrier's event to its message (outside quiet hours): median {:.1} min, 95th percentile {:.1} min. Sent {}, suppressed {}, deferred {}.</p>",
        m.median, m.p95, m.max, l.median, l.p95, report.messages_sent, report.messages_suppressed, report.messages_deferred);
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    body.push_str(&columns(
        "Messages by the customer's local hour",
        &[
            ("SMS", "#c0392b", &report.sms_by_local_hour),
            ("email", "#2c7fb8", &report.email_by_local_hour),
        ],
        &hours,
    ));
    let counts: Vec<String> = (0..report.shipments_by_count.len())
        .map(|c| c.to_string())
        .collect();
    body.push_str(&columns(
        "Shipments by messages received",
        &[("shipments", "#0b6e4f", &report.shipments_by_count)],
        &counts,
    ));
    let mut sent: Vec<(String, f64)> = report
        .messages
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    sent.sort_by(|a, b| b.1.total_cmp(&a.1));
    body.push_str(&bars("Messages sent, by message", &sent, ""));
    let _ = write!(body, "<h2>Cost</h2>");
    match &report.cost {
        Some(cost) => {
            let _ = write!(body, "<table><tr><th>item</th><th>per shipment</th><th>unit price</th><th>per 1,000 shipments</th></tr>");
            for line in &cost.lines {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{:.3}</td><td>${:.10}</td><td>${:.5}</td></tr>",
                    escape(&line.item),
                    line.per_shipment,
                    line.unit_price_usd,
                    line.per_1000_usd
                );
            }
            let _ = write!(body, "<tr><th>Lambda + DynamoDB + API Gateway</th><td></td><td></td><th>${:.4}</th></tr></table><p>For a store shipping 10,000 parcels a month: ${:.4} per 1,000. AfterShip Tracking Pro: ${:.2} per 1,000 shipments.</p>", cost.per_1000_shipments_usd, cost.per_1000_shipments_at_10000_a_month_usd, cost.aftership_per_1000_usd);
            let mut by: Vec<(String, f64)> = cost
                .write_units_by
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            by.sort_by(|a, b| b.1.total_cmp(&a.1));
            body.push_str(&bars(
                "DynamoDB write units per shipment, by operation and item",
                &by,
                "WRU",
            ));
            let mut by: Vec<(String, f64)> = cost
                .read_units_by
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            by.sort_by(|a, b| b.1.total_cmp(&a.1));
            body.push_str(&bars(
                "DynamoDB read units per shipment, by operation",
                &by,
                "RRU",
            ));
        }
        None => {
            let _ = write!(body, "<p>On SQLite: {:.1} statements per shipment. Run with <code>--aws</code> for DynamoDB's units and prices.</p>", report.storage_calls_per_shipment);
        }
    }
    let per = report.shipments.max(1) as f64;
    let mut calls: Vec<(String, f64)> = report
        .storage_calls
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64 / per))
        .collect();
    calls.sort_by(|a, b| b.1.total_cmp(&a.1));
    calls.truncate(25);
    body.push_str(&bars(
        "Storage calls per shipment, by operation",
        &calls,
        "",
    ));
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Doorstep: a month, measured</title><style>body{{font:15px/1.5 system-ui,sans-serif;max-width:760px;margin:2rem auto;padding:0 1rem;color:#1b1b1f}}table{{border-collapse:collapse;margin:.5rem 0}}td,th{{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left}}.ok{{color:#1d6b3a;font-weight:700}}.bad{{color:#a1232b;font-weight:700}}figure{{margin:1.5rem 0}}figcaption{{font-weight:600}}svg{{width:100%;height:auto}}</style></head><body>{body}</body></html>"
    )
}

pub fn write(dir: &Path, report: &Report) -> Result<(), String> {
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("report.json"), json).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("report.html"), html(report)).map_err(|e| e.to_string())?;
    Ok(())
}
