//! The thread that owns evcxr's `CommandContext`. evcxr is synchronous and not shareable, so every
//! use of it (execute, completion, hover) is a job sent here and answered on a oneshot channel.
//! The context is created in the background at start-up so that kernel_info never waits for it.

use super::compile_errors;
use super::output_pump::Pump;
use super::snapshot::Recorder;
use crate::interpreter::{ErrorInfo, InputReader};
use evcxr::{CommandContext, EvalCallbacks, Error as EvcxrError};
use magics::Snapshot;
use output::{MimeBundle, OutputSink};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

pub enum RustOutcome {
    /// The cell ran. `bundle` is what evcxr displayed; `is_value` when it is the cell's value.
    Ran { bundle: Option<MimeBundle>, is_value: bool },
    Failed(ErrorInfo),
}

/// Who asked for code to run.
pub enum Origin {
    /// A cell of the notebook: counted in the snapshot.
    Cell,
    /// A user expression of an execute request.
    Expression,
    /// The kernel's own code, which brings no `evcxr_display` types; `holds` (a file the code
    /// reads, say) is dropped once the code has run or been given up.
    Kernel {
        #[allow(dead_code)] // only held
        holds: Box<dyn Send>,
    },
}

enum Job {
    Execute {
        code: String,
        first_line: usize,
        sink: Arc<dyn OutputSink>,
        input: Arc<dyn InputReader>,
        origin: Origin,
        done: oneshot::Sender<RustOutcome>,
    },
    Complete { code: String, byte_pos: usize, done: oneshot::Sender<Option<evcxr::Completions>> },
    Hover { code: String, byte_pos: usize, done: oneshot::Sender<Option<(String, String)>> },
}

/// State the control channel reads while a job runs.
#[derive(Default)]
struct Shared {
    child: Mutex<Option<Arc<Mutex<Child>>>>,
    running_cell: AtomicBool,
    interrupted: AtomicBool,
    /// Jobs sent and not finished; an interrupt only matters while this is above zero.
    queued: AtomicUsize,
    ready: AtomicBool,
    /// Set once the evaluator is started and its analysis warm (or a job came first); `failed`
    /// when it could not start.
    warm: AtomicBool,
    failed: AtomicBool,
    /// Set once the session may hold a type with `evcxr_display` (see final_value.rs).
    rich_display: AtomicBool,
    /// What the notebook has defined, as of its last successful cell (see snapshot.rs).
    snapshot: Mutex<Snapshot>,
}

#[derive(Clone)]
pub struct EvcxrWorker {
    jobs: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

impl EvcxrWorker {
    pub fn start() -> Self {
        let (jobs, rx) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("evcxr".into())
            .spawn(move || run(rx, thread_shared))
            .expect("can start the evcxr thread");
        Self { jobs, shared }
    }

    pub fn is_ready(&self) -> bool {
        self.shared.ready.load(Ordering::SeqCst)
    }

    /// Waits until the evaluator is started and warm: true, or false if it could not start or
    /// `timeout` passed.
    pub fn wait_warm(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.shared.failed.load(Ordering::SeqCst) {
                return false;
            }
            if self.shared.warm.load(Ordering::SeqCst) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// Queues kernel code ahead of anything sent later, without waiting for it; a failure is
    /// logged as `what`, and ends the child (evcxr starts another, with this process's
    /// environment and directory).
    pub fn execute_soon(&self, code: String, origin: Origin, what: &'static str) {
        let sink: Arc<dyn OutputSink> = Arc::new(output::RecordingSink::default());
        let Some(rx) = self.submit(code, 1, sink, Arc::new(output::NoInput), origin) else { return };
        let worker = self.clone();
        std::thread::spawn(move || {
            if let Ok(RustOutcome::Failed(error)) = rx.blocking_recv() {
                crate::transport::sockets::log(&format!("{what} failed: {}: {}", error.ename, error.evalue));
                worker.kill_child();
            }
        });
    }

    pub async fn execute(
        &self,
        code: String,
        first_line: usize,
        sink: Arc<dyn OutputSink>,
        input: Arc<dyn InputReader>,
        origin: Origin,
    ) -> RustOutcome {
        let gone = || RustOutcome::Failed(ErrorInfo::new("EvaluatorGone", "the Rust evaluator has stopped"));
        match self.submit(code, first_line, sink, input, origin) {
            Some(rx) => rx.await.unwrap_or_else(|_| gone()),
            None => gone(),
        }
    }

    /// Queues code to run, counted for interrupts; None if the evaluator has stopped.
    fn submit(&self, code: String, first_line: usize, sink: Arc<dyn OutputSink>, input: Arc<dyn InputReader>, origin: Origin) -> Option<oneshot::Receiver<RustOutcome>> {
        let (done, rx) = oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        self.jobs.send(Job::Execute { code, first_line, sink, input, origin, done }).ok()?;
        Some(rx)
    }

    /// The notebook's state after its last successful cell; a copy, taken under a short lock.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot.lock().unwrap().clone()
    }

