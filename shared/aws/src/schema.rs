//! The table as template.yaml declares it: keys, indexes and their projections, the stream and
//! the notifier's filter on it. One place, so tests, benchmarks and the simulator create the
//! same table the stack deploys (a test compares this with the template), the simulator sizes
//! index writes by these projections, and what replays the stream without Lambda passes the
//! notifier what Lambda would.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};

/// The entities whose changes the notifier's stream filter passes (template.yaml).
pub const NOTIFIER_ENTITIES: &[&str] = &["shipment", "order", "loyalty", "subscription", "review"];
/// Of those, the ones passed only when the write set [`crate::dynamo::NOTIFY_ATTRIBUTE`].
pub const NOTIFIER_ENTITIES_WHEN_MARKED: &[&str] = &["shipment", "order", "loyalty"];

/// Whether the notifier's stream filter passes a stream record (its JSON as Lambda delivers it).
pub fn notifier_filter_passes(record: &serde_json::Value) -> bool {
    let image = &record["dynamodb"]["NewImage"];
    let Some(entity) = image["entity"]["S"].as_str() else {
        return false;
    };
    let marked = image[crate::dynamo::NOTIFY_ATTRIBUTE]["BOOL"] == serde_json::Value::Bool(true);
    matches!(record["eventName"].as_str(), Some("INSERT" | "MODIFY"))
        && NOTIFIER_ENTITIES.contains(&entity)
        && (marked || !NOTIFIER_ENTITIES_WHEN_MARKED.contains(&entity))
}

/// What an index copies from each item it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projected {
    /// The table's keys and the index's key only.
    KeysOnly,
    /// The whole item.
    All,
}

/// `(index, its partition key attribute, projection)`.
pub const INDEXES: &[(&str, &str, Projected)] = &[
    (
        crate::dynamo::TRACKING_NUMBER_INDEX,
        "gsi1pk",
        Projected::KeysOnly,
    ),
    (
        crate::dynamo::TOKEN_INDEX,
        "tracking_token",
        Projected::KeysOnly,
    ),
    (
        crate::dynamo::PREFERENCES_INDEX,
        "preferences_token",
        Projected::KeysOnly,
    ),
    (crate::dynamo::EMAIL_INDEX, "email", Projected::KeysOnly),
];

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, String> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| e.to_string())
}

fn attribute(name: &str) -> Result<AttributeDefinition, String> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| e.to_string())
}

/// Creates the table (on-demand, with its indexes and a new-and-old-images stream).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), String> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(|e| e.to_string())?,
        );
    for (index, attr, projected) in INDEXES {
        let projection = match projected {
            Projected::KeysOnly => ProjectionType::KeysOnly,
            Projected::All => ProjectionType::All,
        };
        request = request
            .attribute_definitions(attribute(attr)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(*index)
                    .key_schema(key(attr, KeyType::Hash)?)
                    .projection(Projection::builder().projection_type(projection).build())
                    .build()
                    .map_err(|e| e.to_string())?,
            );
    }
    request
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
    Ok(())
}
