//! Migrating balances from another program: a CSV file with a header row naming its columns
//! (`email`, `customer_id`, `points`, `expires_at`, `tier`, under their common spellings). Each
//! good row becomes an imported lot (and the customer's tier, when given); a bad row is reported
//! by line number and the others go on. Re-running the same file changes nothing: a row's id is
//! a digest of what it says (and how many identical rows came before it).

use super::service::{find_customer, update, CustomerRef, LoyaltyError};
use super::{Applied, Earn, ImportedTier, Source};
use crate::contact::Contact;
use crate::ids::{CustomerId, Token};
use crate::model::{Consents, Customer};
use crate::ports::Store;
use crate::settings::Settings;
use crate::timezone::TimezoneSource;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// Rows over this many fields or characters are not a loyalty export.
const MAX_FIELDS: usize = 64;
const MAX_FIELD_CHARS: usize = 512;

/// Splits CSV text (RFC 4180: quoted fields, doubled quotes, commas and newlines inside quotes,
/// CRLF or LF) into records, each with the line it starts on.
pub fn records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut record: Vec<String> = Vec::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .chars()
        .peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\r', false) if chars.peek() == Some(&'\n') => {}
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                if record.iter().any(|f| !f.trim().is_empty()) {
                    out.push((start, std::mem::take(&mut record)));
                }
                record.clear();
                line += 1;
                start = line;
            }
            ('\n', true) => {
                field.push(c);
                line += 1;
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        if record.iter().any(|f| !f.trim().is_empty()) {
            out.push((start, record));
        }
    }
    out
}

/// Which column holds what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    pub email: Option<usize>,
    pub customer_id: Option<usize>,
    pub points: Option<usize>,
    pub expires_at: Option<usize>,
    pub tier: Option<usize>,
}

/// Why a file cannot be imported at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is empty")]
    Empty,
    #[error("the header names no {0} column (accepted: {1})")]
    MissingColumn(&'static str, &'static str),
    #[error("loyalty is off: add a [loyalty] table to the settings")]
    Off,
}

const EMAIL: &[&str] = &[
    "email",
    "e_mail",
    "email_address",
    "emailaddress",
    "customer_email",
    "mail",
];
const CUSTOMER_ID: &[&str] = &[
    "customer_id",
    "customerid",
    "customer",
    "id",
    "doorstep_id",
    "member_id",
];
const POINTS: &[&str] = &[
    "points",
    "balance",
    "point_balance",
    "points_balance",
    "loyalty_points",
    "pts",
];
const EXPIRES_AT: &[&str] = &[
    "expires_at",
    "expiry",
    "expiry_date",
    "expiration",
    "expiration_date",
    "expires",
    "expire_at",
    "valid_until",
    "expires_on",
];
const TIER: &[&str] = &[
    "tier",
    "vip_tier",
    "level",
    "vip_level",
    "membership_tier",
    "membership",
];

fn normalized(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .trim_matches('_')
        .to_string()
}

/// Reads the header row.
pub fn columns(header: &[String]) -> Result<Columns, ImportError> {
    let find = |names: &[&str]| {
        header
            .iter()
            .position(|h| names.contains(&normalized(h).as_str()))
    };
    let columns = Columns {
        email: find(EMAIL),
        customer_id: find(CUSTOMER_ID),
        points: find(POINTS),
        expires_at: find(EXPIRES_AT),
        tier: find(TIER),
    };
    if columns.email.is_none() && columns.customer_id.is_none() {
        return Err(ImportError::MissingColumn(
            "customer (email or customer_id)",
            "email, e-mail, email_address, customer_id, customer, id",
        ));
    }
    if columns.points.is_none() {
        return Err(ImportError::MissingColumn(
            "points",
            "points, balance, point_balance, loyalty_points",
        ));
    }
    Ok(columns)
}

/// One good row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub customer: CustomerRef,
    pub points: u64,
    pub expires_at: Option<DateTime<Utc>>,
    pub tier: Option<String>,
}

/// A date or time in a cell: RFC 3339, or `YYYY-MM-DD` (the points last through that day, UTC).
fn expiry(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%Y/%m/%d"))
        .ok()?;
    Some(day.succ_opt()?.and_time(NaiveTime::MIN).and_utc())
}

