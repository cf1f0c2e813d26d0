//! Steady traffic to a web service, started in one cell and stopped in a later one, so that a
//! class can watch what a rolling update does to the requests on their way: which version
//! answered, second by second, and how many failed and why.
//!
//! ```no_run
//! let traffic = kubernel::load::start("http://127.0.0.1:8001/api/v1/namespaces/default/services/web/proxy/", 100)?;
//! // ... %k8s set image, %k8s rollout undo ... in the next cells ...
//! let report = traffic.stop();
//! assert_eq!(report.failed, 0);
//! # Ok::<(), kubernel::load::LoadError>(())
//! ```
//!
//! Each answer's first line (a version, say) is counted as what answered. A request fails when it
//! cannot connect, times out, or gets a status other than 2xx. The chart in the cell is redrawn
//! every second, in the background, while other cells run.

use crate::display::Display;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A URL the load generator cannot use.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// Traffic that runs until [`Load::stop`] (or until it is dropped).
pub struct Load {
    shared: Arc<Shared>,
    display: Display,
    threads: Vec<JoinHandle<()>>,
}

struct Shared {
    target: Target,
    started: Instant,
    stop: AtomicBool,
    tally: Mutex<Tally>,
}

#[derive(Debug, Clone, PartialEq)]
struct Target {
    url: String,
    host: String,
    port: u16,
    path: String,
}

/// What came back, second by second.
#[derive(Default, Clone)]
struct Tally {
    /// Answers in the order they first appeared.
    answers: Vec<String>,
    seconds: Vec<Second>,
    failures: BTreeMap<String, u64>,
}

#[derive(Default, Clone)]
struct Second {
    /// Counts by index into `Tally::answers`.
    answered: Vec<u64>,
    failed: u64,
}

/// How many workers send; each keeps its own pace so that together they make `per_second`.
const PER_WORKER: u32 = 25;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts sending GET requests to `url` (http://HOST[:PORT]/PATH) at about `per_second`
/// requests a second, on background threads, with a live chart in the cell.
pub fn start(url: &str, per_second: u32) -> Result<Load, LoadError> {
    let target = parse_url(url)?;
    if per_second == 0 {
        return Err(LoadError("per_second must be at least 1".into()));
    }
    let workers = per_second.div_ceil(PER_WORKER).clamp(1, 32);
    let interval = Duration::from_secs_f64(workers as f64 / per_second as f64);
    let shared = Arc::new(Shared { target, started: Instant::now(), stop: AtomicBool::new(false), tally: Mutex::new(Tally::default()) });
    let display = Display::bundle(&shared.report().view(true));
    let mut threads = Vec::new();
    for w in 0..workers {
        let shared = shared.clone();
        // Spread the workers over one interval, so that requests do not come in bursts.
        let offset = interval.mul_f64(w as f64 / workers as f64);
        threads.push(std::thread::spawn(move || send(&shared, offset, interval)));
    }
    let (painter, painted) = (shared.clone(), display.clone());
    threads.push(std::thread::spawn(move || paint(&painter, &painted)));
    Ok(Load { shared, display, threads })
}

impl Load {
    /// What came back so far.
    pub fn report(&self) -> Report {
        self.shared.report()
    }

    /// Blocks until `n` requests have been answered or have failed, or `timeout` passes; says
    /// whether they have.
    pub fn wait_for_requests(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.report().requests < n {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// Stops the traffic and gives what came back; the chart is drawn one last time, with the
    /// same figures.
    pub fn stop(mut self) -> Report {
        self.halt().unwrap_or_else(|| self.shared.report())
    }

    /// Stops the threads, then draws the last chart: requests that were in flight are in it.
    fn halt(&mut self) -> Option<Report> {
        if self.threads.is_empty() {
            return None;
        }
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let report = self.shared.report();
        self.display.update_bundle(&report.view(false));
        Some(report)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

fn send(shared: &Shared, offset: Duration, interval: Duration) {
    let mut next = Instant::now() + offset;
    while !shared.stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        // A slow answer delays this worker's next request rather than piling requests up.
        next = next.max(Instant::now() - interval) + interval;
        let outcome = get(&shared.target);
        let second = shared.started.elapsed().as_secs() as usize;
        let mut tally = shared.tally.lock().unwrap();
        tally.count(second, outcome);
    }
}

impl Tally {
    fn count(&mut self, second: usize, outcome: Result<String, String>) {
        if self.seconds.len() <= second {
            self.seconds.resize(second + 1, Second::default());
        }
        match outcome {
            Ok(answer) => {
                let i = match self.answers.iter().position(|a| *a == answer) {
                    Some(i) => i,
                    None => {
                        self.answers.push(answer);
                        self.answers.len() - 1
                    }
                };
                let s = &mut self.seconds[second];
                if s.answered.len() <= i {
                    s.answered.resize(i + 1, 0);
                }
                s.answered[i] += 1;
            }
            Err(reason) => {
                self.seconds[second].failed += 1;
                *self.failures.entry(reason).or_default() += 1;
            }
        }
    }
}

/// One GET: the answer's first line, or why there was none.
fn get(t: &Target) -> Result<String, String> {
    let addr = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {}", t.host, e.kind()))?
        .next()
        .ok_or_else(|| format!("{} has no address", t.host))?;
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| io_reason("connect", &e))?;
    let _ = stream.set_read_timeout(Some(ANSWER_TIMEOUT));
    let _ = stream.set_write_timeout(Some(ANSWER_TIMEOUT));
    let request = format!("GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: kubernel-load\r\nConnection: close\r\n\r\n", t.path, t.host, t.port);
    stream.write_all(request.as_bytes()).map_err(|e| io_reason("send", &e))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| io_reason("answer", &e))?;
    parse_answer(&raw)
}

fn io_reason(step: &str, e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let what = match e.kind() {
        ConnectionRefused => "connection refused".to_string(),
        ConnectionReset => "connection reset".to_string(),
        TimedOut | WouldBlock => "timed out".to_string(),
        UnexpectedEof | BrokenPipe => "connection closed early".to_string(),
        _ => e.to_string(),
    };
    format!("{step}: {what}")
}

/// The status, and the body's first line for a 2xx; for anything else, the status and what it
/// says (the API server's proxy answers 503 with a Status whose message names the cause).
fn parse_answer(raw: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(if text.is_empty() { "empty answer".into() } else { "answer cut short".into() });
    };
    let status: u16 = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("not an HTTP answer")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body) } else { body.to_string() };
    if !(200..300).contains(&status) {
        return Err(match cause(&body) {
            Some(cause) => format!("HTTP {status}: {cause}"),
            None => format!("HTTP {status}"),
        });
    }
    let first = body.lines().next().unwrap_or("").trim();
    Ok(if first.is_empty() { "(empty)".into() } else { first.chars().take(40).collect() })
}

