//! Sessions and dispatch: turns requests into calls on an [`Interpreter`], wraps every request in
//! busy/idle, numbers executions, keeps history, and sends replies and side effects with the right
//! parent. It knows messages, not sockets: everything goes out through [`Outgoing`].

mod control;
mod shell;
mod sink;
mod stdin;
#[cfg(test)]
mod tests;

use crate::history::History;
use crate::interpreter::Interpreter;
use crate::transport::sockets::{log, Channel, Channels};
use crate::transport::{Message, Outgoing};
use output::OutputLimit;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Notify;

pub use sink::{IopubSink, SilentSink};
pub use stdin::StdinBridge;

/// What every handler needs to answer: the kernel's session id and the outgoing channels.
#[derive(Clone)]
pub struct Replier {
    pub session: String,
    pub out: Outgoing,
}

impl Replier {
    pub fn reply(&self, channel: Channel, request: &Message, msg_type: &str, content: Value) {
        self.out.send(channel, request.child(&self.session, msg_type, content));
    }

    pub fn publish(&self, request: &Message, msg_type: &str, content: Value) {
        let mut msg = request.child(&self.session, msg_type, content);
        msg.identities = vec![format!("kernel.{}.{}", self.session, msg_type).into()];
        self.out.send(Channel::Iopub, msg);
    }

    pub fn status(&self, request: &Message, state: &str) {
        self.publish(request, "status", json!({ "execution_state": state }));
    }
}

/// Serves the kernel until a shutdown request. A restart is the frontend's to do: it starts a
/// new process once this one has exited.
pub async fn serve<I: Interpreter>(channels: Channels, interpreter: Arc<I>) {
    let (limit, warning) = OutputLimit::from_env();
    if let Some(warning) = warning {
        log(&warning);
    }
    serve_with(channels, interpreter, History::new(), Arc::new(limit)).await
}

/// [`serve`] with the history it keeps and the output cap given: tests pass a history that
/// writes no file and a cap of their own.
async fn serve_with<I: Interpreter>(channels: Channels, interpreter: Arc<I>, history: History, limit: Arc<OutputLimit>) {
    let replier = Replier { session: uuid::Uuid::new_v4().to_string(), out: channels.outgoing.clone() };
    let stdin = StdinBridge::new(replier.clone());
    let shutdown = Arc::new(Notify::new());

    // Tell frontends we are here before anything slow happens.
    let starting = Message {
        identities: Vec::new(),
        header: crate::transport::wire::new_header(&replier.session, "status"),
        parent_header: json!({}),
        metadata: json!({}),
        content: json!({}),
        buffers: Vec::new(),
    };
    replier.status(&starting, "starting");

    tokio::spawn(stdin.clone().route_replies(channels.stdin));
    tokio::spawn(control::run(
        channels.control,
        interpreter.clone(),
        replier.clone(),
        stdin.clone(),
        shutdown.clone(),
    ));
    let shell = tokio::spawn(shell::run(
        channels.shell,
        interpreter.clone(),
        replier.clone(),
        stdin,
        shutdown.clone(),
        history,
        limit,
    ));

    shutdown.notified().await;
    interpreter.shutdown();
    shell.abort();
    // Let the sender tasks flush the shutdown reply and the last status.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

pub fn kernel_info_content<I: Interpreter>(interpreter: &I) -> Value {
    let mut content = json!({
        "status": "ok",
        "protocol_version": crate::transport::wire::PROTOCOL_VERSION,
        "implementation": "kubernel",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "debugger": false,
    });
    if let (Value::Object(target), Value::Object(extra)) = (&mut content, interpreter.kernel_info()) {
        target.extend(extra);
    }
    content
}

/// Handles a shutdown request on either channel: reply, then stop serving.
pub fn shutdown_requested(replier: &Replier, channel: Channel, msg: &Message, shutdown: &Notify) {
    let wants_restart = msg.content.get("restart").and_then(Value::as_bool).unwrap_or(false);
    replier.reply(channel, msg, "shutdown_reply", json!({ "status": "ok", "restart": wants_restart }));
    shutdown.notify_one();
}