/// Reads one record; the reason names the field at fault.
pub fn row(columns: &Columns, fields: &[String], now: DateTime<Utc>) -> Result<Row, String> {
    if fields.len() > MAX_FIELDS
        || fields
            .iter()
            .any(|f| f.chars().nth(MAX_FIELD_CHARS).is_some())
    {
        return Err("the row is too long to be a loyalty record".into());
    }
    let cell = |i: Option<usize>| {
        i.and_then(|i| fields.get(i))
            .map(|f| f.trim())
            .filter(|f| !f.is_empty())
    };
    let email = cell(columns.email).map(str::to_string);
    if let Some(email) = &email {
        if crate::model::email_key(email).is_none() {
            return Err(format!(
                "email: '{}' is not an email address",
                crate::bounds::cap(email, 60)
            ));
        }
    }
    let id = cell(columns.customer_id).map(str::to_string);
    if let Some(id) = &id {
        if CustomerId::parse(id).is_none() {
            return Err(format!(
                "customer_id: '{}' is not a Doorstep customer id such as shopify:207119551",
                crate::bounds::cap(id, 60)
            ));
        }
    }
    if email.is_none() && id.is_none() {
        return Err("no email or customer_id".into());
    }
    let tier = cell(columns.tier).map(str::to_string);
    let points = match cell(columns.points) {
        None if tier.is_some() => 0,
        None => return Err("points: missing".into()),
        Some(raw) => {
            let cleaned: String = raw.chars().filter(|c| *c != ',' && *c != '_').collect();
            match cleaned.parse::<u64>() {
                Ok(p) if p <= crate::bounds::MAX_POINTS => p,
                Ok(_) => return Err("points: too large".into()),
                Err(_) if cleaned.starts_with('-') => {
                    return Err(format!("points: '{raw}' is negative"))
                }
                Err(_) => {
                    return Err(format!(
                        "points: '{}' is not a whole number",
                        crate::bounds::cap(raw, 30)
                    ))
                }
            }
        }
    };
    if points == 0 && tier.is_none() {
        return Err("points: must be above 0 (or give a tier)".into());
    }
    let expires_at = match cell(columns.expires_at) {
        None => None,
        Some(raw) => match expiry(raw) {
            Some(t) if t <= now => return Err(format!("expires_at: {raw} is in the past")),
            Some(t) if !crate::bounds::plausible_year(&t) => {
                return Err(format!("expires_at: {raw} is out of range"))
            }
            Some(t) => Some(t),
            None => {
                return Err(format!(
                    "expires_at: '{}' is not a date (YYYY-MM-DD) or an RFC 3339 time",
                    crate::bounds::cap(raw, 40)
                ))
            }
        },
    };
    Ok(Row {
        customer: CustomerRef { id, email },
        points,
        expires_at,
        tier,
    })
}

