//! Every DynamoDB request the stack makes, counted by operation and sized by DynamoDB's rules,
//! from the requests and responses themselves (an SDK interceptor on the client):
//!
//! - an item's size is the UTF-8 length of its attribute names plus its values (numbers about
//!   one byte per two digits, plus one; maps and lists 3 bytes plus their contents);
//! - writes: one write unit per started 1 KB of the item (an update or delete by the item as it
//!   was, which the meter remembers from the writes it saw); `TransactWriteItems` costs twice;
//! - each index write by its projection: an index entry is its keys, its projected attributes
//!   and 100 bytes; a write that changes an index's key deletes the old entry and puts the new;
//!   a keys-only index is not written when its key is unchanged;
//! - reads: one read unit per started 4 KB (half for eventually consistent reads), a `Query` over
//!   the sum of what it returned, at least one (or a half) per request.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use doorstep_aws::schema::{Projected, INDEXES};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What was counted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Usage {
    pub calls: BTreeMap<String, u64>,
    pub write_units_table: f64,
    pub write_units_index: f64,
    pub read_units: f64,
    /// Write units by operation and the item kind written (`PutItem SHIP`, …).
    pub write_units_by: BTreeMap<String, f64>,
    pub read_units_by: BTreeMap<String, f64>,
    /// Requests by the function that made them, operation and item kind
    /// (`notifier: GetItem CUST`; a transaction's or batch's items each count once).
    pub calls_by: BTreeMap<String, u64>,
}

#[derive(Default)]
struct State {
    usage: Usage,
    /// What the meter knows of each item it saw written: its size and its index keys.
    items: HashMap<(String, String), Known>,
    /// Requests not yet put down to a function (see [`Meter::attribute`]).
    pending: BTreeMap<String, u64>,
}

#[derive(Clone)]
struct Known {
    size: u64,
    index_keys: Vec<Option<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Meter {
    on: Arc<AtomicBool>,
    state: Arc<Mutex<StateHandle>>,
}

#[derive(Default)]
struct StateHandle(State);

impl std::fmt::Debug for StateHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("meter state")
    }
}

/// A read's facts, from its request to its response.
#[derive(Debug, Clone)]
struct PendingRead {
    operation: String,
    consistent: bool,
    /// `Query`: the table or index read, for the per-operation breakdown.
    label: String,
}

impl Storable for PendingRead {
    type Storer = StoreReplace<Self>;
}

pub fn value_size(value: &Value) -> u64 {
    let Some(map) = value.as_object() else {
        return 0;
    };
    let Some((kind, inner)) = map.iter().next() else {
        return 0;
    };
    match (kind.as_str(), inner) {
        ("S", Value::String(s)) => s.len() as u64,
        ("N", Value::String(n)) => (n.trim_start_matches('-').len() as u64).div_ceil(2) + 1,
        ("B", Value::String(b)) => (b.len() as u64) * 3 / 4,
        ("BOOL" | "NULL", _) => 1,
        ("M", Value::Object(m)) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() as u64 + value_size(v))
                .sum::<u64>()
        }
        ("L", Value::Array(l)) => 3 + l.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        ("SS", Value::Array(l)) => l
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.len() as u64)
            .sum(),
        ("NS", Value::Array(l)) => l
            .iter()
            .filter_map(Value::as_str)
            .map(|n| (n.len() as u64).div_ceil(2) + 1)
            .sum(),
        _ => 1,
    }
}

pub fn item_size(item: &Map<String, Value>) -> u64 {
    item.iter()
        .map(|(k, v)| k.len() as u64 + value_size(v))
        .sum()
}

fn string_attr(item: &Map<String, Value>, name: &str) -> Option<String> {
    item.get(name)?.get("S")?.as_str().map(str::to_string)
}

/// `SHIP`, `ORDER`, `MSG`, … : what kind of item a key names (the part before the first `#`);
/// the schedule's buckets keep their job (`DUE#loyalty`), each job's filings being its own cost.
fn kind_of(pk: &str) -> String {
    let mut parts = pk.split('#');
    let kind = parts.next().unwrap_or(pk);
    match (kind, parts.next()) {
        ("DUE", Some(job)) => format!("DUE#{job}"),
        _ => kind.to_string(),
    }
}

