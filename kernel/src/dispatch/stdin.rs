//! Input requests: user code asks for a line, the frontend's input box answers on the stdin
//! channel. The request goes out with the identities of the shell request that is running.

use super::Replier;
use crate::interpreter::InputReader;
use crate::transport::sockets::Channel;
use crate::transport::Message;
use serde_json::{json, Value};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// How long an input box may wait for a person before the cell gets an error.
const INPUT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Clone)]
pub struct StdinBridge {
    replier: Replier,
    pending: Arc<Mutex<Option<Sender<Result<String, String>>>>>,
}

impl StdinBridge {
    pub fn new(replier: Replier) -> Self {
        Self { replier, pending: Arc::new(Mutex::new(None)) }
    }

    /// Delivers input replies to whoever waits for one.
    pub async fn route_replies(self, mut replies: UnboundedReceiver<Message>) {
        while let Some(msg) = replies.recv().await {
            if msg.msg_type() != "input_reply" {
                crate::transport::sockets::log(&format!("stdin: ignored a {} message", msg.msg_type()));
                continue;
            }
            let value = msg.content.get("value").and_then(Value::as_str).unwrap_or_default().to_string();
            match self.pending.lock().unwrap().take() {
                Some(waiter) => {
                    let _ = waiter.send(Ok(value));
                }
                None => crate::transport::sockets::log("stdin: an input_reply came when no input was asked for"),
            }
        }
    }

    /// Ends a wait for input, as an interrupt does.
    pub fn cancel(&self) {
        if let Some(waiter) = self.pending.lock().unwrap().take() {
            let _ = waiter.send(Err("interrupted while waiting for input".into()));
        }
    }

    /// A reader bound to one shell request.
    pub fn reader_for(&self, request: &Message, allowed: bool) -> Arc<dyn InputReader> {
        Arc::new(RequestInput { bridge: self.clone(), request: request.clone(), allowed })
    }
}

struct RequestInput {
    bridge: StdinBridge,
    request: Message,
    allowed: bool,
}

impl InputReader for RequestInput {
    fn read_line(&self, prompt: &str, password: bool) -> Result<String, String> {
        if !self.allowed {
            return Err("this frontend does not accept input (allow_stdin is false)".into());
        }
        let (tx, rx) = channel();
        *self.bridge.pending.lock().unwrap() = Some(tx);
        self.bridge.replier.reply(
            Channel::Stdin,
            &self.request,
            "input_request",
            json!({ "prompt": prompt, "password": password }),
        );
        let deadline = Instant::now() + INPUT_TIMEOUT;
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(answer) => return answer,
                Err(RecvTimeoutError::Disconnected) => return Err("the input request was dropped".into()),
                Err(RecvTimeoutError::Timeout) if Instant::now() > deadline => {
                    self.bridge.pending.lock().unwrap().take();
                    return Err(format!("no input arrived within {} minutes", INPUT_TIMEOUT.as_secs() / 60));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn cancel(&self) {
        self.bridge.cancel();
    }
}
