//! Proactive notifications: which milestones a change reached, what to send on which channel and
//! when (the policy), and how each message reads (rendering). Pure: the notifier function and
//! the local runner supply the clock, the records and the channels.

pub mod feedback;
pub mod keys;
pub mod messages;
pub mod milestones;
pub mod policy;
pub mod ports;
pub mod render;
pub mod service;
pub mod settings;
pub mod sms;

#[cfg(test)]
mod tests;
