//! The interpreter of kubernel cells: Rust through evcxr, `%` and `%%` lines through the magics
//! registry. It writes to an output sink and knows nothing of messages or sockets.

pub mod code_state;
pub mod compile_errors;
pub mod environment;
pub mod evcxr_worker;
pub mod final_value;
pub mod notebook;
pub mod output_pump;
pub mod snapshot;

use crate::interpreter::{Completions, ErrorInfo, ExecuteOutcome, ExecuteRequest, InputReader, Interpreter, IsComplete};
use code_state::Completeness;
use evcxr_worker::{EvcxrWorker, Origin, RustOutcome};
use magics::{split_cell, MagicOutput, Notebook, Registry, Segment};
use output::{MimeBundle, OutputSink};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long completion or inspection may wait for the evaluator to finish starting.
const ANALYSIS_WAIT: Duration = Duration::from_secs(15);

pub struct RustInterpreter {
    worker: EvcxrWorker,
    registry: Arc<Registry>,
    /// Bumped on every interrupt; running magics watch it and stop.
    interrupts: watch::Sender<u64>,
    /// What magics see of the Rust session.
    notebook: Arc<dyn Notebook>,
}

impl RustInterpreter {
    /// The evaluator, to wait for it from another thread.
    pub fn clone_worker(&self) -> EvcxrWorker {
        self.worker.clone()
    }

    /// The evcxr child takes on `cwd` and `env` (a spare's, at hand-over), before any cell
    /// sent after this. The file it reads goes in `private` (only this user may enter it).
    pub fn adopt_environment(&self, private: &std::path::Path, cwd: &std::path::Path, env: &[(std::ffi::OsString, std::ffi::OsString)]) {
        match environment::write(private, cwd, env) {
            Ok(file) => {
                let code = environment::code(&file);
                self.worker.execute_soon(code, Origin::Kernel { holds: Box::new(file) }, "taking on the session's environment");
            }
            Err(e) => {
                crate::transport::sockets::log(&format!("cannot pass the session's environment to the evaluator: {e}; restarting it"));
                // Its replacement starts with this process's environment, which is the session's.
                self.worker.kill_child();
            }
        }
    }

    pub fn new(registry: Registry) -> Self {
        let worker = EvcxrWorker::start();
        Self {
            notebook: Arc::new(notebook::EvcxrNotebook::new(worker.clone())),
            worker,
            registry: Arc::new(registry),
            interrupts: watch::channel(0).0,
        }
    }

    async fn run_segments(
        &self,
        code: &str,
        sink: &Arc<dyn OutputSink>,
        input: &Arc<dyn InputReader>,
    ) -> Result<(Option<MimeBundle>, Vec<Value>), ErrorInfo> {
        let segments = split_cell(code, &code_state::is_open).map_err(|e| ErrorInfo::new("UsageError", e.to_string()))?;
        let mut result: Option<MimeBundle> = None;
        let mut payload = Vec::new();
        for segment in segments {
            // Only the last segment's value is the cell's result; earlier ones are still shown.
            if let Some(earlier) = result.take() {
                sink.display(earlier, None);
            }
            match segment {
                Segment::Code { code, first_line } => {
                    let code = with_runtime_dep(code)?;
                    match self.worker.execute(code, first_line, sink.clone(), input.clone(), Origin::Cell).await {
                        RustOutcome::Ran { bundle: Some(bundle), is_value: true } => result = Some(bundle),
                        RustOutcome::Ran { bundle: Some(bundle), is_value: false } => sink.display(bundle, None),
                        RustOutcome::Ran { bundle: None, .. } => {}
                        RustOutcome::Failed(error) => return Err(error),
                    }
                }
                Segment::Magic(call) => {
                    let mut interrupts = self.interrupts.subscribe();
                    let outcome = tokio::select! {
                        outcome = self.registry.run(call, sink.clone(), input.clone(), self.notebook.clone()) => outcome,
                        _ = interrupts.changed() => {
                            return Err(ErrorInfo::new("Interrupted", "the magic was interrupted"));
                        }
                    };
                    match outcome {
                        Ok(MagicOutput::None) => {}
                        Ok(MagicOutput::Result(bundle)) => result = Some(bundle),
                        Ok(MagicOutput::Page(bundle)) => {
                            payload.push(json!({ "source": "page", "data": bundle.data, "start": 0 }))
                        }
                        Err(error) => return Err(ErrorInfo::new(&error.ename, error.message)),
                    }
                }
            }
        }
        Ok((result, payload))
    }

