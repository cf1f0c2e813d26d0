//! The program's own metrics for Prometheus (the `metrics` feature): counters and gauges made
//! with the `prometheus-client` crate, served as text on `http://POD:9464/metrics`. kubernel
//! annotates the pods of a program that uses this module (`prometheus.io/scrape`, `/port`), so
//! the cluster's Prometheus scrapes them and prometheus-adapter can hand a metric to a
//! HorizontalPodAutoscaler (a counter `x_total` becomes `x_per_second`).
//!
//! ```ignore
//! let done = kubernel::metrics::counter("items_done", "Items this worker finished");
//! let busy = kubernel::metrics::gauge("items_in_progress", "Items being worked on");
//! busy.inc(); /* work */ busy.dec(); done.inc();
//! ```
//!
//! The server starts with the first metric made (or [`serve`]), on `KUBERNEL_METRICS_PORT`
//! (9464, the port OpenTelemetry's Prometheus exporter uses) unless that is set.

pub use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The port the metrics are served on, unless `KUBERNEL_METRICS_PORT` says otherwise.
pub const PORT: u16 = 9464;
pub const PORT_ENV: &str = "KUBERNEL_METRICS_PORT";

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Registry::default()))
}

/// A counter (only goes up) named `NAME_total` on /metrics.
pub fn counter(name: &str, help: &str) -> Counter {
    let c = Counter::default();
    registry().lock().unwrap_or_else(|p| p.into_inner()).register(name, help, c.clone());
    serve();
    c
}

/// A gauge (goes up and down) named `NAME` on /metrics.
pub fn gauge(name: &str, help: &str) -> Gauge {
    let g = Gauge::default();
    registry().lock().unwrap_or_else(|p| p.into_inner()).register(name, help, g.clone());
    serve();
    g
}

/// The metrics as Prometheus scrapes them (the text exposition format).
pub fn text() -> String {
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry().lock().unwrap_or_else(|p| p.into_inner()));
    out
}

/// The port the server listens on (once started).
pub fn port() -> u16 {
    std::env::var(PORT_ENV).ok().and_then(|p| p.trim().parse().ok()).unwrap_or(PORT)
}

/// Starts the /metrics server in the background, once per process; a port already taken is
/// said on stderr and the program goes on without it.
pub fn serve() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let port = port();
        match TcpListener::bind(("0.0.0.0", port)) {
            Ok(listener) => {
                std::thread::spawn(move || {
                    for stream in listener.incoming().flatten() {
                        std::thread::spawn(move || answer(stream));
                    }
                });
            }
            Err(e) => eprintln!("kubernel: cannot serve metrics on port {port}: {e}"),
        }
    });
}

/// One HTTP/1.0-style exchange: any GET of /metrics gets the text; anything else a 404.
fn answer(mut stream: std::net::TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let request = String::from_utf8_lossy(&got);
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = if path == "/metrics" || path.starts_with("/metrics?") {
        ("200 OK", text())
    } else {
        ("404 Not Found", "metrics are on /metrics\n".to_string())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_are_served_on_metrics() {
        std::env::set_var(PORT_ENV, "19464");
        let done = counter("items_done", "Items finished");
        let busy = gauge("items_in_progress", "Items being worked on");
        done.inc_by(3);
        busy.set(2);
        let get = |path: &str| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", 19464)).unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let page = get("/metrics");
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains("\nitems_done_total 3\n") && page.contains("\nitems_in_progress 2\n"), "{page}");
        assert!(get("/").starts_with("HTTP/1.1 404"));
    }
}
