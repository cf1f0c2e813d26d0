//! Forwards what the evcxr child prints to the sink of the cell that runs, while it runs.
//! stdout and stderr are read on one thread so their order is kept; lines are batched so that
//! 10 MB of output is a few hundred messages, not a hundred thousand. In-band markers on stdout
//! (`output::markers`) become rich displays. The cell's sink caps how much of it is sent
//! (`output::limit`).
//!
//! Panic reports on stderr are taken out of the stream: one of the thread that runs cells is kept
//! for the cell's error; one of another thread (a cell's background work) is shown as stderr,
//! without evcxr's backtrace of generated code, and is nobody's error.

use crossbeam_channel::{select, Receiver, Sender};
use output::markers::{Decoder, Event};
use output::{MimeBundle, OutputSink, StreamName};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BATCH_BYTES: usize = 64 * 1024;
/// How long to gather more lines before sending a partial batch.
const COALESCE: Duration = Duration::from_millis(5);

#[derive(Default)]
pub struct PumpState {
    pub sink: Mutex<Option<Arc<dyn OutputSink>>>,
    pub panic: Mutex<Option<String>>,
    /// A cell runs. Between cells, output comes from threads the cells left running; a panic
    /// report there is shown as it is, as no cell waits to take it as its error.
    pub cell_running: AtomicBool,
    /// The OS thread that runs cells: evcxr's command loop, the main thread of its child, whose
    /// id is the child's pid.
    pub cell_thread: AtomicU32,
}

pub struct Pump {
    state: Arc<PumpState>,
    flush_tx: Sender<Sender<()>>,
}

impl Pump {
    pub fn start(stdout: Receiver<String>, stderr: Receiver<String>) -> Pump {
        let state = Arc::new(PumpState::default());
        let (flush_tx, flush_rx) = crossbeam_channel::unbounded();
        let thread_state = state.clone();
        std::thread::Builder::new()
            .name("output-pump".into())
            .spawn(move || Worker::new(thread_state).run(stdout, stderr, flush_rx))
            .expect("can start the output thread");
        Pump { state, flush_tx }
    }

    /// Output from now on goes to `sink`: that of the cell, and after it, what the threads it
    /// left running print, until the next cell.
    /// `cell_thread` is the OS id of the thread that runs the cell (see [`PumpState`]).
    pub fn attach(&self, sink: Arc<dyn OutputSink>, cell_thread: u32) {
        self.state.cell_thread.store(cell_thread, Ordering::SeqCst);
        *self.state.sink.lock().unwrap() = Some(sink);
        self.state.panic.lock().unwrap().take();
        self.state.cell_running.store(true, Ordering::SeqCst);
    }

    /// The cell has ended and its output is flushed.
    pub fn cell_ended(&self) {
        self.state.cell_running.store(false, Ordering::SeqCst);
    }

    /// Waits until everything printed so far has reached the sink.
    pub fn flush(&self) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.flush_tx.send(tx).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(5));
        }
    }

    pub fn take_panic(&self) -> Option<String> {
        self.state.panic.lock().unwrap().take()
    }
}

struct Worker {
    state: Arc<PumpState>,
    stdout_buf: String,
    stderr_buf: String,
    markers: Decoder,
    /// Inside a panic report: what is gathered so far.
    panic: Option<PanicReport>,
    in_backtrace: bool,
}

struct PanicReport {
    /// "thread 'NAME' panicked at FILE:LINE:COL:"
    header: String,
    lines: Vec<String>,
    of_cell: bool,
}

/// The OS thread id in a panic report's first line, "thread 'NAME' (ID) panicked at ...":
/// Some(None) where Rust is older than 1.91 and writes no id, None for any other line. The name
/// cannot tell the cell's thread: user code has its own copy of std, which names no thread.
fn panicking_thread(line: &str) -> Option<Option<u32>> {
    // Read from the end of the name part: a thread's name may hold quotes.
    let (head, _) = line.strip_prefix("thread '")?.split_once(" panicked at ")?;
    let id = head.strip_suffix(')').and_then(|h| h.rsplit_once("' (")).and_then(|(_, id)| id.parse().ok());
    if id.is_none() && !head.ends_with('\'') {
        return None;
    }
    Some(id)
}

/// Whether an OS thread is the main thread of its process. evcxr runs cells on its child's main
/// thread; the child has a new pid after `:clear` or `:restart` in the same cell.
fn is_main_thread(tid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Tgid:")).and_then(|v| v.trim().parse::<u32>().ok()) == Some(tid)
}

impl Worker {
    fn new(state: Arc<PumpState>) -> Self {
        Self { state, stdout_buf: String::new(), stderr_buf: String::new(), markers: Decoder::new(), panic: None, in_backtrace: false }
    }

