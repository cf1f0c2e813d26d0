//! Forwards what the evcxr child prints to the sink of the cell that runs, while it runs.
//! stdout and stderr are read on one thread so their order is kept; lines are batched so that
//! 10 MB of output is a few hundred messages, not a hundred thousand. In-band markers on stdout
//! (`output::markers`) become rich displays. The cell's sink caps how much of it is sent
//! (`output::limit`).
//!
//! Panic reports on stderr are taken out of the stream and kept for the cell's error.

use crossbeam_channel::{select, Receiver, Sender};
use output::markers::{Decoder, Event};
use output::{MimeBundle, OutputSink, StreamName};
use std::sync::atomic::{AtomicBool, Ordering};
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
    pub fn attach(&self, sink: Arc<dyn OutputSink>) {
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
    /// Inside a panic report: the message lines gathered so far.
    panic: Option<Vec<String>>,
    in_backtrace: bool,
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
        if let Some(lines) = &mut self.panic {
            if line.starts_with("note: ") {
                self.finish_panic();
            } else if line.starts_with("stack backtrace:") {
                self.finish_panic();
                self.in_backtrace = true;
            } else {
                lines.push(line);
            }
            return;
        }
        // "thread '<unnamed>' panicked at src/lib.rs:3:1:" (newer Rust adds " (1387)" after the name)
        if line.starts_with("thread '") && line.contains(" panicked at ") && self.state.cell_running.load(Ordering::SeqCst) {
            // The panic hook writes a blank line first; it belongs to the report.
            if self.stderr_buf.ends_with("\n\n") || self.stderr_buf == "\n" {
                self.stderr_buf.pop();
            }
            self.panic = Some(Vec::new());
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
        if let Some(lines) = self.panic.take() {
            *self.state.panic.lock().unwrap() = Some(lines.join("\n"));
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