/// A short, address-free cause from an error answer, so that equal causes count together.
fn cause(body: &str) -> Option<&'static str> {
    const KNOWN: &[(&str, &str)] = &[
        ("connection refused", "connection refused by the pod"),
        ("no endpoints available", "no ready endpoint"),
        ("connection reset", "connection reset by the pod"),
        ("EOF", "the pod closed the connection"),
        ("timeout", "timed out"),
    ];
    KNOWN.iter().find(|(needle, _)| body.contains(needle)).map(|(_, cause)| *cause)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else { break };
        // The body was decoded lossily, so a size may not fall on a character's boundary
        // (bytes that were replaced): what cannot be cut is left out, nothing panics.
        let (Some(chunk), Some(after)) = (rest.get(..n), rest.get(n..)) else { break };
        if n == 0 {
            break;
        }
        out.push_str(chunk);
        body = after.trim_start_matches("\r\n");
    }
    out
}

fn parse_url(url: &str) -> Result<Target, LoadError> {
    let Some(rest) = url.strip_prefix("http://") else {
        let why = if url.starts_with("https://") { "https is not spoken here: reach the service through %k8s proxy (http://127.0.0.1:8001/...)" } else { "write http://HOST[:PORT]/PATH" };
        return Err(LoadError(format!("'{url}' is not a URL the load can use: {why}")));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| LoadError(format!("'{url}': '{p}' is not a port")))?),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(LoadError(format!("'{url}' names no host")));
    }
    Ok(Target { url: url.to_string(), host: host.to_string(), port, path: path.to_string() })
}

/// What came back: counts by answer and failures by cause, overall and second by second.
#[derive(Clone, PartialEq)]
pub struct Report {
    pub url: String,
    pub requests: u64,
    pub failed: u64,
    /// Each answer (the body's first line) and how many times it came, in order of first sight.
    pub answers: Vec<(String, u64)>,
    /// Why requests failed, and how many times each.
    pub failures: Vec<(String, u64)>,
    pub seconds: f64,
    /// Second by second: the count of each answer (as in `answers`) and of failures.
    pub timeline: Vec<(Vec<u64>, u64)>,
}

impl Shared {
    fn report(&self) -> Report {
        let tally = self.tally.lock().unwrap().clone();
        Report::from_tally(&self.target.url, &tally, self.started.elapsed().as_secs_f64())
    }
}