    pub async fn complete(&self, code: String, byte_pos: usize) -> Option<evcxr::Completions> {
        let (done, rx) = oneshot::channel();
        self.jobs.send(Job::Complete { code, byte_pos, done }).ok()?;
        rx.await.ok().flatten()
    }

    pub async fn hover(&self, code: String, byte_pos: usize) -> Option<(String, String)> {
        let (done, rx) = oneshot::channel();
        self.jobs.send(Job::Hover { code, byte_pos, done }).ok()?;
        rx.await.ok().flatten()
    }

    /// Stops the running or queued cell: kills the child process that runs user code.
    pub fn interrupt(&self) {
        if self.shared.queued.load(Ordering::SeqCst) == 0 {
            return;
        }
        self.shared.interrupted.store(true, Ordering::SeqCst);
        if self.shared.running_cell.load(Ordering::SeqCst) {
            self.kill_child();
        }
    }

    pub fn kill_child(&self) {
        if let Some(child) = self.shared.child.lock().unwrap().as_ref() {
            let _ = child.lock().unwrap().kill();
        }
    }
}

fn run(jobs: mpsc::Receiver<Job>, shared: Arc<Shared>) {
    let started = std::time::Instant::now();
    let (mut context, pump) = match CommandContext::new() {
        Ok((context, outputs)) => (context, Pump::start(outputs.stdout, outputs.stderr)),
        Err(err) => {
            let message = startup_message(&err.to_string());
            crate::transport::sockets::log(&message);
            shared.failed.store(true, Ordering::SeqCst);
            shared.ready.store(true, Ordering::SeqCst);
            return refuse_all(jobs, &shared, message);
        }
    };
    *shared.child.lock().unwrap() = Some(context.process_handle());
    let mut recorder = Recorder::new(build_dir(&mut context));
    shared.ready.store(true, Ordering::SeqCst);
    crate::startup::mark(&format!("evaluator started ({:.1} s)", started.elapsed().as_secs_f64()));
    // rust-analyzer's first type inference over std costs seconds, paid by the first cell that
    // binds a variable. Pay it now if nobody is waiting: a completion request runs the same
    // analysis without compiling or defining anything.
    let mut next = jobs.try_recv().ok();
    if next.is_none() {
        let warm_up = "let kubernel_warm_up = vec![String::new()]; kubernel_warm_up.iter().map(|s| s.len";
        let _ = context.completions(warm_up, warm_up.len());
        crate::startup::mark("analysis warm");
    }
    shared.warm.store(true, Ordering::SeqCst);
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Execute { code, first_line, sink, input, origin, done } => {
                let outcome = if shared.interrupted.swap(false, Ordering::SeqCst) {
                    RustOutcome::Failed(ErrorInfo::new("Interrupted", "the cell was interrupted before it started"))
                } else if done.is_closed() {
                    // Nobody waits for it any more (a magic that was interrupted): do not run it.
                    RustOutcome::Failed(ErrorInfo::new("Interrupted", "the code was given up before it started"))
                } else {
                    let cell = Cell { code: &code, first_line, origin: &origin };
                    execute(&mut context, &pump, &shared, &mut recorder, cell, sink, input)
                };
                // A file the code read goes before its caller hears back.
                if matches!(origin, Origin::Cell) {
                    crate::startup::first_cell_done();
                }
                drop(origin);
                if shared.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
                    shared.interrupted.store(false, Ordering::SeqCst);
                }
                let _ = done.send(outcome);
            }
            Job::Complete { code, byte_pos, done } => {
                let _ = done.send(context.completions(&code, byte_pos).ok());
            }
            Job::Hover { code, byte_pos, done } => {
                let _ = done.send(context.hover_at(&code, byte_pos).ok());
            }
        }
    }
}

