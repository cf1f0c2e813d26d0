//! The seam between the protocol and a language: one method per request, typed in and out.
//! The dispatcher turns messages into these calls; an interpreter never sees a message or socket.

use output::{MimeBundle, OutputSink};
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::Arc;

pub struct ExecuteRequest {
    pub code: String,
    pub user_expressions: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ErrorInfo {
    pub ename: String,
    pub evalue: String,
    pub traceback: Vec<String>,
}

impl ErrorInfo {
    pub fn new(ename: &str, evalue: impl Into<String>) -> Self {
        let evalue = evalue.into();
        Self { ename: ename.into(), traceback: vec![format!("{ename}: {evalue}")], evalue }
    }
}

pub enum ExecuteOutcome {
    Ok {
        /// The value of the cell, shown as `execute_result`.
        result: Option<MimeBundle>,
        /// Reply payloads, e.g. a pager page.
        payload: Vec<Value>,
        user_expressions: Map<String, Value>,
    },
    Error(ErrorInfo),
}

pub struct Completions {
    pub matches: Vec<String>,
    /// Positions in Unicode code points, as the protocol counts them.
    pub cursor_start: usize,
    pub cursor_end: usize,
    pub metadata: Value,
}

pub enum IsComplete {
    Complete,
    Incomplete { indent: String },
    Invalid,
}

/// Reads a line that user code or a magic asked for, through the frontend's input box.
pub use output::InputReader;

pub trait Interpreter: Send + Sync + 'static {
    /// The `language_info`, banner and help links of kernel_info; must answer at once.
    fn kernel_info(&self) -> Value;
    fn execute(
        &self,
        request: ExecuteRequest,
        sink: Arc<dyn OutputSink>,
        input: Arc<dyn InputReader>,
    ) -> impl Future<Output = ExecuteOutcome> + Send;
    /// `cursor_pos` in Unicode code points.
    fn complete(&self, code: String, cursor_pos: usize) -> impl Future<Output = Completions> + Send;
    fn inspect(&self, code: String, cursor_pos: usize, detail_level: u8) -> impl Future<Output = Option<MimeBundle>> + Send;
    fn is_complete(&self, code: &str) -> IsComplete;
    /// Stops whatever runs now; called from the control channel while `execute` is in progress.
    fn interrupt(&self);
    /// Ends child processes before the kernel exits or restarts.
    fn shutdown(&self);
}
