//! Doorstep's domain: the normalized shipment model, the rules that keep it correct, the ports the
//! adapters implement, and every provider's signature check and payload mapping.
//! Nothing here knows about AWS, Lambda or HTTP servers.

pub mod api;
pub mod contact;
pub mod ids;
pub mod ingest;
pub mod model;
pub mod notify;
pub mod ports;
pub mod preferences;
pub mod providers;
pub mod rules;
pub mod signature;
pub mod status;
pub mod store_events;
pub mod timezone;
pub mod webhook;

pub use chrono;
