//! The shell channel: requests are handled one at a time, in order. After an execute that is not
//! silent fails with `stop_on_error`, the executes already queued are answered "aborted" without
//! running; other requests in the queue are still answered normally.

use super::{kernel_info_content, shutdown_requested, IopubSink, Replier, SilentSink, StdinBridge};
use crate::history::{History, Query};
use crate::interpreter::{ExecuteOutcome, ExecuteRequest, Interpreter, IsComplete};
use crate::transport::sockets::{log, Channel};
use crate::transport::Message;
use output::{OutputLimit, OutputSink};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;

struct Shell<I> {
    interpreter: Arc<I>,
    replier: Replier,
    stdin: StdinBridge,
    shutdown: Arc<Notify>,
    execution_count: u32,
    history: History,
    /// The cap on each cell's output, shared with `%output_limit` through the sinks.
    limit: Arc<OutputLimit>,
    requests: UnboundedReceiver<Message>,
    /// Requests that were queued when a cell failed with stop_on_error: taken off the queue
    /// before the failure's reply goes out, so a request sent after seeing it is not aborted.
    held: Vec<Message>,
}

pub async fn run<I: Interpreter>(
    requests: UnboundedReceiver<Message>,
    interpreter: Arc<I>,
    replier: Replier,
    stdin: StdinBridge,
    shutdown: Arc<Notify>,
    history: History,
    limit: Arc<OutputLimit>,
) {
    let mut shell = Shell {
        interpreter,
        replier,
        stdin,
        shutdown,
        execution_count: 0,
        history,
        limit,
        requests,
        held: Vec::new(),
    };
    while let Some(msg) = shell.requests.recv().await {
        shell.handle(&msg).await;
        // Abort the executes that were queued while a failing cell ran; answer the rest.
        for queued in std::mem::take(&mut shell.held) {
            if queued.msg_type() == "execute_request" {
                shell.abort(&queued);
            } else {
                shell.handle(&queued).await;
            }
        }
    }
}

fn str_field<'a>(content: &'a Value, key: &str) -> &'a str {
    content.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn bool_field(content: &Value, key: &str, default: bool) -> bool {
    content.get(key).and_then(Value::as_bool).unwrap_or(default)
}

fn usize_field(content: &Value, key: &str) -> Option<usize> {
    content.get(key).and_then(Value::as_u64).map(|n| n as usize)
}

impl<I: Interpreter> Shell<I> {
    /// Handles one request inside busy/idle.
    async fn handle(&mut self, msg: &Message) {
        self.replier.status(msg, "busy");
        let content = &msg.content;
        match msg.msg_type() {
            "kernel_info_request" => self.reply(msg, "kernel_info_reply", kernel_info_content(&*self.interpreter)),
            "execute_request" => self.execute(msg).await,
            "complete_request" => {
                let code = str_field(content, "code").to_string();
                let cursor = usize_field(content, "cursor_pos").unwrap_or(code.chars().count());
                let done = self.interpreter.complete(code, cursor).await;
                self.reply(
                    msg,
                    "complete_reply",
                    json!({ "status": "ok", "matches": done.matches, "cursor_start": done.cursor_start,
                            "cursor_end": done.cursor_end, "metadata": done.metadata }),
                );
            }
            "inspect_request" => {
                let code = str_field(content, "code").to_string();
                let cursor = usize_field(content, "cursor_pos").unwrap_or(code.chars().count());
                let detail = content.get("detail_level").and_then(Value::as_u64).unwrap_or(0) as u8;
                let found = self.interpreter.inspect(code, cursor, detail).await;
                let (data, metadata) = match &found {
                    Some(bundle) => (Value::Object(bundle.data.clone()), Value::Object(bundle.metadata.clone())),
                    None => (json!({}), json!({})),
                };
                self.reply(
                    msg,
                    "inspect_reply",
                    json!({ "status": "ok", "found": found.is_some(), "data": data, "metadata": metadata }),
                );
            }
            "is_complete_request" => {
                let reply = match self.interpreter.is_complete(str_field(content, "code")) {
                    IsComplete::Complete => json!({ "status": "complete" }),
                    IsComplete::Incomplete { indent } => json!({ "status": "incomplete", "indent": indent }),
                    IsComplete::Invalid => json!({ "status": "invalid" }),
                };
                self.reply(msg, "is_complete_reply", reply);
            }
            "history_request" => {
                let history = self.history_reply(content);
                self.reply(msg, "history_reply", json!({ "status": "ok", "history": history }));
            }
            "comm_info_request" => self.reply(msg, "comm_info_reply", json!({ "status": "ok", "comms": {} })),
            "comm_open" => {
                // No comm targets are registered: close at once so the frontend does not wait.
                let comm_id = str_field(content, "comm_id");
                log(&format!("comm target {:?} is unknown; closing comm {comm_id}", str_field(content, "target_name")));
                self.replier.publish(msg, "comm_close", json!({ "comm_id": comm_id, "data": {} }));
            }
            "comm_msg" | "comm_close" => {}
            "shutdown_request" => {
                shutdown_requested(&self.replier, Channel::Shell, msg, &self.shutdown)
            }
            other => log(&format!("shell: {other} is not supported")),
        }
        self.replier.status(msg, "idle");
    }

