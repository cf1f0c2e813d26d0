//! A kernel served by the real dispatcher over in-memory channels: the test plays the frontend,
//! sending decoded requests and reading what the kernel sent, on every channel, in the order the
//! kernel sent it.

use super::fake::Fake;
use crate::history::History;
use crate::transport::sockets::{Channel, Channels};
use crate::transport::wire::new_header;
use crate::transport::{Message, Outgoing};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

/// How long a test waits for a message that should come; everything here takes microseconds.
const PATIENCE: Duration = Duration::from_secs(5);

/// A request to send from inside the kernel's own send call, the moment a message matches.
type Trigger = (Box<dyn Fn(Channel, &Message) -> bool + Send>, Channel, Message);

#[derive(Clone)]
struct Inputs {
    shell: UnboundedSender<Message>,
    control: UnboundedSender<Message>,
    stdin: UnboundedSender<Message>,
}

impl Inputs {
    fn send(&self, channel: Channel, msg: Message) {
        let sender = match channel {
            Channel::Shell => &self.shell,
            Channel::Control => &self.control,
            Channel::Stdin => &self.stdin,
            Channel::Iopub => panic!("a frontend does not send on iopub"),
        };
        sender.send(msg).expect("the kernel stopped reading");
    }
}

pub struct Kernel {
    pub fake: Arc<Fake>,
    inputs: Inputs,
    trigger: Arc<Mutex<Option<Trigger>>>,
    outgoing: UnboundedReceiver<(Channel, Message)>,
    /// Everything the kernel sent so far, in order.
    pub seen: Vec<(Channel, Message)>,
    served: JoinHandle<()>,
    /// Every request sent, so that a message with some other parent shows.
    sent: Vec<Message>,
}

impl Kernel {
    pub fn start() -> Self {
        Self::start_with_limit(output::limit::DEFAULT_OUTPUT_LIMIT)
    }

    /// A kernel whose cells' output is capped at `limit` bytes (0: no cap).
    pub fn start_with_limit(limit: u64) -> Self {
        let limit = Arc::new(output::OutputLimit::new(limit));
        let (shell, shell_in) = unbounded_channel();
        let (control, control_in) = unbounded_channel();
        let (stdin, stdin_in) = unbounded_channel();
        let inputs = Inputs { shell, control, stdin };
        let (out_tx, outgoing) = unbounded_channel();
        let trigger: Arc<Mutex<Option<Trigger>>> = Arc::default();
        let (armed, frontend) = (trigger.clone(), inputs.clone());
        let route = move |channel, msg: Message| {
            let mut armed = armed.lock().unwrap();
            if armed.as_ref().is_some_and(|(when, _, _)| when(channel, &msg)) {
                let (_, to, request) = armed.take().unwrap();
                frontend.send(to, request);
            }
            let _ = out_tx.send((channel, msg));
        };
        let channels = Channels { shell: shell_in, control: control_in, stdin: stdin_in, outgoing: Outgoing::new(route) };
        let fake = Arc::new(Fake::default());
        let served = tokio::spawn(super::super::serve_with(channels, fake.clone(), History::at(None), limit));
        Kernel { fake, inputs, trigger, outgoing, seen: Vec::new(), served, sent: Vec::new() }
    }

    /// Sends a request the way jupyter_client would; each one comes from its own ROUTER identity
    /// (two frames, as through a proxy), so a reply that goes to the wrong peer shows.
    pub fn send(&mut self, channel: Channel, msg_type: &str, content: Value) -> Message {
        let msg = self.request(msg_type, content);
        self.inputs.send(channel, msg.clone());
        msg
    }

    /// Sends a request at the very moment the kernel sends a message that `when` accepts, before
    /// the kernel's next step: what a frontend does at once on seeing it, at its fastest.
    pub fn send_when(
        &mut self,
        when: impl Fn(Channel, &Message) -> bool + Send + 'static,
        channel: Channel,
        msg_type: &str,
        content: Value,
    ) -> Message {
        let msg = self.request(msg_type, content);
        *self.trigger.lock().unwrap() = Some((Box::new(when), channel, msg.clone()));
        msg
    }

    fn request(&mut self, msg_type: &str, content: Value) -> Message {
        let msg = Message {
            identities: vec![Bytes::from_static(b"proxy"), Bytes::from(format!("peer-{}", self.sent.len() + 1))],
            header: new_header("client-session", msg_type),
            parent_header: json!({}),
            metadata: json!({}),
            content,
            buffers: Vec::new(),
        };
        self.sent.push(msg.clone());
        msg
    }

    pub fn execute(&mut self, code: &str, extra: Value) -> Message {
        let mut content = json!({ "code": code, "silent": false, "store_history": true,
                                  "user_expressions": {}, "allow_stdin": false, "stop_on_error": true });
        if let (Value::Object(content), Value::Object(extra)) = (&mut content, extra) {
            content.extend(extra);
        }
        self.send(Channel::Shell, "execute_request", content)
    }

    /// Waits for the first message (seen or to come) that `wanted` accepts.
    pub async fn wait_for(&mut self, what: &str, wanted: impl Fn(Channel, &Message) -> bool) -> Message {
        if let Some((_, msg)) = self.seen.iter().find(|(c, m)| wanted(*c, m)) {
            return msg.clone();
        }
        loop {
            match tokio::time::timeout(PATIENCE, self.outgoing.recv()).await {
                Ok(Some((channel, msg))) => {
                    self.seen.push((channel, msg.clone()));
                    if wanted(channel, &msg) {
                        return msg;
                    }
                }
                Ok(None) => panic!("the kernel stopped before {what}; it sent {}", self.describe()),
                Err(_) => panic!("no {what} within {PATIENCE:?}; the kernel sent {}", self.describe()),
            }
        }
    }

