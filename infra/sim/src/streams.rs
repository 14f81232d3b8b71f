//! The table's stream as Lambda's event source mapping reads it, from an AWS-protocol endpoint
//! (moto), over plain HTTP: the records are the JSON a notifier event carries. Also the message
//! log read back for the report, and dead letters kept in memory.

use async_trait::async_trait;
use doorstep_core::notify::ports::{DeadLetter, DeadLetters, LogEntry};
use doorstep_core::ports::StoreError;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::Mutex;

use doorstep_aws::notify_store::beside_entries;
use doorstep_aws::schema::notifier_filter_passes;

pub struct Reader {
    host: String,
    stream_arn: String,
    /// Each shard's next iterator.
    iterators: Mutex<Vec<(String, Value)>>,
}

fn call(host: &str, operation: &str, body: &Value) -> Result<Value, String> {
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| format!("{host}: {e}"))?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDBStreams_20120810.{operation}\r\nContent-Length: {}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let (head, rest) = text.split_once("\r\n\r\n").ok_or("not an HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!(
            "{operation}: {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    let body = match head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        true => dechunk(rest),
        false => rest.to_string(),
    };
    serde_json::from_str(&body).map_err(|e| format!("{operation}: {e}"))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

impl Reader {
    pub async fn new(
        endpoint: &str,
        client: &aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Result<Self, String> {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        let stream_arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or("the table has no stream")?
            .to_string();
        Ok(Self {
            host: endpoint
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            stream_arn,
            iterators: Mutex::new(Vec::new()),
        })
    }

    /// The records written since the last read that the notifier's filter passes.
    pub async fn read(&self) -> Result<Vec<Value>, String> {
        let mut iterators = self.iterators.lock().map_err(|_| "poisoned")?.clone();
        let described = call(
            &self.host,
            "DescribeStream",
            &json!({"StreamArn": self.stream_arn}),
        )?;
        for shard in described["StreamDescription"]["Shards"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let id = shard["ShardId"].as_str().unwrap_or_default().to_string();
            if iterators.iter().all(|(known, _)| *known != id) {
                let iterator = call(
                    &self.host,
                    "GetShardIterator",
                    &json!({"StreamArn": self.stream_arn, "ShardId": id, "ShardIteratorType": "TRIM_HORIZON"}),
                )?;
                iterators.push((id, iterator["ShardIterator"].clone()));
            }
        }
        let mut records = Vec::new();
        for (_, next) in iterators.iter_mut() {
            while next.is_string() {
                let page = call(
                    &self.host,
                    "GetRecords",
                    &json!({"ShardIterator": next, "Limit": 1000}),
                )?;
                let batch = page["Records"].as_array().cloned().unwrap_or_default();
                if !page["NextShardIterator"].is_null() {
                    *next = page["NextShardIterator"].clone();
                }
                if batch.is_empty() {
                    break;
                }
                for mut record in batch {
                    if notifier_filter_passes(&record) {
                        record["eventSourceARN"] = self.stream_arn.clone().into();
                        records.push(record);
                    }
                }
            }
        }
        *self.iterators.lock().map_err(|_| "poisoned")? = iterators;
        Ok(records)
    }
}

/// Every message log entry in the table (a scan; the report's, not the stack's): the sent ones
/// live on their completed claims, the rest (deferred, suppressed, failed) as `LOG#` items.
pub async fn message_log(dynamo: &doorstep_aws::DynamoStore) -> Vec<LogEntry> {
    let mut entries = Vec::new();
    let mut start = None;
    loop {
        let page = dynamo
            .client()
            .scan()
            .table_name(dynamo.table())
            .filter_expression("entity = :log OR (entity = :claim AND attribute_exists(doc))")
            .expression_attribute_values(
                ":log",
                aws_sdk_dynamodb::types::AttributeValue::S("message_log".into()),
            )
            .expression_attribute_values(
                ":claim",
                aws_sdk_dynamodb::types::AttributeValue::S("message_claim".into()),
            )
            .set_exclusive_start_key(start)
            .send()
            .await;
        let Ok(page) = page else { break };
        for item in page.items() {
            let Some(entry) = item
                .get("doc")
                .and_then(|d| d.as_s().ok())
                .and_then(|d| serde_json::from_str::<LogEntry>(d).ok())
            else {
                continue;
            };
            // A sent message's record also holds its occasion's suppressed channels.
            if let Some(beside) = item.get("beside").and_then(|b| b.as_s().ok()) {
                match beside_entries(&entry, beside) {
                    Ok(more) => entries.extend(more),
                    Err(e) => eprintln!("a message record's `beside` does not read: {e}"),
                }
            }
            entries.push(entry);
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    entries.sort_by_key(|e| e.at);
    entries
}

/// Dead letters, counted as the run's failures (the simulation has no queue).
pub struct NoDeadLetters(pub std::sync::Arc<crate::stack::Failures>);

#[async_trait]
impl DeadLetters for NoDeadLetters {
    async fn set_aside(&self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.0
            .record(format!("dead letter: {} {}", letter.source, letter.error));
        Ok(())
    }
}
