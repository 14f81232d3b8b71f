//! One integration-test binary (one link of the AWS SDK) holding every cross-function test.

mod contract;
mod engagement;
mod engagement_aws;
mod handlers;
mod joins;
mod local;
mod loyalty;
mod notify_aws;
mod notify_contract;
mod notify_local;
mod registry;
mod reliability;
mod replay;
mod replica_lag;
mod secrets_aws;
mod stores;
mod tracking;
