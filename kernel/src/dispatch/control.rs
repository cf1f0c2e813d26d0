//! The control channel, served on its own task so that interrupt and shutdown are answered while
//! a cell compiles or runs.

use super::{kernel_info_content, shutdown_requested, Replier, StdinBridge};
use crate::interpreter::Interpreter;
use crate::transport::sockets::{log, Channel};
use crate::transport::Message;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;

pub async fn run<I: Interpreter>(
    mut requests: UnboundedReceiver<Message>,
    interpreter: Arc<I>,
    replier: Replier,
    stdin: StdinBridge,
    shutdown: Arc<Notify>,
) {
    while let Some(msg) = requests.recv().await {
        replier.status(&msg, "busy");
        match msg.msg_type() {
            "kernel_info_request" => {
                replier.reply(Channel::Control, &msg, "kernel_info_reply", kernel_info_content(&*interpreter))
            }
            "interrupt_request" => {
                interpreter.interrupt();
                stdin.cancel();
                replier.reply(Channel::Control, &msg, "interrupt_reply", json!({ "status": "ok" }));
            }
            "shutdown_request" => {
                shutdown_requested(&replier, Channel::Control, &msg, &shutdown);
                replier.status(&msg, "idle");
                return;
            }
            other => {
                log(&format!("control: {other} is not supported"));
                if let Some(reply_type) = other.strip_suffix("_request") {
                    replier.reply(
                        Channel::Control,
                        &msg,
                        &format!("{reply_type}_reply"),
                        json!({ "status": "error", "ename": "NotSupported", "evalue": format!("{other} is not supported by kubernel"), "traceback": [] }),
                    );
                }
            }
        }
        replier.status(&msg, "idle");
    }
}
