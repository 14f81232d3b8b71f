//! Webhook secrets from SSM Parameter Store, read once per cold start.
//!
//! Every parameter under one path (a template parameter) is a secret, named by its last segment:
//! `{path}/easypost`, `{path}/shopify`, ..., plus `{path}/shippo-hmac` and `{path}/ups-client-id`.

use aws_sdk_ssm::Client;
use doorstep_core::secrets::{Secret, Secrets};

#[derive(Debug, thiserror::Error)]
#[error("could not read secrets under {path}: {detail}")]
pub struct SecretsError {
    pub path: String,
    pub detail: String,
}

pub async fn load(client: &Client, path: &str) -> Result<Secrets, SecretsError> {
    let path = path.trim_end_matches('/');
    let mut secrets = Secrets::new();
    let mut next_token = None;
    loop {
        let page = client
            .get_parameters_by_path()
            .path(path)
            .with_decryption(true)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| SecretsError {
                path: path.into(),
                detail: format!("{}", aws_sdk_ssm::error::DisplayErrorContext(e)),
            })?;
        for parameter in page.parameters() {
            let (Some(name), Some(value)) = (parameter.name(), parameter.value()) else {
                continue;
            };
            let key = name.rsplit('/').next().unwrap_or(name);
            match key {
                "shippo-hmac" => secrets.shippo_hmac = Some(Secret::new(value)),
                "ups-client-id" => secrets.ups_client_id = value.to_string(),
                other => secrets.set(other, value),
            }
        }
        next_token = page.next_token;
        if next_token.is_none() {
            return Ok(secrets);
        }
    }
}
