//! The local runner's channel: every message that would go to SNS or SES is appended, as one JSON
//! line, to a file in the data dir (a real outbox a person or a script can read).

use async_trait::async_trait;
use doorstep_core::notify::ports::{Channels, Outgoing, SendError};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

pub struct FileOutbox {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileOutbox {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &PathBuf {
        &self.path
    }
}

#[async_trait]
impl Channels for FileOutbox {
    async fn send(&self, message: &Outgoing) -> Result<String, SendError> {
        let id = format!("local-{}", doorstep_core::ids::random_token());
        let mut line = serde_json::json!({ "id": id, "message": message }).to_string();
        line.push('\n');
        let _guard = self
            .lock
            .lock()
            .map_err(|_| SendError::Retryable("outbox lock poisoned".into()))?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| SendError::Retryable(format!("outbox {}: {e}", self.path.display())))?;
        file.write_all(line.as_bytes())
            .map_err(|e| SendError::Retryable(e.to_string()))?;
        Ok(id)
    }
}