fn write_units(size: u64) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Each key's count in `later` less its count in `earlier`, keeping the keys that moved.
fn minus<T>(later: &BTreeMap<String, T>, earlier: &BTreeMap<String, T>) -> BTreeMap<String, T>
where
    T: Copy + Default + PartialEq + std::ops::Sub<Output = T>,
{
    later
        .iter()
        .map(|(k, v)| (k.clone(), *v - earlier.get(k).copied().unwrap_or_default()))
        .filter(|(_, v)| *v != T::default())
        .collect()
}

fn add_into<T: Copy + Default + std::ops::AddAssign>(
    into: &mut BTreeMap<String, T>,
    more: &BTreeMap<String, T>,
) {
    for (k, v) in more {
        *into.entry(k.clone()).or_default() += *v;
    }
}

impl Usage {
    /// What was counted between `earlier` and this.
    pub fn since(&self, earlier: &Usage) -> Usage {
        Usage {
            calls: minus(&self.calls, &earlier.calls),
            write_units_table: self.write_units_table - earlier.write_units_table,
            write_units_index: self.write_units_index - earlier.write_units_index,
            read_units: self.read_units - earlier.read_units,
            write_units_by: minus(&self.write_units_by, &earlier.write_units_by),
            read_units_by: minus(&self.read_units_by, &earlier.read_units_by),
            calls_by: minus(&self.calls_by, &earlier.calls_by),
        }
    }

    pub fn add(&mut self, more: &Usage) {
        add_into(&mut self.calls, &more.calls);
        self.write_units_table += more.write_units_table;
        self.write_units_index += more.write_units_index;
        self.read_units += more.read_units;
        add_into(&mut self.write_units_by, &more.write_units_by);
        add_into(&mut self.read_units_by, &more.read_units_by);
        add_into(&mut self.calls_by, &more.calls_by);
    }

    /// Write requests of any kind.
    pub fn writes(&self) -> u64 {
        [
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "TransactWriteItems",
            "BatchWriteItem",
        ]
        .iter()
        .map(|op| self.calls.get(*op).copied().unwrap_or(0))
        .sum()
    }
}

impl Meter {
    pub fn new() -> Self {
        let meter = Self::default();
        meter.on.store(true, Ordering::Relaxed);
        meter
    }

