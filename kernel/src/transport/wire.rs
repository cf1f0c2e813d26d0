//! Jupyter's multipart message format: identities, `<IDS|MSG>`, signature, four JSON frames, buffers.

use super::signing::Signer;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;

const DELIMITER: &[u8] = b"<IDS|MSG>";
pub const PROTOCOL_VERSION: &str = "5.3";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub msg_id: String,
    #[serde(default)]
    pub session: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub date: String,
    pub msg_type: String,
    #[serde(default)]
    pub version: String,
}

/// One message, either received or about to be sent.
#[derive(Debug, Clone)]
pub struct Message {
    /// ROUTER identities of the peer; empty for iopub.
    pub identities: Vec<Bytes>,
    pub header: Header,
    /// The parent header as received (`{}` when there is none).
    pub parent_header: Value,
    pub metadata: Value,
    pub content: Value,
    pub buffers: Vec<Bytes>,
}

#[derive(Debug, PartialEq)]
pub enum WireError {
    NoDelimiter,
    TooFewFrames(usize),
    BadSignature,
    BadJson(&'static str, String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::NoDelimiter => write!(f, "no <IDS|MSG> delimiter"),
            WireError::TooFewFrames(n) => write!(f, "only {n} frames after the delimiter (need 5)"),
            WireError::BadSignature => write!(f, "the signature does not match"),
            WireError::BadJson(frame, err) => write!(f, "the {frame} frame is not valid JSON: {err}"),
        }
    }
}

impl std::error::Error for WireError {}

impl Message {
    /// Parses the frames of a received message and checks its signature.
    pub fn decode(frames: Vec<Bytes>, signer: &Signer) -> Result<Message, WireError> {
        let split = frames.iter().position(|f| f.as_ref() == DELIMITER).ok_or(WireError::NoDelimiter)?;
        let rest = &frames[split + 1..];
        if rest.len() < 5 {
            return Err(WireError::TooFewFrames(rest.len()));
        }
        let parts: [&[u8]; 4] = [&rest[1], &rest[2], &rest[3], &rest[4]];
        if !signer.verify(&rest[0], &parts) {
            return Err(WireError::BadSignature);
        }
        let header: Header =
            serde_json::from_slice(&rest[1]).map_err(|e| WireError::BadJson("header", e.to_string()))?;
        // Every one of the four frames is a JSON object; a list or a string is not a message.
        let parse = |name: &'static str, raw: &Bytes| -> Result<Value, WireError> {
            match serde_json::from_slice(raw) {
                Ok(value @ Value::Object(_)) => Ok(value),
                Ok(_) => Err(WireError::BadJson(name, "not a JSON object".into())),
                Err(e) => Err(WireError::BadJson(name, e.to_string())),
            }
        };
        Ok(Message {
            identities: frames[..split].to_vec(),
            header,
            parent_header: parse("parent_header", &rest[2])?,
            metadata: parse("metadata", &rest[3])?,
            content: parse("content", &rest[4])?,
            buffers: rest[5..].to_vec(),
        })
    }

    /// Frames ready to send, signed.
    pub fn encode(&self, signer: &Signer) -> Vec<Bytes> {
        let header = serde_json::to_vec(&self.header).expect("header serializes");
        let parent = serde_json::to_vec(&self.parent_header).expect("JSON serializes");
        let metadata = serde_json::to_vec(&self.metadata).expect("JSON serializes");
        let content = serde_json::to_vec(&self.content).expect("JSON serializes");
        let signature = signer.sign(&[&header, &parent, &metadata, &content]);
        let mut frames = self.identities.clone();
        frames.push(Bytes::from_static(DELIMITER));
        frames.push(Bytes::from(signature));
        frames.push(Bytes::from(header));
        frames.push(Bytes::from(parent));
        frames.push(Bytes::from(metadata));
        frames.push(Bytes::from(content));
        frames.extend(self.buffers.iter().cloned());
        frames
    }

    pub fn msg_type(&self) -> &str {
        &self.header.msg_type
    }

    /// A new message in reply to (or caused by) this one, keeping its identities.
    pub fn child(&self, session: &str, msg_type: &str, content: Value) -> Message {
        Message {
            identities: self.identities.clone(),
            header: new_header(session, msg_type),
            parent_header: serde_json::to_value(&self.header).expect("header serializes"),
            metadata: json!({}),
            content,
            buffers: Vec::new(),
        }
    }
}

pub fn new_header(session: &str, msg_type: &str) -> Header {
    Header {
        msg_id: uuid::Uuid::new_v4().to_string(),
        session: session.to_string(),
        username: "kernel".to_string(),
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        msg_type: msg_type.to_string(),
        version: PROTOCOL_VERSION.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        Message {
            identities: vec![Bytes::from_static(b"peer")],
            header: new_header("s", "execute_request"),
            parent_header: json!({}),
            metadata: json!({}),
            content: json!({"code": "1 + 1"}),
            buffers: vec![Bytes::from_static(b"raw")],
        }
    }

    #[test]
    fn round_trip_keeps_everything() {
        let signer = Signer::new("key");
        let msg = sample();
        let back = Message::decode(msg.encode(&signer), &signer).unwrap();
        assert_eq!(back.identities, msg.identities);
        assert_eq!(back.header, msg.header);
        assert_eq!(back.content, msg.content);
        assert_eq!(back.buffers, msg.buffers);
    }

    #[test]
    fn tampering_is_detected() {
        let signer = Signer::new("key");
        let mut frames = sample().encode(&signer);
        frames[6] = Bytes::from_static(br#"{"code": "evil"}"#);
        assert_eq!(Message::decode(frames, &signer).unwrap_err(), WireError::BadSignature);
        let other = Signer::new("other");
        assert_eq!(Message::decode(sample().encode(&other), &signer).unwrap_err(), WireError::BadSignature);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let signer = Signer::new("");
        assert_eq!(Message::decode(vec![Bytes::from_static(b"x")], &signer).unwrap_err(), WireError::NoDelimiter);
        let frames = vec![Bytes::from_static(DELIMITER), Bytes::new(), Bytes::from_static(b"{")];
        assert_eq!(Message::decode(frames, &signer).unwrap_err(), WireError::TooFewFrames(2));
        let mut frames = sample().encode(&signer);
        frames[3] = Bytes::from_static(b"not json");
        assert!(matches!(Message::decode(frames, &signer), Err(WireError::BadJson("header", _))));
        let mut msg = sample();
        msg.content = json!([1, 2]);
        assert!(matches!(Message::decode(msg.encode(&signer), &signer), Err(WireError::BadJson("content", _))));
    }
}