    /// Waits for the iopub `status: idle` of a request and returns everything sent for it.
    pub async fn finish(&mut self, request: &Message) -> Vec<(Channel, Message)> {
        let id = request.header.msg_id.clone();
        self.wait_for(&format!("idle for {}", request.msg_type()), |c, m| {
            c == Channel::Iopub && parent_id(m) == id && state(m) == Some("idle")
        })
        .await;
        self.of(request)
    }

    /// Waits for the reply to a request on `channel`.
    pub async fn reply(&mut self, channel: Channel, request: &Message) -> Message {
        let id = request.header.msg_id.clone();
        self.wait_for(&format!("reply to {}", request.msg_type()), |c, m| {
            c == channel && parent_id(m) == id && m.msg_type().ends_with("_reply")
        })
        .await
    }

    /// What the kernel has sent so far whose parent is `request`, in order.
    pub fn of(&self, request: &Message) -> Vec<(Channel, Message)> {
        self.seen.iter().filter(|(_, m)| parent_id(m) == request.header.msg_id).cloned().collect()
    }

    /// Collects whatever else the kernel sends within `quiet`, for checks that nothing more came.
    pub async fn settle(&mut self, quiet: Duration) {
        while let Ok(Some((channel, msg))) = tokio::time::timeout(quiet, self.outgoing.recv()).await {
            self.seen.push((channel, msg));
        }
    }

    /// Waits for the kernel's serve loop to return (after a shutdown request).
    pub async fn stopped(self) -> Vec<(Channel, Message)> {
        let Kernel { served, mut outgoing, mut seen, .. } = self;
        tokio::time::timeout(PATIENCE, served).await.expect("the kernel did not stop after shutdown").unwrap();
        while let Ok((channel, msg)) = outgoing.try_recv() {
            seen.push((channel, msg));
        }
        seen
    }

    /// Checks that the kernel announced itself first and that everything after has one of the
    /// requests sent as its parent.
    pub fn assert_all_parented(&self) {
        let Some(((channel, first), rest)) = self.seen.split_first() else { return };
        assert!(
            *channel == Channel::Iopub && state(first) == Some("starting"),
            "the first message is not status starting: {}",
            self.describe()
        );
        let headers: Vec<Value> = self.sent.iter().map(|m| serde_json::to_value(&m.header).unwrap()).collect();
        for (c, m) in rest {
            let what = m.msg_type();
            assert!(headers.contains(&m.parent_header), "{c:?}:{what} has a parent never sent: {}", m.parent_header);
        }
    }

    pub fn describe(&self) -> String {
        describe(&self.seen)
    }
}

pub fn parent_id(msg: &Message) -> &str {
    msg.parent_header.get("msg_id").and_then(Value::as_str).unwrap_or_default()
}

pub fn state(msg: &Message) -> Option<&str> {
    (msg.msg_type() == "status").then(|| msg.content["execution_state"].as_str()).flatten()
}

/// `channel:msg_type` of each message, with the state of statuses: short enough for a panic.
pub fn describe(msgs: &[(Channel, Message)]) -> String {
    let names: Vec<String> = msgs
        .iter()
        .map(|(c, m)| match state(m) {
            Some(s) => format!("{c:?}:status:{s}"),
            None => format!("{c:?}:{}", m.msg_type()),
        })
        .collect();
    format!("[{}]", names.join(", "))
}

/// The shape of an exchange: `channel:msg_type` (statuses as `status:busy`), for comparing with
/// what a test expects.
pub fn shape(msgs: &[(Channel, Message)]) -> Vec<String> {
    msgs.iter()
        .map(|(c, m)| {
            let channel = format!("{c:?}").to_lowercase();
            match state(m) {
                Some(s) => format!("{channel}:status:{s}"),
                None => format!("{channel}:{}", m.msg_type()),
            }
        })
        .collect()
}

/// Checks what every client relies on for one request: iopub `busy` first and `idle` last (so
/// after the reply and after every output), each message's parent is the request's header, and
/// the reply goes once to the request's channel and peer.
pub fn assert_framed(msgs: &[(Channel, Message)], request: &Message, channel: Channel, reply_type: Option<&str>) {
    let what = format!("{} -> {}", request.msg_type(), describe(msgs));
    assert!(msgs.len() >= 2, "{what}: fewer than two messages");
    let (first, last) = (&msgs[0], &msgs[msgs.len() - 1]);
    assert!(first.0 == Channel::Iopub && state(&first.1) == Some("busy"), "{what}: busy does not come first");
    assert!(last.0 == Channel::Iopub && state(&last.1) == Some("idle"), "{what}: idle does not come last");
    let statuses = msgs.iter().filter(|(_, m)| m.msg_type() == "status").count();
    assert_eq!(statuses, 2, "{what}: one busy and one idle expected");

    let header = serde_json::to_value(&request.header).unwrap();
    for (c, m) in msgs {
        assert_eq!(m.parent_header, header, "{what}: {c:?}:{} has another parent", m.msg_type());
        if *c != Channel::Iopub {
            assert_eq!(m.identities, request.identities, "{what}: {c:?}:{} goes to another peer", m.msg_type());
        }
    }
    let replies: Vec<&(Channel, Message)> = msgs.iter().filter(|(_, m)| m.msg_type().ends_with("_reply")).collect();
    match reply_type {
        Some(reply_type) => {
            assert_eq!(replies.len(), 1, "{what}: one reply expected");
            assert_eq!(replies[0].0, channel, "{what}: the reply is on the wrong channel");
            assert_eq!(replies[0].1.msg_type(), reply_type, "{what}: wrong reply type");
        }
        None => assert!(replies.is_empty(), "{what}: no reply expected"),
    }
}