    /// Stops or resumes counting (the simulator's own reads for its report are not the stack's).
    pub fn set_counting(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    pub fn usage(&self) -> Usage {
        self.state
            .lock()
            .map(|s| s.0.usage.clone())
            .unwrap_or_default()
    }

    /// Puts the requests made since the last call down to `function` (the simulator runs one
    /// invocation at a time, so they are all that invocation's).
    pub fn attribute(&self, function: &str) {
        self.with(|state| {
            for (label, calls) in std::mem::take(&mut state.pending) {
                *state
                    .usage
                    .calls_by
                    .entry(format!("{function}: {label}"))
                    .or_default() += calls;
            }
        });
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> Option<R> {
        self.state.lock().ok().map(|mut s| f(&mut s.0))
    }

    /// One item write (put, update or delete) and what it does to each index.
    fn write(
        state: &mut State,
        operation: &str,
        key: (String, String),
        new_item: Option<&Map<String, Value>>,
        update: Option<&Map<String, Value>>,
        factor: f64,
    ) {
        let known = state.items.get(&key).cloned();
        let (new_size, new_keys) = match (new_item, update) {
            (Some(item), _) => (
                item_size(item),
                INDEXES
                    .iter()
                    .map(|(_, attr, _)| string_attr(item, attr))
                    .collect(),
            ),
            // An update: the item as it was plus what the update sets (an estimate).
            (None, Some(values)) => {
                let added: u64 = values.values().map(value_size).sum();
                let before = known
                    .as_ref()
                    .map_or(key.0.len() as u64 + key.1.len() as u64 + 8, |k| k.size);
                (
                    before.max(added + key.0.len() as u64 + key.1.len() as u64),
                    known
                        .as_ref()
                        .map_or_else(|| vec![None; INDEXES.len()], |k| k.index_keys.clone()),
                )
            }
            (None, None) => (0, vec![None; INDEXES.len()]),
        };
        let old_size = known.as_ref().map_or(0, |k| k.size);
        let table_units = factor * write_units(new_size.max(old_size));
        let mut index_units = 0.0;
        let old_keys = known
            .as_ref()
            .map_or_else(|| vec![None; INDEXES.len()], |k| k.index_keys.clone());
        for (i, (_, attr, projected)) in INDEXES.iter().enumerate() {
            let entry = |size: u64| -> f64 {
                match projected {
                    Projected::All => write_units(size + 100),
                    Projected::KeysOnly => write_units(
                        key.0.len() as u64 + key.1.len() as u64 + attr.len() as u64 + 164,
                    ),
                }
            };
            let deleting = new_item.is_none() && update.is_none();
            let (old, new) = (&old_keys[i], if deleting { &None } else { &new_keys[i] });
            index_units += match (old, new) {
                (None, None) => 0.0,
                (None, Some(_)) => entry(new_size),
                (Some(_), None) => 1.0,
                (Some(a), Some(b)) if a != b => 1.0 + entry(new_size),
                // Same key: a keys-only entry is untouched; a full copy is rewritten.
                (Some(_), Some(_)) => match projected {
                    Projected::KeysOnly => 0.0,
                    Projected::All => entry(new_size),
                },
            };
        }
        let usage = &mut state.usage;
        usage.write_units_table += table_units;
        usage.write_units_index += index_units;
        let label = format!("{operation} {}", kind_of(&key.0));
        *usage.write_units_by.entry(label.clone()).or_default() += table_units + index_units;
        *state.pending.entry(label).or_default() += 1;
        match new_item.is_none() && update.is_none() {
            true => {
                state.items.remove(&key);
            }
            false => {
                state.items.insert(
                    key,
                    Known {
                        size: new_size,
                        index_keys: new_keys,
                    },
                );
            }
        }
    }

    fn key_of(item: &Map<String, Value>) -> (String, String) {
        (
            string_attr(item, "pk").unwrap_or_default(),
            string_attr(item, "sk").unwrap_or_default(),
        )
    }

    fn request(&self, operation: &str, body: &Value) -> Option<PendingRead> {
        let empty = Map::new();
        let object = body.as_object().unwrap_or(&empty);
        let consistent = body
            .get("ConsistentRead")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        self.with(|state| {
            *state.usage.calls.entry(operation.to_string()).or_default() += 1;
            let obj = |v: Option<&Value>| v.and_then(Value::as_object).cloned();
            match operation {
                "PutItem" => {
                    if let Some(item) = obj(object.get("Item")) {
                        Self::write(
                            state,
                            operation,
                            Self::key_of(&item),
                            Some(&item),
                            None,
                            1.0,
                        );
                    }
                    None
                }
                "UpdateItem" | "DeleteItem" => {
                    let key = obj(object.get("Key"))
                        .map(|k| Self::key_of(&k))
                        .unwrap_or_default();
                    let values = obj(object.get("ExpressionAttributeValues")).unwrap_or_default();
                    let update = (operation == "UpdateItem").then_some(&values);
                    Self::write(state, operation, key, None, update, 1.0);
                    None
                }
                "TransactWriteItems" => {
                    for entry in object
                        .get("TransactItems")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(item) = obj(entry.pointer("/Put/Item")) {
                            Self::write(
                                state,
                                "TransactWriteItems",
                                Self::key_of(&item),
                                Some(&item),
                                None,
                                2.0,
                            );
                        } else if let Some(key) = obj(entry.pointer("/Delete/Key")) {
                            Self::write(
                                state,
                                "TransactWriteItems",
                                Self::key_of(&key),
                                None,
                                None,
                                2.0,
                            );
                        } else if let Some(key) = obj(entry.pointer("/Update/Key")) {
                            let values = obj(entry.pointer("/Update/ExpressionAttributeValues"))
                                .unwrap_or_default();
                            Self::write(
                                state,
                                "TransactWriteItems",
                                Self::key_of(&key),
                                None,
                                Some(&values),
                                2.0,
                            );
                        } else if entry.get("ConditionCheck").is_some() {
                            state.usage.write_units_table += 2.0;
                        }
                    }
                    None
                }
                "BatchWriteItem" => {
                    for requests in object
                        .get("RequestItems")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flat_map(|m| m.values())
                    {
                        for request in requests.as_array().into_iter().flatten() {
                            if let Some(item) = obj(request.pointer("/PutRequest/Item")) {
                                Self::write(
                                    state,
                                    operation,
                                    Self::key_of(&item),
                                    Some(&item),
                                    None,
                                    1.0,
                                );
                            } else if let Some(key) = obj(request.pointer("/DeleteRequest/Key")) {
                                Self::write(state, operation, Self::key_of(&key), None, None, 1.0);
                            }
                        }
                    }
                    None
                }
                "GetItem" => Some(PendingRead {
                    operation: operation.to_string(),
                    consistent,
                    label: obj(object.get("Key"))
                        .map(|k| kind_of(&Self::key_of(&k).0))
                        .unwrap_or_default(),
                }),
                "Query" => Some(PendingRead {
                    operation: operation.to_string(),
                    consistent,
                    label: object
                        .get("IndexName")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .or_else(|| {
                            body.pointer("/ExpressionAttributeValues/:pk/S")
                                .or_else(|| body.pointer("/ExpressionAttributeValues/:bucket/S"))
                                .and_then(Value::as_str)
                                .map(kind_of)
                        })
                        .unwrap_or_else(|| "table".into()),
                }),
                "BatchGetItem" => {
                    // Doorstep's batches read one table, and one kind of record each.
                    let table = object
                        .get("RequestItems")
                        .and_then(Value::as_object)
                        .and_then(|m| m.values().next());
                    Some(PendingRead {
                        operation: operation.to_string(),
                        consistent: table
                            .and_then(|t| t.get("ConsistentRead"))
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                        label: table
                            .and_then(|t| t.pointer("/Keys/0"))
                            .and_then(Value::as_object)
                            .map(|k| kind_of(&Self::key_of(k).0))
                            .unwrap_or_default(),
                    })
                }
                _ => None,
            }
        })
        .flatten()
    }

    fn response(&self, read: &PendingRead, body: &Value) {
        let per = if read.consistent { 1.0 } else { 0.5 };
        let units = |size: u64| (size.div_ceil(4096).max(1)) as f64 * per;
        let sizes = |items: Option<&Value>| -> Vec<u64> {
            items
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .map(item_size)
                .collect()
        };
        let consumed = match read.operation.as_str() {
            "GetItem" => units(
                body.get("Item")
                    .and_then(Value::as_object)
                    .map_or(0, item_size),
            ),
            "Query" => units(sizes(body.get("Items")).iter().sum()),
            "BatchGetItem" => body
                .get("Responses")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values())
                .map(|items| sizes(Some(items)).into_iter().map(units).sum::<f64>())
                .sum(),
            _ => 0.0,
        };
        let label = format!("{} {}", read.operation, read.label)
            .trim()
            .to_string();
        self.with(|state| {
            state.usage.read_units += consumed;
            *state.usage.read_units_by.entry(label.clone()).or_default() += consumed;
            *state.pending.entry(label).or_default() += 1;
        });
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "DynamoDbMeter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.on.load(Ordering::Relaxed) {
            return Ok(());
        }
        let request = context.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_string();
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        if let Some(read) = self.request(&operation, &body) {
            cfg.interceptor_state().store_put(read);
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(read) = cfg.load::<PendingRead>().cloned() else {
            return Ok(());
        };
        if !self.on.load(Ordering::Relaxed) || !context.response().status().is_success() {
            return Ok(());
        }
        let body: Value = context
            .response()
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        self.response(&read, &body);
        Ok(())
    }
}