    fn run(mut self, stdout: Receiver<String>, stderr: Receiver<String>, flush_rx: Receiver<Sender<()>>) {
        loop {
            let pending = !self.stdout_buf.is_empty() || !self.stderr_buf.is_empty();
            let timeout = if pending { COALESCE } else { Duration::from_secs(3600) };
            select! {
                recv(stdout) -> line => match line {
                    Ok(line) => self.stdout_line(line),
                    Err(_) => return self.flush_all(),
                },
                recv(stderr) -> line => match line {
                    Ok(line) => self.stderr_line(line),
                    Err(_) => return self.flush_all(),
                },
                recv(flush_rx) -> ack => {
                    // Take what is already queued, then give stderr (a separate pipe) a moment.
                    self.drain(&stdout, &stderr);
                    std::thread::sleep(Duration::from_millis(10));
                    self.drain(&stdout, &stderr);
                    self.finish_panic();
                    self.flush_all();
                    if let Ok(ack) = ack { let _ = ack.send(()); }
                },
                default(timeout) => {
                    // A lone blank line on stderr may be the start of a panic report: hold it.
                    if self.stderr_buf == "\n" {
                        self.flush_stream(StreamName::Stdout);
                    } else {
                        self.flush_all();
                    }
                }
            }
        }
    }

    fn drain(&mut self, stdout: &Receiver<String>, stderr: &Receiver<String>) {
        loop {
            let mut any = false;
            while let Ok(line) = stdout.try_recv() {
                self.stdout_line(line);
                any = true;
            }
            while let Ok(line) = stderr.try_recv() {
                self.stderr_line(line);
                any = true;
            }
            if !any {
                return;
            }
        }
    }

    fn sink(&self) -> Option<Arc<dyn OutputSink>> {
        self.state.sink.lock().unwrap().clone()
    }

    fn stdout_line(&mut self, line: String) {
        // stderr of user code arrives on stdout behind a marker, to keep the order of writes.
        if let Some(at) = line.find(crate::child_output::STDERR_MARK) {
            let (before, rest) = line.split_at(at);
            if !before.is_empty() {
                self.stdout_buf.push_str(before);
            }
            return self.stderr_line(rest[crate::child_output::STDERR_MARK.len()..].to_string());
        }
        match self.markers.line(&line) {
            None => {}
            Some(Event::Text(text)) => self.push_line(StreamName::Stdout, &text),
            Some(Event::Display { mime, display_id, update, body }) => self.emit_content(mime, display_id, update, body),
            Some(Event::Clear { wait }) => {
                self.flush_all();
                if let Some(sink) = self.sink() {
                    sink.clear_output(wait);
                }
            }
        }
    }

    fn stderr_line(&mut self, line: String) {
        if let Some(out) = line.strip_prefix(crate::child_output::STDOUT_MARK) {
            return self.stdout_line(out.to_string());
        }
        if self.in_backtrace {
            // evcxr forces RUST_BACKTRACE=1 in its child; the frames are of generated code.
            if line.starts_with("note: ") {
                self.in_backtrace = false;
            }
            return;
        }
        if let Some(report) = &mut self.panic {
            if line.starts_with("note: ") {
                self.finish_panic();
            } else if line.starts_with("stack backtrace:") {
                self.finish_panic();
                self.in_backtrace = true;
            } else {
                report.lines.push(line);
            }
            return;
        }
        if let Some(thread) = panicking_thread(&line) {
            // The panic hook writes a blank line first; it belongs to the report.
            if self.stderr_buf.ends_with("\n\n") || self.stderr_buf == "\n" {
                self.stderr_buf.pop();
            }
            let cell_thread = self.state.cell_thread.load(Ordering::SeqCst);
            // The pid is known without a look at /proc, which a child that died has left.
            let of_cell = self.state.cell_running.load(Ordering::SeqCst)
                && thread.map_or(true, |tid| tid == cell_thread || is_main_thread(tid));
            self.panic = Some(PanicReport { header: line, lines: Vec::new(), of_cell });
            return;
        }
        self.push_line(StreamName::Stderr, &line);
    }

    /// Adds a line to its stream's batch; the other stream's batch goes out first, to keep order.
    fn push_line(&mut self, name: StreamName, line: &str) {
        let other = match name {
            StreamName::Stdout => StreamName::Stderr,
            StreamName::Stderr => StreamName::Stdout,
        };
        self.flush_stream(other);
        let buf = match name {
            StreamName::Stdout => &mut self.stdout_buf,
            StreamName::Stderr => &mut self.stderr_buf,
        };
        buf.push_str(line);
        buf.push('\n');
        if buf.len() >= BATCH_BYTES {
            self.flush_stream(name);
        }
    }

