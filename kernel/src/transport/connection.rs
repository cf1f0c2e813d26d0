//! The connection file a frontend writes for the kernel (ports, key, transport).

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
pub struct ConnectionInfo {
    #[serde(default = "default_transport")]
    pub transport: String,
    #[serde(default = "default_ip")]
    pub ip: String,
    #[serde(default)]
    pub key: String,
    #[serde(default = "default_scheme")]
    pub signature_scheme: String,
    pub shell_port: u16,
    pub iopub_port: u16,
    pub stdin_port: u16,
    pub control_port: u16,
    pub hb_port: u16,
}

fn default_transport() -> String {
    "tcp".into()
}
fn default_ip() -> String {
    "127.0.0.1".into()
}
fn default_scheme() -> String {
    "hmac-sha256".into()
}

impl ConnectionInfo {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the connection file {}", path.display()))?;
        let info: ConnectionInfo = serde_json::from_str(&text)
            .with_context(|| format!("the connection file {} is not valid", path.display()))?;
        if !info.key.is_empty() && info.signature_scheme != "hmac-sha256" {
            bail!("signature scheme {:?} is not supported (only hmac-sha256)", info.signature_scheme);
        }
        if info.transport != "tcp" && info.transport != "ipc" {
            bail!("transport {:?} is not supported (tcp or ipc)", info.transport);
        }
        Ok(info)
    }

    /// The ZeroMQ endpoint of one port, in the form jupyter_client uses.
    pub fn endpoint(&self, port: u16) -> String {
        match self.transport.as_str() {
            "ipc" => format!("ipc://{}-{}", self.ip, port),
            _ => {
                let ip = if self.ip == "*" { "0.0.0.0" } else { &self.ip };
                format!("tcp://{ip}:{port}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_transport() {
        let mut info: ConnectionInfo = serde_json::from_str(
            r#"{"shell_port":1,"iopub_port":2,"stdin_port":3,"control_port":4,"hb_port":5,"key":"k"}"#,
        )
        .unwrap();
        assert_eq!(info.endpoint(1), "tcp://127.0.0.1:1");
        info.transport = "ipc".into();
        info.ip = "/tmp/kernel".into();
        assert_eq!(info.endpoint(4), "ipc:///tmp/kernel-4");
    }
}
