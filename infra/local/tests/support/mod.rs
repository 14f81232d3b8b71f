//! What the runner's process tests share: start the real `doorstep-local` binary on a fresh
//! data dir and a free port, kill it, and talk HTTP/1.1 to it.

#![allow(dead_code, reason = "each test file uses its own part")]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Runner {
    pub data_dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Runner {
    pub fn new(name: &str, settings: &str) -> Self {
        let data_dir = std::env::temp_dir().join(format!(
            "doorstep-test-{name}-{}-{}",
            std::process::id(),
            doorstep_core::ids::random_token()
        ));
        std::fs::create_dir_all(&data_dir).unwrap();
        std::fs::write(data_dir.join("settings.toml"), settings).unwrap();
        Self {
            data_dir,
            port: free_port(),
            child: None,
        }
    }

    /// Starts the runner with these variables on top of the test's own, and waits until it answers.
    pub fn start_with(&mut self, env: &[(&str, &str)]) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_doorstep-local"));
        command
            .env("DOORSTEP_DATA_DIR", &self.data_dir)
            .env("DOORSTEP_PORT", self.port.to_string())
            .env("DOORSTEP_CONFIG", self.data_dir.join("settings.toml"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("doorstep-local starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok((200, _)) = http(self.port, "GET", "/healthz", &[], b"") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("doorstep-local did not come up");
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    pub fn outbox_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.data_dir.join("outbox.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("whole JSON lines"))
            .collect()
    }

    pub fn database(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir.join("doorstep.sqlite3")).unwrap()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// One HTTP/1.1 exchange over loopback; `Err` when the runner is gone mid-request.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no response"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    Ok((status, serde_json::from_str(rest).unwrap_or(Value::Null)))
}
