//! The local runner's channel. Nothing leaves the machine: a message is "sent" when the store
//! commits its completed claim and its log entry in one transaction (see `NotifyStore::finish`),
//! and `outbox.jsonl` in the data dir is written from those committed entries, one JSON line per
//! message, in order. After any crash the file catches up from the database, exactly once: each
//! line carries the log id it came from, and export resumes after the last one in the file.

use crate::SqliteStore;
use async_trait::async_trait;
use doorstep_core::notify::ports::{Channels, Outgoing, SendError, State};
use doorstep_core::ports::StoreError;
use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct FileOutbox {
    path: PathBuf,
    /// The last log id written to the file (read from the file on first use).
    exported: Mutex<Option<i64>>,
    /// How long each send takes: none, unless a test widens the window between a message's
    /// claim and its send to kill the runner inside it.
    send_delay: std::time::Duration,
}

impl FileOutbox {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            exported: Mutex::new(None),
            send_delay: std::time::Duration::ZERO,
        }
    }

    /// Makes every send take `delay` (a slow provider, for crash tests).
    pub fn with_send_delay(mut self, delay: std::time::Duration) -> Self {
        self.send_delay = delay;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends every sent message committed since the last export. Returns how many.
    pub fn export(&self, store: &SqliteStore) -> Result<usize, StoreError> {
        let io = |e: std::io::Error| {
            StoreError::Unavailable(format!("outbox {}: {e}", self.path.display()))
        };
        let mut exported = self
            .exported
            .lock()
            .map_err(|_| StoreError::Unavailable("outbox lock poisoned".into()))?;
        let after = match *exported {
            Some(id) => id,
            None => last_exported_id(&self.path).map_err(io)?,
        };
        let entries = store.message_log_after(after, 500, false)?;
        let mut lines = String::new();
        let mut last = after;
        let mut written = 0;
        for (id, entry) in entries {
            last = id;
            if entry.state != State::Sent {
                continue;
            }
            let line = serde_json::json!({
                "id": entry.provider_message_id,
                "log_id": id,
                "message": {
                    "channel": entry.channel, "to": entry.to, "subject": entry.subject,
                    "body": entry.body, "html": entry.html, "kind": entry.kind,
                    "milestone": entry.milestone, "locale": entry.locale,
                },
            });
            lines.push_str(&line.to_string());
            lines.push('\n');
            written += 1;
        }
        if !lines.is_empty() {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(io)?;
            file.write_all(lines.as_bytes()).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        *exported = Some(last.max(after));
        Ok(written)
    }
}

/// The `log_id` of the file's last complete line (0 for a new file). A line cut short by a
/// crash mid-write is dropped, so the message is written again whole.
fn last_exported_id(path: &Path) -> std::io::Result<i64> {
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut last = 0;
    let mut complete_len = 0u64;
    let mut reader = std::io::BufReader::new(&mut file);
    let mut line = String::new();
    let mut offset = 0u64;
    loop {
        line.clear();
        let read = reader.read_line(&mut line)?;
        if read == 0 {
            break;
        }
        offset += read as u64;
        if !line.ends_with('\n') {
            break;
        }
        complete_len = offset;
        if let Some(id) = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["log_id"].as_i64())
        {
            last = last.max(id);
        }
    }
    drop(reader);
    if file.seek(std::io::SeekFrom::End(0))? != complete_len {
        file.set_len(complete_len)?;
    }
    Ok(last)
}

#[async_trait]
impl Channels for FileOutbox {
    /// Hands out the message's id; the message itself is committed by `finish`.
    async fn send(&self, _message: &Outgoing) -> Result<String, SendError> {
        if !self.send_delay.is_zero() {
            tokio::time::sleep(self.send_delay).await;
        }
        Ok(format!("local-{}", doorstep_core::ids::random_token()))
    }
}
