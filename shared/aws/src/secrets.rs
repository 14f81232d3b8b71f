//! Webhook secrets from SSM Parameter Store, read once per cold start.
//!
//! Every parameter under one path (a template parameter) is a secret, named by its last segment:
//! `{path}/easypost`, `{path}/shopify`, ..., plus `{path}/shippo-hmac` and `{path}/ups-client-id`.

use crate::parameter_store::ParameterStore;
use doorstep_core::secrets::{Secret, Secrets};

#[derive(Debug, thiserror::Error)]
#[error("could not read secrets under {path}: {detail}")]
pub struct SecretsError {
    pub path: String,
    pub detail: String,
}

pub async fn load(store: &ParameterStore, path: &str) -> Result<Secrets, SecretsError> {
    let path = path.trim_end_matches('/');
    let parameters = store
        .parameters_by_path(path)
        .await
        .map_err(|e| SecretsError {
            path: path.into(),
            detail: e.to_string(),
        })?;
    let mut secrets = Secrets::new();
    for parameter in parameters {
        let key = parameter.name.rsplit('/').next().unwrap_or(&parameter.name);
        match key {
            "shippo-hmac" => secrets.shippo_hmac = Some(Secret::new(parameter.value)),
            "ups-client-id" => secrets.ups_client_id = parameter.value,
            other => secrets.set(other, parameter.value),
        }
    }
    Ok(secrets)
}