    async fn user_expressions(
        &self,
        expressions: &Map<String, Value>,
        input: &Arc<dyn InputReader>,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (name, expr) in expressions {
            let expr = expr.as_str().unwrap_or_default().to_string();
            let sink: Arc<dyn OutputSink> = Arc::new(output::RecordingSink::default());
            let value = match self.worker.execute(expr, 1, sink, input.clone(), Origin::Expression).await {
                RustOutcome::Ran { bundle, .. } => {
                    let data = bundle.map(|b| Value::Object(b.data)).unwrap_or_else(|| json!({}));
                    json!({ "status": "ok", "data": data, "metadata": {} })
                }
                RustOutcome::Failed(e) => {
                    json!({ "status": "error", "ename": e.ename, "evalue": e.evalue, "traceback": e.traceback })
                }
            };
            out.insert(name.clone(), value);
        }
        out
    }

    async fn wait_ready(&self) -> bool {
        let deadline = tokio::time::Instant::now() + ANALYSIS_WAIT;
        while !self.worker.is_ready() {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    async fn complete_magic(&self, line: &str) -> Option<(usize, Vec<String>)> {
        let trimmed = line.trim_start();
        let lead = line.len() - trimmed.len();
        let percents = trimmed.chars().take_while(|c| *c == '%').count();
        if percents == 0 {
            return None;
        }
        let after = &trimmed[percents..];
        match after.find(char::is_whitespace) {
            None => {
                let prefix = &trimmed[..percents];
                let mut names: Vec<String> =
                    self.registry.names().filter(|n| n.starts_with(after)).map(|n| format!("{prefix}{n}")).collect();
                names.sort();
                Some((lead, names))
            }
            Some(name_end) => {
                let magic = self.registry.get(&after[..name_end])?.clone();
                let args_at = lead + percents + name_end;
                let (start, matches) = magic.complete(&line[args_at..]).await;
                Some((args_at + start, matches))
            }
        }
    }
}

/// `:dep kubernel` (no version: the crate is not on crates.io) becomes the runtime crate this
/// kernel carries, written out in the cache, so that `kubernel::rank()` and friends work in a
/// cell as they do in a job's pods. One line for one line: the cell's line numbers stay.
fn with_runtime_dep(code: String) -> Result<String, ErrorInfo> {
    let is_bare = |l: &str| l.trim().strip_prefix(":dep").is_some_and(|rest| rest.trim() == "kubernel");
    if !code.lines().any(is_bare) {
        return Ok(code);
    }
    let dir = programs::Builder::new(programs::Builder::default_root())
        .runtime_dir()
        .map_err(|e| ErrorInfo::new("DependencyError", format!("cannot provide the kubernel crate: {e}")))?;
    let line = format!(":dep kubernel = {{ path = {:?} }}", dir.to_string_lossy());
    Ok(code.split('\n').map(|l| if is_bare(l) { line.as_str() } else { l }).collect::<Vec<_>>().join("\n"))
}

/// Blanks magic lines (keeping byte offsets) so rust-analyzer sees only the Rust code.
fn rust_only(code: &str) -> String {
    code.split('\n')
        .map(|line| if line.trim_start().starts_with('%') { " ".repeat(line.len()) } else { line.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

fn byte_offset(text: &str, char_pos: usize) -> usize {
    text.char_indices().nth(char_pos).map(|(i, _)| i).unwrap_or(text.len())
}

fn char_offset(text: &str, byte_pos: usize) -> usize {
    text[..byte_pos.min(text.len())].chars().count()
}

/// The identifier (or magic name) around a byte position.
fn word_at(code: &str, byte_pos: usize) -> (usize, &str) {
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '%' || c == ':';
    let start = code[..byte_pos].rfind(|c: char| !is_word(c)).map(|i| i + 1).unwrap_or(0);
    let end = code[byte_pos..].find(|c: char| !is_word(c)).map(|i| byte_pos + i).unwrap_or(code.len());
    (start, &code[start..end])
}

impl Interpreter for RustInterpreter {
    fn kernel_info(&self) -> Value {
        json!({
            "language_info": {
                "name": "rust",
                "version": env!("KUBERNEL_RUSTC_VERSION"),
                "mimetype": "text/rust",
                "file_extension": ".rs",
                "pygments_lexer": "rust",
                "codemirror_mode": "rust",
            },
            "banner": "kubernel: Rust cells (through evcxr) and Kubernetes from the notebook. %lsmagic lists the magics.",
            "help_links": [
                { "text": "Rust standard library", "url": "https://doc.rust-lang.org/std/" },
                { "text": "evcxr commands (:help)", "url": "https://github.com/evcxr/evcxr/blob/main/COMMON.md" },
            ],
        })
    }

    async fn execute(&self, request: ExecuteRequest, sink: Arc<dyn OutputSink>, input: Arc<dyn InputReader>) -> ExecuteOutcome {
        match self.run_segments(&request.code, &sink, &input).await {
            Ok((result, payload)) => {
                let user_expressions = self.user_expressions(&request.user_expressions, &input).await;
                ExecuteOutcome::Ok { result, payload, user_expressions }
            }
            Err(error) => ExecuteOutcome::Error(error),
        }
    }

    async fn complete(&self, code: String, cursor_pos: usize) -> Completions {
        let byte_pos = byte_offset(&code, cursor_pos);
        let line_start = code[..byte_pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let empty = Completions { matches: Vec::new(), cursor_start: cursor_pos, cursor_end: cursor_pos, metadata: json!({}) };
        if let Some((start, matches)) = self.complete_magic(&code[line_start..byte_pos]).await {
            let start = char_offset(&code, line_start + start);
            return Completions { matches, cursor_start: start, cursor_end: cursor_pos, metadata: json!({}) };
        }
        if !self.wait_ready().await {
            return empty;
        }
        let Some(found) = self.worker.complete(rust_only(&code), byte_pos).await else { return empty };
        let mut matches: Vec<String> = Vec::new();
        for completion in found.completions {
            if !matches.contains(&completion.code) {
                matches.push(completion.code);
            }
        }
        Completions {
            matches,
            cursor_start: char_offset(&code, found.start_offset),
            cursor_end: char_offset(&code, found.end_offset),
            metadata: json!({}),
        }
    }

    async fn inspect(&self, code: String, cursor_pos: usize, _detail_level: u8) -> Option<MimeBundle> {
        let byte_pos = byte_offset(&code, cursor_pos);
        let (start, word) = word_at(&code, byte_pos);
        if let Some(name) = word.strip_prefix('%') {
            return self.registry.help_page(name.trim_start_matches('%'));
        }
        if !self.wait_ready().await {
            return None;
        }
        // Hover looks at the expression that ends where the src ends: end at the word's end.
        let end = start + word.len();
        let (plain, html) = self.worker.hover(rust_only(&code), end.max(byte_pos)).await?;
        if plain.trim().is_empty() {
            return None;
        }
        Some(MimeBundle::plain(plain).with("text/html", html))
    }

    fn is_complete(&self, code: &str) -> IsComplete {
        // A magic line ending in `\` or an open quote goes on, and a cell magic's body ends with a
        // blank line, so that a terminal client lets a person type the rest.
        if magics::magic_incomplete(code).is_some() {
            return IsComplete::Incomplete { indent: String::new() };
        }
        if code.trim_start().starts_with("%%") {
            return IsComplete::Complete;
        }
        match code_state::completeness(&rust_only(code)) {
            Completeness::Complete => IsComplete::Complete,
            Completeness::Incomplete(indent) => IsComplete::Incomplete { indent },
            Completeness::Invalid(_) => IsComplete::Invalid,
        }
    }

    fn interrupt(&self) {
        self.interrupts.send_modify(|n| *n += 1);
        self.worker.interrupt();
    }

    fn shutdown(&self) {
        self.worker.kill_child();
    }
}

#[cfg(test)]
mod tests {
    use super::with_runtime_dep;

    #[test]
    fn a_bare_dep_on_kubernel_is_the_carried_runtime() {
        let code = with_runtime_dep(":dep kubernel\nlet r = kubernel::rank();".to_string()).unwrap();
        let lines: Vec<&str> = code.lines().collect();
        assert!(lines[0].starts_with(":dep kubernel = { path = \"") && lines[0].ends_with("runtime\" }"), "{code}");
        assert_eq!(lines[1], "let r = kubernel::rank();");
        let dir = lines[0].split('"').nth(1).unwrap();
        assert!(std::path::Path::new(dir).join("src/lib.rs").exists());
        // A dependency with a version, or another crate, is left as written.
        let other = ":dep kubernel = \"9\"\n:dep kubernels".to_string();
        assert_eq!(with_runtime_dep(other.clone()).unwrap(), other);
    }
}
