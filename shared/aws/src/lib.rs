//! AWS adapters behind Doorstep's ports: the single-table DynamoDB store and SSM secrets.

pub mod dynamo;
pub mod runtime;
pub mod secrets;

pub use dynamo::DynamoStore;
