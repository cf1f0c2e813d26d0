//! Request statistics from web server access logs (nginx's and Apache's "combined" format), the
//! way ngxtop shows them: totals, requests per second, and counts by status and by path. Pure:
//! lines in, tables out.

use super::table::Table;
use output::escape_html;
use output::MimeBundle;
use chrono::{DateTime, FixedOffset};
use std::collections::{BTreeMap, HashMap, VecDeque};

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub client: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub bytes: u64,
    pub time: Option<DateTime<FixedOffset>>,
}

/// `10.0.0.1 - - [28/Nov/2026:20:11:03 +0000] "GET /x?y=1 HTTP/1.1" 200 615 "-" "curl/8"`
pub fn parse(line: &str) -> Option<Request> {
    let (client, rest) = line.split_once(' ')?;
    let open = rest.find('[')?;
    let close = rest[open..].find(']')? + open;
    let time = DateTime::parse_from_str(&rest[open + 1..close], "%d/%b/%Y:%H:%M:%S %z").ok();
    let rest = &rest[close + 1..];
    let q1 = rest.find('"')?;
    let q2 = rest[q1 + 1..].find('"')? + q1 + 1;
    let request = &rest[q1 + 1..q2];
    let mut parts = request.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or("-");
    let path = target.split('?').next().unwrap_or(target).to_string();
    let mut after = rest[q2 + 1..].split_whitespace();
    let status: u16 = after.next()?.parse().ok()?;
    let bytes = after.next().and_then(|b| b.parse().ok()).unwrap_or(0);
    Some(Request { client: client.to_string(), method, path, status, bytes, time })
}

/// Running totals of the requests seen so far.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: u64,
    pub bytes: u64,
    pub other_lines: u64,
    by_status: BTreeMap<u16, u64>,
    /// path → (count, count by status class 2..5, bytes)
    by_path: HashMap<String, (u64, [u64; 4], u64)>,
    by_client: HashMap<String, u64>,
    /// When each recent live request arrived (seconds on the caller's clock), for the live rate.
    /// Arrival, not the logged time: the cluster's clock may differ from this machine's.
    recent: VecDeque<f64>,
    first: Option<DateTime<FixedOffset>>,
    last: Option<DateTime<FixedOffset>>,
}

/// The window of the live requests-per-second figure.
pub const RATE_WINDOW: f64 = 10.0;

impl Stats {
    /// Adds one log line; `now` is when it arrived, `live` whether it is new (not history read at
    /// the start, which counts in the totals but not in the rate).
    pub fn add(&mut self, line: &str, now: f64, live: bool) {
        let Some(r) = parse(line) else {
            if !line.trim().is_empty() {
                self.other_lines += 1;
            }
            return;
        };
        self.requests += 1;
        self.bytes += r.bytes;
        *self.by_status.entry(r.status).or_default() += 1;
        let entry = self.by_path.entry(r.path).or_default();
        entry.0 += 1;
        if (200..600).contains(&r.status) {
            entry.1[(r.status / 100 - 2) as usize] += 1;
        }
        entry.2 += r.bytes;
        *self.by_client.entry(r.client).or_default() += 1;
        if live {
            self.recent.push_back(now);
        }
        if let Some(t) = r.time {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
        }
    }

    /// Live requests per second over the last [`RATE_WINDOW`] seconds before `now`.
    pub fn rate(&mut self, now: f64) -> f64 {
        while self.recent.front().is_some_and(|t| now - t > RATE_WINDOW) {
            self.recent.pop_front();
        }
        self.recent.len() as f64 / RATE_WINDOW
    }