    fn finish_panic(&mut self) {
        let Some(report) = self.panic.take() else { return };
        if report.of_cell {
            *self.state.panic.lock().unwrap() = Some(report.lines.join("\n"));
            return;
        }
        self.push_line(StreamName::Stderr, &report.header);
        for line in &report.lines {
            self.push_line(StreamName::Stderr, line);
        }
    }

    fn emit_content(&mut self, mime: String, display_id: Option<String>, update: bool, body: String) {
        self.flush_all();
        let Some(sink) = self.sink() else { return };
        let bundle = MimeBundle::of_content(&mime, body);
        match (&display_id, update) {
            (Some(id), true) => sink.update_display(bundle, id),
            (id, _) => sink.display(bundle, id.as_deref()),
        }
    }

    fn flush_stream(&mut self, name: StreamName) {
        let buf = match name {
            StreamName::Stdout => std::mem::take(&mut self.stdout_buf),
            StreamName::Stderr => std::mem::take(&mut self.stderr_buf),
        };
        if buf.is_empty() {
            return;
        }
        if let Some(sink) = self.sink() {
            sink.stream(name, &buf);
        }
    }

    fn flush_all(&mut self) {
        self.flush_stream(StreamName::Stdout);
        self.flush_stream(StreamName::Stderr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use output::RecordingSink;

    const CELL: u32 = 4242;

    /// A report as Rust's panic hook writes it, with evcxr's RUST_BACKTRACE=1.
    fn report(thread: u32, message: &str) -> Vec<String> {
        [
            "",
            &format!("thread '<unnamed>' ({thread}) panicked at src/lib.rs:3:5:"),
            message,
            "stack backtrace:",
            "   0: __rustc::rust_begin_unwind",
            "   1: ctx::run_user_code_7",
            "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
        ]
        .iter()
        .map(|l| l.to_string())
        .collect()
    }

    fn pump() -> (Pump, Sender<String>, Sender<String>, Arc<RecordingSink>) {
        let (out_tx, out_rx) = crossbeam_channel::unbounded();
        let (err_tx, err_rx) = crossbeam_channel::unbounded();
        let pump = Pump::start(out_rx, err_rx);
        let sink = Arc::new(RecordingSink::default());
        pump.attach(sink.clone(), CELL);
        (pump, out_tx, err_tx, sink)
    }

    #[test]
    fn the_cells_own_panic_is_its_error_and_is_not_shown() {
        let (pump, _out, err, sink) = pump();
        for line in report(CELL, "kubernel test panic 42") {
            err.send(line).unwrap();
        }
        pump.flush();
        assert_eq!(pump.take_panic().as_deref(), Some("kubernel test panic 42"));
        assert_eq!(sink.stream_text(StreamName::Stderr), "");
    }

    #[test]
    fn a_background_threads_panic_is_shown_and_is_no_cells_error() {
        let (pump, _out, err, sink) = pump();
        // While a cell runs (its background work from an earlier cell panics now) ...
        for line in report(4243, "late trouble") {
            err.send(line).unwrap();
        }
        pump.flush();
        assert_eq!(pump.take_panic(), None);
        let shown = sink.stream_text(StreamName::Stderr);
        assert_eq!(shown, "thread '<unnamed>' (4243) panicked at src/lib.rs:3:5:\nlate trouble\n");
        // ... and between cells, when nothing waits for an error.
        pump.cell_ended();
        for line in report(CELL, "later trouble") {
            err.send(line).unwrap();
        }
        pump.flush();
        assert_eq!(pump.take_panic(), None);
        assert!(sink.stream_text(StreamName::Stderr).ends_with("thread '<unnamed>' (4242) panicked at src/lib.rs:3:5:\nlater trouble\n"));
        assert!(!sink.stream_text(StreamName::Stderr).contains("rust_begin_unwind"));
    }

    #[test]
    fn the_main_thread_is_told_from_others() {
        assert!(is_main_thread(std::process::id()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            tx.send(unsafe { libc::syscall(libc::SYS_gettid) } as u32).unwrap();
            // Alive while it is looked at.
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        assert!(std::path::Path::new(&format!("/proc/{tid}/status")).exists());
        assert!(!is_main_thread(tid));
        done_tx.send(()).unwrap();
        other.join().unwrap();
    }

    #[test]
    fn a_panic_line_is_told_by_its_shape() {
        assert_eq!(panicking_thread("thread 'main' panicked at src/lib.rs:1:1:"), Some(None));
        assert_eq!(panicking_thread("thread '<unnamed>' (77) panicked at src/lib.rs:1:1:"), Some(Some(77)));
        assert_eq!(panicking_thread("thread 'it's mine' (78) panicked at src/lib.rs:1:1:"), Some(Some(78)));
        assert_eq!(panicking_thread("thread 'main' said hello"), None);
        assert_eq!(panicking_thread("the thread 'main' panicked at x"), None);
    }
}