    fn reply(&self, msg: &Message, msg_type: &str, content: Value) {
        self.replier.reply(Channel::Shell, msg, msg_type, content);
    }

    fn abort(&mut self, msg: &Message) {
        self.replier.status(msg, "busy");
        self.reply(
            msg,
            "execute_reply",
            json!({ "status": "aborted", "execution_count": self.execution_count, "user_expressions": {}, "payload": [] }),
        );
        self.replier.status(msg, "idle");
    }

    async fn execute(&mut self, msg: &Message) {
        let content = &msg.content;
        let code = str_field(content, "code").to_string();
        let silent = bool_field(content, "silent", false);
        let store_history = !silent && bool_field(content, "store_history", true);
        let stop_on_error = bool_field(content, "stop_on_error", true);
        let allow_stdin = bool_field(content, "allow_stdin", false);
        let user_expressions = match content.get("user_expressions") {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        // As in IPython, an empty cell takes no number and leaves no history.
        let store_history = store_history && !code.trim().is_empty();
        if store_history {
            self.execution_count += 1;
            self.history.record(self.execution_count as i64, &code);
        }
        let count = self.execution_count;
        if !silent {
            self.replier.publish(msg, "execute_input", json!({ "code": code, "execution_count": count }));
        }
        // The spec: a silent execute broadcasts no output on iopub, only its status.
        let iopub = (!silent).then(|| Arc::new(IopubSink::new(self.replier.clone(), msg, self.limit.clone())));
        let sink: Arc<dyn OutputSink> = match &iopub {
            Some(iopub) => iopub.clone(),
            None => Arc::new(SilentSink::new(self.limit.clone())),
        };
        let request = ExecuteRequest { code, user_expressions };
        let input = self.stdin.reader_for(msg, allow_stdin);
        let outcome = self.interpreter.execute(request, sink, input).await;
        if let Some(iopub) = &iopub {
            // The note on what was left out goes before the result, the error and the reply.
            if iopub.finish() >= crate::memory::LARGE_OUTPUT {
                crate::memory::give_back_soon();
            }
        }
        match outcome {
            ExecuteOutcome::Ok { result, payload, user_expressions } => {
                if let (Some(text), true) = (result.as_ref().and_then(|b| b.text()), store_history) {
                    self.history.record_output(count as i64, text);
                }
                if let (Some(bundle), false) = (result, silent) {
                    self.replier.publish(
                        msg,
                        "execute_result",
                        json!({ "execution_count": count, "data": bundle.data, "metadata": bundle.metadata }),
                    );
                }
                self.reply(
                    msg,
                    "execute_reply",
                    json!({ "status": "ok", "execution_count": count, "payload": payload, "user_expressions": user_expressions }),
                );
            }
            ExecuteOutcome::Error(error) => {
                // As ipykernel: a silent request's failure (a frontend's background query)
                // aborts none of the user's queued cells.
                if stop_on_error && !silent {
                    while let Ok(queued) = self.requests.try_recv() {
                        self.held.push(queued);
                    }
                }
                if !silent {
                    self.replier.publish(
                        msg,
                        "error",
                        json!({ "ename": error.ename, "evalue": error.evalue, "traceback": error.traceback }),
                    );
                }
                self.reply(
                    msg,
                    "execute_reply",
                    json!({ "status": "error", "execution_count": count, "ename": error.ename,
                            "evalue": error.evalue, "traceback": error.traceback, "user_expressions": {}, "payload": [] }),
                );
            }
        }
    }

    fn history_reply(&mut self, content: &Value) -> Vec<Value> {
        let n = usize_field(content, "n");
        let query = match str_field(content, "hist_access_type") {
            "tail" => Query::Tail { n: n.unwrap_or(10) },
            "range" => Query::Range {
                session: content.get("session").and_then(Value::as_i64).unwrap_or(0),
                start: content.get("start").and_then(Value::as_i64).unwrap_or(1),
                stop: content.get("stop").and_then(Value::as_i64),
            },
            "search" => Query::Search {
                pattern: str_field(content, "pattern").to_string(),
                n,
                unique: bool_field(content, "unique", false),
            },
            _ => return Vec::new(),
        };
        let output = bool_field(content, "output", false);
        self.history
            .query(query)
            .into_iter()
            .map(|e| if output { json!([e.session, e.line, [e.source, e.output]]) } else { json!([e.session, e.line, e.source]) })
            .collect()
    }
}
