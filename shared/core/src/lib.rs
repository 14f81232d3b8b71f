//! Doorstep's domain: the normalized shipment model, the rules that keep it correct, the ports the
//! adapters implement, and every provider's signature check and payload mapping.
//! Nothing here knows about AWS, Lambda or HTTP servers.
//!
//! Nothing here may panic on data from outside: outside tests, `unwrap`, `expect` and `panic!`
//! are refused by the compiler, and times pass `bounds` before any computation.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod admin;
pub mod api;
pub mod bounds;
pub mod catalog;
pub mod contact;
pub mod follow_ups;
pub mod ids;
pub mod ingest;
pub mod jobs;
pub mod loyalty;
pub mod merchant_webhook;
pub mod model;
mod names;
pub mod notify;
pub mod optimistic;
pub mod pages;
pub mod phone;
pub mod ports;
pub mod preferences;
pub mod providers;
pub mod reminders;
pub mod reviews;
pub mod rules;
pub mod secrets;
pub mod settings;
pub mod signature;
pub mod status;
pub mod store_events;
pub mod subscriptions;
pub mod timezone;
pub mod tracking;
pub mod webhook;
pub mod zones;

pub use chrono;