fn refuse_all(jobs: mpsc::Receiver<Job>, shared: &Shared, message: String) {
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Execute { done, .. } => {
                shared.queued.fetch_sub(1, Ordering::SeqCst);
                let _ = done.send(RustOutcome::Failed(ErrorInfo::new("EvaluatorUnavailable", message.clone())));
            }
            Job::Complete { done, .. } => drop(done.send(None)),
            Job::Hover { done, .. } => drop(done.send(None)),
        }
    }
}

/// evcxr's build folder (Cargo.toml, Cargo.lock, src/lib.rs), from its `:last_compile_dir`
/// command; it does not change during a session. None if evcxr does not say.
fn build_dir(context: &mut CommandContext) -> Option<PathBuf> {
    let outputs = context.execute(":last_compile_dir").ok()?;
    let dir = PathBuf::from(outputs.content_by_mime_type.get("text/plain")?.trim());
    dir.is_dir().then_some(dir)
}

/// A start-up failure, with the fix when it is a known one.
fn startup_message(error: &str) -> String {
    let hint = if error.contains("rust-src") || error.contains("sysroot") || error.contains("library/core") {
        " The Rust sources are missing: run `rustup component add rust-src`."
    } else if error.contains("cargo") && error.contains("No such file") {
        " cargo was not found on PATH: install Rust with rustup."
    } else {
        ""
    };
    format!("Rust cells are unavailable: the evaluator could not start: {}.{hint}", error.trim())
}

struct Cell<'a> {
    code: &'a str,
    first_line: usize,
    origin: &'a Origin,
}

fn execute(
    context: &mut CommandContext,
    pump: &Pump,
    shared: &Shared,
    recorder: &mut Recorder,
    cell: Cell,
    sink: Arc<dyn OutputSink>,
    input: Arc<dyn InputReader>,
) -> RustOutcome {
    let Cell { code, first_line, origin } = cell;
    // The cell runs on the main thread of evcxr's child, whose OS id is the child's pid.
    let cell_thread = context.process_handle().lock().unwrap().id();
    pump.attach(sink.clone(), cell_thread);
    recorder.before_cell();
    let variables_before: Vec<String> = context.variables_and_types().map(|(name, _)| name.to_string()).collect();
    let reader_sink = sink.clone();
    // InputRequest is not exported by evcxr: let the closure's type come from the field.
    let mut callbacks = EvalCallbacks {
        input_reader: &move |request| match input.read_line(&request.prompt, request.is_password) {
            Ok(line) => line,
            Err(why) => {
                reader_sink.stream(output::StreamName::Stderr, &format!("input: {why}\n"));
                // The cell's read of stdin sees end of file (see child_output.rs).
                crate::child_output::NO_INPUT.to_string()
            }
        },
    };
    shared.running_cell.store(true, Ordering::SeqCst);
    let kernel_code = matches!(origin, Origin::Kernel { .. });
    if !kernel_code && super::final_value::may_add_rich_display(code) {
        shared.rich_display.store(true, Ordering::SeqCst);
    }
    let fast = if shared.rich_display.load(Ordering::SeqCst) { None } else { super::final_value::rewrite(code) };
    let result = match fast {
        Some(fast) => match context.execute_with_callbacks(&fast, &mut callbacks) {
            // Compile again as written, so that errors point at the user's own code.
            Err(EvcxrError::CompilationErrors(_)) => context.execute_with_callbacks(code, &mut callbacks),
            other => other,
        },
        None => context.execute_with_callbacks(code, &mut callbacks),
    };
    shared.running_cell.store(false, Ordering::SeqCst);
    // A dead child is replaced by evcxr: track the new one so interrupt kills the right process.
    *shared.child.lock().unwrap() = Some(context.process_handle());
    pump.flush();
    let panic = pump.take_panic();
    pump.cell_ended();
    let interrupted = shared.interrupted.swap(false, Ordering::SeqCst);
    match result {
        Ok(outputs) => {
            // evcxr keeps what the cell defined even when it panicked; read it before anything
            // else rewrites lib.rs, but count only cells that succeeded.
            let counts = matches!(origin, Origin::Cell) && panic.is_none();
            recorder.after_cell(code, &mut shared.snapshot.lock().unwrap(), counts);
            if let Some(message) = panic {
                let mut info = ErrorInfo::new("Panic", message.trim());
                info.traceback = vec![format!("panicked: {}", message.trim())];
                return RustOutcome::Failed(info);
            }
            if let Some(took) = outputs.timing {
                // `:timing` is on: say where the time went, as evcxr does.
                let mut text = format!("Took {}ms\n", took.as_millis());
                for phase in &outputs.phases {
                    text.push_str(&format!("  {}: {}ms\n", phase.name, phase.duration.as_millis()));
                }
                sink.stream(output::StreamName::Stderr, &text);
            }
            // A cell ending in a loop or a call returning () shows nothing, not "()".
            let unit = outputs.content_by_mime_type.len() == 1
                && outputs.content_by_mime_type.get("text/plain").map(String::as_str) == Some("()");
            if outputs.content_by_mime_type.is_empty() || unit {
                return RustOutcome::Ran { bundle: None, is_value: false };
            }
            let mut bundle = MimeBundle::new();
            for (mime, body) in outputs.content_by_mime_type {
                bundle = bundle.with(&mime, output::markers::content_value(&mime, body));
            }
            RustOutcome::Ran { bundle: Some(bundle), is_value: ends_with_expression(code) }
        }
        Err(EvcxrError::CompilationErrors(errors)) => {
            // A rendering that fails must not take the evaluator's thread with it: rustc's own
            // text is the fallback.
            let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                (compile_errors::render(&errors, code, first_line), compile_errors::summary(&errors))
            }));
            let (traceback, evalue) = rendered.unwrap_or_else(|_| {
                let text: Vec<String> = errors.iter().map(|e| e.rendered()).collect();
                (text.join("\n").lines().map(str::to_string).collect(), "compilation failed".into())
            });
            RustOutcome::Failed(ErrorInfo { ename: "CompileError".into(), evalue, traceback })
        }
        Err(EvcxrError::SubprocessTerminated(status)) => {
            let lost = lost_variables(&variables_before);
            let (ename, what) = if interrupted {
                ("Interrupted", "The cell was interrupted.".to_string())
            } else {
                ("ProcessDied", format!("The process running the cell died ({}).", describe_status(&status)))
            };
            let evalue = format!("{what} {lost}");
            RustOutcome::Failed(ErrorInfo { ename: ename.into(), traceback: vec![format!("{ename}: {evalue}")], evalue })
        }
        Err(EvcxrError::TypeRedefinedVariablesLost(names)) => RustOutcome::Failed(ErrorInfo::new(
            "VariablesLost",
            format!("a type was redefined, so these variables were lost: {}", names.join(", ")),
        )),
        Err(EvcxrError::Message(message)) => RustOutcome::Failed(ErrorInfo::new("EvcxrError", message.trim())),
    }
}