impl Report {
    fn from_tally(url: &str, t: &Tally, seconds: f64) -> Report {
        let n = t.answers.len();
        let mut answers: Vec<(String, u64)> = t.answers.iter().map(|a| (a.clone(), 0)).collect();
        let mut timeline = Vec::new();
        for s in &t.seconds {
            let mut row = s.answered.clone();
            row.resize(n, 0);
            for (i, c) in row.iter().enumerate() {
                answers[i].1 += c;
            }
            timeline.push((row, s.failed));
        }
        let failed: u64 = t.seconds.iter().map(|s| s.failed).sum();
        let requests = failed + answers.iter().map(|(_, c)| c).sum::<u64>();
        Report { url: url.to_string(), requests, failed, answers, failures: t.failures.iter().map(|(k, v)| (k.clone(), *v)).collect(), seconds, timeline }
    }

    /// How many times `answer` came back.
    pub fn answered(&self, answer: &str) -> u64 {
        self.answers.iter().find(|(a, _)| a == answer).map(|(_, c)| *c).unwrap_or(0)
    }

    fn summary(&self) -> String {
        let mut text = format!("{} requests in {:.0} s, {} failed", self.requests, self.seconds, self.failed);
        for (answer, count) in &self.answers {
            text.push_str(&format!("; {answer} {count} ({:.0}%)", percent(*count, self.requests)));
        }
        text
    }

    /// The cell's live view, as an SVG picture with its text form beside it: a headline,
    /// failures by cause, and the share of each answer per second as stacked bars (failures in
    /// red on top). A picture rather than HTML, so that it also shows in a notebook opened
    /// later, where JupyterLab strips SVG out of HTML.
    fn view(&self, running: bool) -> [(&'static str, String); 2] {
        let state = if running { "sending" } else { "stopped" };
        [("text/plain", format!("traffic to {} ({state}): {self:?}", self.url)), ("image/svg+xml", self.svg(state))]
    }

    fn svg(&self, state: &str) -> String {
        const LEFT: f64 = 10.0;
        const WIDTH: f64 = 600.0;
        const BARS: f64 = 120.0;
        let mut body = format!(
            "<text x=\"{LEFT}\" y=\"16\"><tspan font-weight=\"bold\">traffic</tspan> to {} ({state})</text>\
             <text x=\"{LEFT}\" y=\"34\"><tspan font-weight=\"bold\">{}</tspan> requests in {:.0} s, <tspan font-weight=\"bold\" fill=\"{}\">{} failed</tspan></text>",
            escape(&self.url),
            self.requests,
            self.seconds,
            if self.failed > 0 { FAILED } else { "#000" },
            self.failed
        );
        // The legend: a square of each answer's colour, then its count and share.
        let mut x = LEFT;
        let legend = self.answers.iter().enumerate().map(|(i, (a, c))| (colour(i), format!("{a} {c} ({:.0}%)", percent(*c, self.requests))));
        let failed = (self.failed > 0).then(|| (FAILED, format!("failed {}", self.failed)));
        for (fill, label) in legend.chain(failed) {
            body.push_str(&format!(
                "<rect x=\"{x:.0}\" y=\"43\" width=\"10\" height=\"10\" fill=\"{fill}\"/><text x=\"{:.0}\" y=\"52\">{}</text>",
                x + 14.0,
                escape(&label)
            ));
            x += 14.0 + 7.0 * label.chars().count() as f64 + 16.0;
        }
        let mut y = 52.0;
        for (cause, count) in &self.failures {
            y += 17.0;
            body.push_str(&format!("<text x=\"{LEFT}\" y=\"{y}\" fill=\"{FAILED}\">{count} × {}</text>", escape(cause)));
        }
        let top = y + 10.0;
        body.push_str(&format!("<rect x=\"{LEFT}\" y=\"{top}\" width=\"{WIDTH}\" height=\"{BARS}\" fill=\"#f7f7f7\"/>"));
        let n = self.timeline.len().max(30) as f64;
        let bar = WIDTH / n;
        for (i, (row, failed)) in self.timeline.iter().enumerate() {
            let total = (row.iter().sum::<u64>() + failed) as f64;
            if total == 0.0 {
                continue;
            }
            let mut bottom = top + BARS;
            let parts = row.iter().enumerate().map(|(i, c)| (colour(i), *c)).chain(std::iter::once((FAILED, *failed)));
            for (fill, count) in parts {
                let height = BARS * count as f64 / total;
                if height > 0.0 {
                    bottom -= height;
                    body.push_str(&format!(
                        "<rect x=\"{:.1}\" y=\"{bottom:.1}\" width=\"{:.1}\" height=\"{height:.1}\" fill=\"{fill}\"/>",
                        LEFT + i as f64 * bar,
                        (bar - 1.0).max(1.0)
                    ));
                }
            }
        }
        let under = top + BARS + 15.0;
        body.push_str(&format!(
            "<text x=\"{LEFT}\" y=\"{under}\" fill=\"#666\">0 s</text>\
             <text x=\"{:.0}\" y=\"{under}\" fill=\"#666\" text-anchor=\"middle\">share of answers per second</text>\
             <text x=\"{:.0}\" y=\"{under}\" fill=\"#666\" text-anchor=\"end\">{:.0} s</text>",
            LEFT + WIDTH / 2.0,
            LEFT + WIDTH,
            n
        ));
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0}\" height=\"{:.0}\" font-family=\"sans-serif\" font-size=\"12\">{body}</svg>",
            LEFT * 2.0 + WIDTH,
            under + 6.0
        )
    }
}

