//! A scripted interpreter for the dispatcher's tests. Each line of a cell is one command, so a
//! test says what the "language" does without compiling anything:
//!
//! - `print TEXT` / `eprint TEXT`: a line on stdout / stderr
//! - `bulk N`: N bytes on stdout, in lines of 100 bytes, sent in pieces of 64 kB as the pump does
//! - `display TEXT`: a display_data with TEXT as text/plain
//! - `value TEXT`: the cell's result (execute_result)
//! - `wait`: blocks until the test calls [`Fake::release`] or an interrupt comes
//! - `input PROMPT`: reads a line through the frontend and prints `got ANSWER`
//! - `fail`: the cell ends with an error
//!
//! It records what reached it, so tests can check what the dispatcher passed on.

use crate::interpreter::{Completions, ErrorInfo, ExecuteOutcome, ExecuteRequest, InputReader, Interpreter, IsComplete};
use output::{MimeBundle, OutputSink, StreamName};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Default)]
pub struct Fake {
    /// The code of every execute that reached the interpreter, in order.
    pub executed: Mutex<Vec<String>>,
    pub interrupts: AtomicUsize,
    /// Interrupts that came while a `wait` was blocked, i.e. during an execute.
    pub interrupts_while_running: AtomicUsize,
    pub shutdowns: AtomicUsize,
    waiting: AtomicBool,
    interrupted: AtomicBool,
    gate: Notify,
}

impl Fake {
    /// Lets a blocked `wait` go on.
    pub fn release(&self) {
        self.gate.notify_one();
    }

    /// Returns once a `wait` is blocked, so that a test knows an execute is in progress.
    pub async fn until_waiting(&self) {
        let waited = tokio::time::timeout(Duration::from_secs(5), async {
            while !self.waiting.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        waited.await.expect("no execute reached `wait` within 5 s");
    }

    pub fn executed(&self) -> Vec<String> {
        self.executed.lock().unwrap().clone()
    }

    async fn wait(&self) -> Result<(), ErrorInfo> {
        self.waiting.store(true, Ordering::SeqCst);
        self.gate.notified().await;
        self.waiting.store(false, Ordering::SeqCst);
        if self.interrupted.swap(false, Ordering::SeqCst) {
            return Err(ErrorInfo::new("Interrupted", "the cell was interrupted"));
        }
        Ok(())
    }
}

impl Interpreter for Fake {
    fn kernel_info(&self) -> Value {
        json!({ "language_info": { "name": "fake" }, "banner": "fake interpreter" })
    }

    async fn execute(&self, request: ExecuteRequest, sink: Arc<dyn OutputSink>, input: Arc<dyn InputReader>) -> ExecuteOutcome {
        self.executed.lock().unwrap().push(request.code.clone());
        let mut result = None;
        for line in request.code.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (command, arg) = line.split_once(' ').unwrap_or((line, ""));
            match command {
                "print" => sink.stream(StreamName::Stdout, &format!("{arg}\n")),
                "eprint" => sink.stream(StreamName::Stderr, &format!("{arg}\n")),
                "bulk" => {
                    let total: usize = arg.parse().unwrap_or(0);
                    let text = format!("{}\n", "x".repeat(99)).repeat(total.div_ceil(100));
                    for piece in text.as_bytes()[..total].chunks(64 * 1024) {
                        sink.stream(StreamName::Stdout, std::str::from_utf8(piece).expect("ASCII"));
                    }
                }
                "display" => sink.display(MimeBundle::plain(arg), None),
                "value" => result = Some(MimeBundle::plain(arg)),
                "wait" => {
                    if let Err(error) = self.wait().await {
                        return ExecuteOutcome::Error(error);
                    }
                }
                "input" => {
                    // read_line blocks, as it does for real code: keep it off the runtime's threads.
                    // A plain thread, not spawn_blocking: a test that fails while the read waits
                    // must not keep the runtime from shutting down.
                    let (reader, prompt) = (input.clone(), arg.to_string());
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    std::thread::spawn(move || tx.send(reader.read_line(&prompt, false)));
                    let answer = rx.await.expect("the input thread died");
                    match answer {
                        Ok(text) => sink.stream(StreamName::Stdout, &format!("got {text}\n")),
                        Err(why) => return ExecuteOutcome::Error(ErrorInfo::new("InputError", why)),
                    }
                }
                "fail" => return ExecuteOutcome::Error(ErrorInfo::new("Failure", "the cell failed")),
                _ => return ExecuteOutcome::Error(ErrorInfo::new("UnknownCommand", line)),
            }
        }
        ExecuteOutcome::Ok { result, payload: Vec::new(), user_expressions: Map::new() }
    }

    async fn complete(&self, _code: String, cursor_pos: usize) -> Completions {
        Completions { matches: vec!["alpha".into(), "beta".into()], cursor_start: 0, cursor_end: cursor_pos, metadata: json!({}) }
    }

    async fn inspect(&self, code: String, _cursor_pos: usize, _detail_level: u8) -> Option<MimeBundle> {
        Some(MimeBundle::plain(format!("about {code}")))
    }

    fn is_complete(&self, code: &str) -> IsComplete {
        if code.trim_end().ends_with('{') {
            IsComplete::Incomplete { indent: "    ".into() }
        } else {
            IsComplete::Complete
        }
    }

    fn interrupt(&self) {
        self.interrupts.fetch_add(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) {
            self.interrupts_while_running.fetch_add(1, Ordering::SeqCst);
            self.interrupted.store(true, Ordering::SeqCst);
            self.gate.notify_one();
        }
    }

    fn shutdown(&self) {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
    }
}