fn lost_variables(names: &[String]) -> String {
    if names.is_empty() {
        "No variables were defined, so none were lost.".to_string()
    } else {
        format!("Variables lost: {}. Define them again to use them.", names.join(", "))
    }
}

/// "Subprocess terminated with status: signal: 11 (SIGSEGV) (core dumped)" -> "signal 11, SIGSEGV".
fn describe_status(status: &str) -> String {
    let tail = status.rsplit("status: ").next().unwrap_or(status).trim();
    let tail = tail.replace(" (core dumped)", "");
    let named = if tail.contains("SIGSEGV") {
        " — a segmentation fault"
    } else if tail.contains("SIGABRT") {
        " — the process aborted"
    } else if tail.contains("SIGKILL") {
        " — killed, perhaps out of memory"
    } else {
        ""
    };
    format!("{tail}{named}")
}

/// Whether the last thing in the code is an expression (its value is the cell's result) rather
/// than a statement or item ending in `;` or `}`.
pub fn ends_with_expression(code: &str) -> bool {
    let meaningful: Vec<&str> = code
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with(':'))
        .collect();
    match meaningful.last() {
        Some(last) => !(last.ends_with(';') || last.ends_with('}')),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_expressions() {
        assert!(ends_with_expression("1 + 1"));
        assert!(ends_with_expression("let x = 1;\nx // the value"));
        assert!(!ends_with_expression("let x = 1;"));
        assert!(!ends_with_expression("fn f() {}"));
        assert!(!ends_with_expression(":vars"));
    }

    #[test]
    fn statuses_read_well() {
        assert_eq!(
            describe_status("Subprocess terminated with status: signal: 11 (SIGSEGV) (core dumped)"),
            "signal: 11 (SIGSEGV) — a segmentation fault"
        );
    }
}