const FAILED: &str = "#d62728";

fn colour(i: usize) -> &'static str {
    const PALETTE: &[&str] = &["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"];
    PALETTE[i % PALETTE.len()]
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The summary a cell shows for a report: counts, shares and failures by cause.
impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())?;
        for (cause, count) in &self.failures {
            write!(f, "\n  {count} failed: {cause}")?;
        }
        Ok(())
    }
}

fn paint(shared: &Shared, display: &Display) {
    loop {
        // Redrawn each second; checked more often so that stop() does not wait a second.
        for _ in 0..10 {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        display.update_bundle(&shared.report().view(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_joined_and_a_cut_inside_a_character_does_not_panic() {
        assert_eq!(dechunk("3\r\nv1\n\r\n0\r\n\r\n"), "v1\n");
        // "é" is two bytes: a size of 1 cuts it in half.
        assert_eq!(dechunk("1\r\né\r\n0\r\n\r\n"), "");
    }
    use std::net::TcpListener;

    #[test]
    fn urls() {
        let t = parse_url("http://127.0.0.1:8001/api/v1/namespaces/default/services/web/proxy/").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("127.0.0.1", 8001, "/api/v1/namespaces/default/services/web/proxy/"));
        let t = parse_url("http://web").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("web", 80, "/"));
        assert!(parse_url("https://web/").unwrap_err().0.contains("https is not spoken here"));
        assert!(parse_url("web:80").unwrap_err().0.contains("write http://HOST[:PORT]/PATH"));
        assert!(parse_url("http://web:x/").unwrap_err().0.contains("'x' is not a port"));
        assert!(start("http://web/", 0).is_err());
    }

    #[test]
    fn answers_and_their_failures() {
        assert_eq!(parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nv2\n"), Ok("v2".into()));
        assert_eq!(parse_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nv3\n\r\n0\r\n\r\n"), Ok("v3".into()));
        let refused = b"HTTP/1.1 503 Service Unavailable\r\n\r\n{\"kind\":\"Status\",\"message\":\"error trying to reach service: dial tcp 10.1.0.7:8080: connect: connection refused\"}";
        assert_eq!(parse_answer(refused), Err("HTTP 503: connection refused by the pod".into()));
        assert_eq!(parse_answer(b"HTTP/1.1 500 Internal\r\n\r\nboom"), Err("HTTP 500".into()));
        assert_eq!(parse_answer(b""), Err("empty answer".into()));
    }

    /// A server on loopback that answers v1, then v2, then refuses; the counts say so.
    #[test]
    fn counts_each_answer_and_each_failure_against_a_real_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for (i, stream) in listener.incoming().take(40).enumerate() {
                let mut stream = stream.unwrap();
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let version = if i < 20 { "v1" } else { "v2" };
                let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{version}\n");
            }
            // The listener closes here: what comes next is refused.
        });
        let load = start(&format!("http://127.0.0.1:{port}/"), 200).unwrap();
        server.join().unwrap();
        assert!(load.wait_for_requests(60, Duration::from_secs(10)));
        let report = load.stop();
        assert_eq!(report.answered("v1"), 20);
        assert_eq!(report.answered("v2"), 20);
        assert!(report.failed >= 20, "{report:?}");
        assert_eq!(report.requests, 40 + report.failed);
        assert_eq!(report.failures[0].0, "connect: connection refused");
        assert_eq!(report.timeline.iter().map(|(row, f)| row.iter().sum::<u64>() + f).sum::<u64>(), report.requests);
        let text = format!("{report:?}");
        assert!(text.contains("; v1 20 (") && text.contains("; v2 20 ("), "{text}");
        let [(_, plain), (_, svg)] = report.view(false);
        assert!(plain.starts_with(&format!("traffic to http://127.0.0.1:{port}/ (stopped): {} requests", report.requests)), "{plain}");
        assert!(svg.contains("connect: connection refused") && svg.contains(">v1 20 ("), "{svg}");
        // A bar per second, each split by answer (and failures): at least one rect per second.
        assert!(svg.matches("<rect").count() > report.timeline.len(), "{svg}");
    }
}
