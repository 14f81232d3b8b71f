//! AWS adapters behind Doorstep's ports: the single-table DynamoDB store and SSM secrets.

pub mod channels;
pub mod dead_letters;
pub mod document;
pub mod dynamo;
pub mod notify_store;
pub mod on_first_use;
pub mod parameter_store;
pub mod runtime;
pub mod schema;
pub mod secrets;

pub use dynamo::DynamoStore;