/// A row's id: what it says, and how many identical rows came before it in the file.
fn row_id(row: &Row, seen: &mut HashMap<String, usize>) -> String {
    let content = format!(
        "{}|{}|{}|{}|{}",
        row.customer.id.as_deref().unwrap_or(""),
        row.customer
            .email
            .as_deref()
            .map(str::to_lowercase)
            .unwrap_or_default(),
        row.points,
        row.expires_at.map(|t| t.timestamp()).unwrap_or_default(),
        row.tier.as_deref().unwrap_or(""),
    );
    let occurrence = seen.entry(content.clone()).or_default();
    *occurrence += 1;
    let digest = crate::signature::sha256(&[content.as_bytes(), &occurrence.to_be_bytes()]);
    format!("import:{}", hex::encode(&digest[..12]))
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRow {
    pub line: usize,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub rows: usize,
    pub imported: usize,
    /// Rows a previous run imported already.
    pub already: usize,
    pub customers_created: usize,
    pub bad: Vec<BadRow>,
}

/// A customer a row names by id who is not known yet: made with what the row says (orders
/// arriving later fill in the rest).
fn new_customer(
    id: CustomerId,
    email: Option<&str>,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Customer {
    Customer {
        id,
        first_name: None,
        email: email.map(Contact::email),
        phone: None,
        locale: settings.default_locale.clone(),
        timezone: settings.default_timezone.clone(),
        timezone_source: TimezoneSource::MerchantDefault,
        consents: Consents::default(),
        tier: None,
        marketing_suppressed_until: None,
        purchased: Vec::new(),
        refunded: Vec::new(),
        disliked: Vec::new(),
        preferences_token: Token::random(),
        updated_at: now,
        version: 0,
    }
}

/// Imports a file's text. `progress` is told after each row (done, total).
pub async fn import(
    store: &dyn Store,
    settings: &Settings,
    text: &str,
    now: DateTime<Utc>,
    mut progress: impl FnMut(usize, usize),
) -> Result<Report, ImportError> {
    let policy = settings.loyalty.as_ref().ok_or(ImportError::Off)?;
    let mut records = records(text).into_iter();
    let (_, header) = records.next().ok_or(ImportError::Empty)?;
    let columns = columns(&header)?;
    let rows: Vec<(usize, Vec<String>)> = records.collect();
    let total = rows.len();
    let mut report = Report {
        rows: total,
        ..Report::default()
    };
    let mut seen = HashMap::new();
    for (done, (line, fields)) in rows.iter().enumerate() {
        let outcome = one(
            store,
            settings,
            policy,
            &columns,
            fields,
            &mut seen,
            now,
            &mut report,
        )
        .await;
        if let Err(reason) = outcome {
            report.bad.push(BadRow {
                line: *line,
                reason,
            });
        }
        progress(done + 1, total);
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments, reason = "one row's context, kept flat")]
async fn one(
    store: &dyn Store,
    settings: &Settings,
    policy: &crate::settings::LoyaltySettings,
    columns: &Columns,
    fields: &[String],
    seen: &mut HashMap<String, usize>,
    now: DateTime<Utc>,
    report: &mut Report,
) -> Result<(), String> {
    let row = row(columns, fields, now)?;
    if let Some(tier) = &row.tier {
        if !policy
            .tiers
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(tier))
        {
            let known: Vec<&str> = policy.tiers.iter().map(|t| t.name.as_str()).collect();
            return Err(format!("tier: '{tier}' is not one of {}", known.join(", ")));
        }
    }
    let id = row_id(&row, seen);
    let failed = |e: crate::ports::StoreError| format!("storage failed: {e}");
    let customer = match find_customer(store, &row.customer).await.map_err(failed)? {
        Some(customer) => customer,
        None => {
            let Some(customer_id) = row.customer.id.as_deref().and_then(CustomerId::parse) else {
                return Err("no customer with this email: give customer_id (such as shopify:207119551), or import after their orders arrive".into());
            };
            let customer = new_customer(customer_id, row.customer.email.as_deref(), settings, now);
            match store.save_customer(&customer, None).await {
                Ok(()) => report.customers_created += 1,
                // Made meanwhile by an order: use that one.
                Err(crate::ports::WriteError::Conflict) => {}
                Err(e) => return Err(format!("storage failed: {e}")),
            }
            store
                .get_customer(&customer.id)
                .await
                .map_err(failed)?
                .unwrap_or(customer)
        }
    };
    let updated = update(store, settings, policy, &customer, now, |account| {
        let mut applied = Applied::Nothing;
        if row.points > 0 {
            applied = account.earn(
                Earn {
                    id: id.clone(),
                    source: Source::Import,
                    points: row.points,
                    earned_at: now,
                    pending: false,
                    expires_at: row.expires_at,
                    order_id: None,
                    reason: Some("imported balance".into()),
                },
                policy,
                now,
            )?;
        }
        if let Some(tier) = &row.tier {
            let name = policy
                .tiers
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(tier))
                .map(|t| t.name.clone())
                .unwrap_or_else(|| tier.clone());
            if account.imported_tier.as_ref().map(|t| &t.name) != Some(&name) {
                account.imported_tier = Some(ImportedTier { name, at: now });
                applied = Applied::Applied;
            } else if applied == Applied::Nothing {
                applied = Applied::Already;
            }
        }
        Ok(applied)
    })
    .await
    .map_err(|e| match e {
        LoyaltyError::Ledger(e) => e.to_string(),
        other => other.to_string(),
    })?;
    match updated.applied {
        Applied::Applied => report.imported += 1,
        Applied::Already | Applied::Nothing => report.already += 1,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_handle_quotes_commas_newlines_and_a_bom() {
        let text = "\u{feff}E-mail,Points,\"Expiry Date\"\r\n\"nok@example.com\",\"1,200\",2027-01-31\n\n\"a \"\"quoted\"\", name\nover two lines\",5,\n";
        let rows = records(text);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            (
                1,
                vec!["E-mail".into(), "Points".into(), "Expiry Date".into()]
            )
        );
        assert_eq!(rows[1].1, ["nok@example.com", "1,200", "2027-01-31"]);
        assert_eq!(rows[2].0, 4, "a record starts on the line it starts on");
        assert_eq!(rows[2].1[0], "a \"quoted\", name\nover two lines");
    }

    #[test]
    fn headers_are_read_under_common_spellings_and_rows_are_checked() {
        let header: Vec<String> = [
            "Customer ID",
            "Email Address",
            "Balance",
            "Valid Until",
            "VIP Tier",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let columns = columns(&header).unwrap();
        assert_eq!(
            columns,
            Columns {
                email: Some(1),
                customer_id: Some(0),
                points: Some(2),
                expires_at: Some(3),
                tier: Some(4)
            }
        );
        let now: DateTime<Utc> = "2026-11-27T00:00:00Z".parse().unwrap();
        let cells = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let good = row(
            &columns,
            &cells(&[
                "shopify:7",
                "Nok@Example.com",
                "1,200",
                "2027-01-31",
                "Gold",
            ]),
            now,
        )
        .unwrap();
        assert_eq!(good.points, 1200);
        assert_eq!(
            good.expires_at,
            Some("2027-02-01T00:00:00Z".parse().unwrap()),
            "through the whole day"
        );
        for (bad, field) in [
            (&["shopify:7", "", "-5", "", ""][..], "points"),
            (&["shopify:7", "", "1.5", "", ""][..], "points"),
            (&["", "not-an-email", "10", "", ""][..], "email"),
            (&["", "", "10", "", ""][..], "no email"),
            (&["shopify:7", "", "10", "2020-01-01", ""][..], "expires_at"),
            (&["shopify:7", "", "10", "soon", ""][..], "expires_at"),
            (&["nobody", "", "10", "", ""][..], "customer_id"),
        ] {
            let reason = row(&columns, &cells(bad), now).unwrap_err();
            assert!(reason.starts_with(field), "{bad:?}: {reason}");
        }
        assert!(super::columns(&["name".to_string()]).is_err());
    }
}