    pub fn count(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    pub fn summary(&mut self, now: f64) -> String {
        let span = match (self.first, self.last) {
            (Some(f), Some(l)) if l > f => format!(", logged over {} s", (l - f).num_seconds()),
            _ => String::new(),
        };
        let rate = self.rate(now);
        format!(
            "{} requests, {:.1} req/s now (last {} s), {} bytes sent{span}",
            self.requests,
            rate,
            RATE_WINDOW as u64,
            self.bytes
        )
    }

    pub fn status_table(&self) -> Table {
        let mut t = Table::new(&["STATUS", "REQUESTS", "SHARE"]);
        for (status, n) in &self.by_status {
            t.rows.push(vec![status.to_string(), n.to_string(), share(*n, self.requests)]);
        }
        t
    }

    /// The busiest paths, at most `limit`.
    pub fn path_table(&self, limit: usize) -> Table {
        let mut rows: Vec<_> = self.by_path.iter().collect();
        rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
        let mut t = Table::new(&["PATH", "REQUESTS", "2XX", "3XX", "4XX", "5XX", "BYTES"]);
        for (path, (n, classes, bytes)) in rows.into_iter().take(limit) {
            let mut row = vec![path.clone(), n.to_string()];
            row.extend(classes.iter().map(u64::to_string));
            row.push(bytes.to_string());
            t.rows.push(row);
        }
        t
    }

    pub fn client_table(&self, limit: usize) -> Table {
        let mut rows: Vec<_> = self.by_client.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut t = Table::new(&["CLIENT", "REQUESTS"]);
        for (client, n) in rows.into_iter().take(limit) {
            t.rows.push(vec![client.clone(), n.to_string()]);
        }
        t
    }

    /// The whole view: a title line, then the tables side by side in HTML, stacked in text.
    pub fn bundle(&mut self, title: &str, now: f64, state: &str) -> MimeBundle {
        let head = format!("{title}: {}", self.summary(now));
        let note = if self.other_lines > 0 { format!(" ({} lines were not access-log lines)", self.other_lines) } else { String::new() };
        let tables = [("by status", self.status_table()), ("by path", self.path_table(10)), ("by client", self.client_table(5))];
        let mut text = format!("{head}{note} ({state})\n");
        let mut html = format!("<div><b>{}</b>{} <i>({})</i></div><div style=\"display:flex;gap:2em;align-items:flex-start\">", escape_html(&head), escape_html(&note), escape_html(state));
        for (name, t) in tables {
            if t.rows.is_empty() {
                continue;
            }
            text.push_str(&format!("\n{name}:\n{}", t.to_text()));
            html.push_str(&format!("<div><div><i>{name}</i></div>{}</div>", t.to_html()));
        }
        html.push_str("</div>");
        MimeBundle::plain(text).with("text/html", html)
    }
}

fn share(n: u64, total: u64) -> String {
    if total == 0 {
        return "-".into();
    }
    format!("{:.0}%", 100.0 * n as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"10.88.0.1 - - [28/Nov/2026:20:11:03 +0000] "GET /index.html?x=1 HTTP/1.1" 200 615 "-" "curl/8.5.0" "-""#;

    #[test]
    fn parses_combined_format() {
        let r = parse(LINE).unwrap();
        assert_eq!((r.client.as_str(), r.method.as_str(), r.path.as_str(), r.status, r.bytes), ("10.88.0.1", "GET", "/index.html", 200, 615));
        assert_eq!(r.time.unwrap().to_rfc3339(), "2026-11-28T20:11:03+00:00");
        assert!(parse("2026/11/28 20:11:03 [notice] 1#1: start worker processes").is_none());
    }

    #[test]
    fn counts_by_status_and_path() {
        let mut s = Stats::default();
        // Five lines of history at the start, then three live ones 5 s later.
        for _ in 0..5 {
            s.add(LINE, 0.0, false);
        }
        for _ in 0..3 {
            s.add(r#"10.88.0.1 - - [28/Nov/2026:20:11:09 +0000] "GET /missing HTTP/1.1" 404 153 "-" "x""#, 5.0, true);
        }
        s.add("/docker-entrypoint.sh: Configuration complete; ready for start up", 5.0, true);
        assert_eq!((s.requests, s.count(200), s.count(404), s.other_lines), (8, 5, 3, 1));
        let paths = s.path_table(10);
        assert_eq!(paths.rows[0][..4], ["/index.html", "5", "5", "0"]);
        assert_eq!(paths.rows[1][0], "/missing");
        assert_eq!(paths.rows[1][4], "3");
        assert!((s.rate(6.0) - 0.3).abs() < 1e-9, "the three live requests; history is not a rate");
        assert_eq!(s.rate(16.0), 0.0, "nothing within the last 10 s");
        let text = s.bundle("deploy/web", 16.0, "live").text().unwrap().to_string();
        assert!(text.contains("8 requests") && text.contains("logged over 6 s"), "{text}");
    }
}
