//! `promql QUERY [--range 5m] [--plot] [-w]`: a PromQL query against the cluster's Prometheus,
//! through the API server's service proxy (so it needs no port-forward and works wherever the
//! kubeconfig does). An instant query is a table; `--range` with `--plot` is a chart, and `-w`
//! redraws it every few seconds until the timeout. `--prometheus NS/NAME[:PORT]` names another
//! Prometheus than the local cluster's `monitoring/prometheus:9090`. The query can also be the
//! cell's body (`%%k8s promql --range 5m --plot`), which spares the shell quoting.

use super::flags::{Parsed, UsageError};
use super::{plan, result, About, Body, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::{Conn, Scope};
use crate::k8s::view::promql::{instant, range_chart};
use crate::k8s::view::LiveLine;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

pub struct Promql;

const ABOUT: About = About {
    name: "promql",
    flags: &["--range", "--step", "--plot", "--watch", "--timeout", "--prometheus", "--context", "--kubeconfig"],
    help: "  %k8s promql 'QUERY' [--range 5m [--step 15s]] [--plot] [-w [--timeout 5m]] [--prometheus NS/NAME[:PORT]]
        a PromQL query against the cluster's Prometheus (monitoring/prometheus:9090 unless given),
        through the API server: a table of series, or with --range and --plot a chart, redrawn
        live with -w; %%k8s promql [FLAGS] takes the query from the cell",
    body: Some(Body::Query),
    takes_command: false,
};

const DEFAULT_PROMETHEUS: &str = "monitoring/prometheus:9090";
const REDRAW: Duration = Duration::from_secs(5);
const DEFAULT_WATCH: Duration = Duration::from_secs(300);

struct Options {
    /// From the line; the cell body's query is taken at run time.
    query: Option<String>,
    range: Option<Duration>,
    step: Option<Duration>,
    plot: bool,
    watch: bool,
    timeout: Duration,
    namespace: String,
    service: String,
    scope: Scope,
}

impl Verb for Promql {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let query = (!p.positional.is_empty()).then(|| p.positional.join(" "));
        if query.is_none() && !body {
            return Err(p.usage("write promql 'QUERY', for example promql 'up'"));
        }
        if query.is_some() && body {
            return Err(p.usage("the query goes on the line or in the cell, not both"));
        }
        if p.has("--plot") && !p.has("--range") {
            return Err(p.usage("--plot draws a range: give --range, for example --range 5m"));
        }
        if p.has("--watch") && !p.has("--plot") {
            return Err(p.usage("-w redraws a chart: give --range and --plot"));
        }
        let target = p.text("--prometheus").unwrap_or_else(|| DEFAULT_PROMETHEUS.to_string());
        let Some((namespace, service)) = target.split_once('/').filter(|(n, s)| !n.is_empty() && !s.is_empty()) else {
            return Err(p.usage(format!("--prometheus '{target}' is not NAMESPACE/NAME[:PORT]")));
        };
        plan(Options {
            query,
            range: p.duration("--range"),
            step: p.duration("--step"),
            plot: p.has("--plot"),
            watch: p.has("--watch"),
            timeout: p.duration("--timeout").unwrap_or(DEFAULT_WATCH),
            namespace: namespace.to_string(),
            service: service.to_string(),
            scope: p.scope(),
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let query = match (&self.query, cx.body) {
            (Some(q), _) => q.clone(),
            (None, Some(b)) if !b.trim().is_empty() => b.trim().to_string(),
            _ => return Err(MagicError::usage("%%k8s promql: write the query in the cell, below the magic line")),
        };
        let (conn, _) = cx.session.for_call(&self.scope).await?;
        let Some(range) = self.range else {
            let data = self.ask(&conn, "query", &[("query", query.as_str())]).await?;
            return result(instant(&query, &data));
        };
        // About 120 points over the range, never below one a second.
        let step = self.step.unwrap_or_else(|| Duration::from_secs((range.as_secs() / 120).max(1)));
        let started = Instant::now();
        let mut live: Option<LiveLine> = None;
        loop {
            let end = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
            let (start, end, step_s) = (format!("{:.3}", end - range.as_secs_f64()), format!("{end:.3}"), format!("{}", step.as_secs_f64()));
            let data = self.ask(&conn, "query_range", &[("query", query.as_str()), ("start", &start), ("end", &end), ("step", &step_s)]).await?;
            if !self.plot {
                return result(instant(&query, &data));
            }
            let over = !self.watch || started.elapsed() + REDRAW > self.timeout;
            let state = if !self.watch {
                "drawn once; -w redraws it live".to_string()
            } else if over {
                format!("watched for {} s", started.elapsed().as_secs())
            } else {
                format!("redrawn every {} s; {} s of {} s", REDRAW.as_secs(), started.elapsed().as_secs(), self.timeout.as_secs())
            };
            let chart = range_chart(&query, &data, range.as_secs_f64(), &state);
            if over {
                match live.as_mut() {
                    Some(l) => l.finish(chart),
                    None => return result(chart),
                }
                return Ok(MagicOutput::None);
            }
            live.get_or_insert_with(|| LiveLine::new(cx.sink, chart.clone())).update(chart);
            tokio::time::sleep(REDRAW).await;
        }
    }
}

impl Options {
    /// One call of Prometheus' HTTP API through the service proxy; its `data`, or an error that
    /// says whether Prometheus is missing, down, or refused the query.
    async fn ask(&self, conn: &Conn, endpoint: &str, params: &[(&str, &str)]) -> Result<Value, MagicError> {
        let (name, port) = self.service.split_once(':').map(|(n, p)| (n, Some(p))).unwrap_or((&self.service, None));
        let service = match port {
            Some(p) => format!("{name}:{p}"),
            None => name.to_string(),
        };
        let query: String = params.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&");
        let uri = format!("/api/v1/namespaces/{}/services/{service}/proxy/api/v1/{endpoint}?{query}", self.namespace);
        let place = format!("{}/{}", self.namespace, self.service);
        let request = http::Request::get(&uri).body(kube::client::Body::from(Vec::new())).map_err(|e| MagicError::usage(format!("%k8s promql: the query does not make a URL: {e}")))?;
        let what = format!("ask Prometheus at {place}");
        let response = conn.call(&what, conn.client.send(request)).await?;
        let status = response.status();
        let body = conn.call(&what, response.into_body().collect_bytes()).await?;
        let answer: Option<Value> = serde_json::from_slice(&body).ok();
        // Prometheus' own answer (200, or 400/422 for a bad query) has a status field.
        if let Some(a) = answer.as_ref().filter(|a| a["status"].is_string()) {
            if a["status"] == "success" {
                return Ok(a["data"].clone());
            }
            if a["errorType"].is_string() || a["error"].is_string() {
                return Err(MagicError::new("PromQLError", format!("Prometheus refused the query: {}", a["error"].as_str().unwrap_or("no reason given"))));
            }
        }
        let said = answer.as_ref().and_then(|a| a["message"].as_str().map(str::to_string)).unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
        let why = match status.as_u16() {
            404 => format!("there is no Prometheus service {place} (the API server said: {said}); name yours with --prometheus NAMESPACE/NAME[:PORT]"),
            503 | 502 => format!("Prometheus at {place} is not answering (no ready pod behind the service?): {said}"),
            code => format!("Prometheus at {place} answered HTTP {code}: {said}"),
        };
        Err(MagicError::new("PrometheusUnavailable", why))
    }
}

/// Percent-encodes a query parameter (RFC 3986 unreserved characters stay).
fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn promql_lines() {
        assert_eq!(refused(&Promql, "up", false), "");
        assert_eq!(refused(&Promql, "rate(x_total[1m]) --range 5m --plot -w --timeout 1m", false), "");
        assert_eq!(refused(&Promql, "--range 5m --plot", true), "");
        assert!(refused(&Promql, "", false).contains("write promql 'QUERY'"));
        assert!(refused(&Promql, "up --plot", false).contains("give --range"));
        assert!(refused(&Promql, "up --prometheus prometheus", false).contains("not NAMESPACE/NAME"));
        assert!(refused(&Promql, "up", true).contains("not both"));
    }

    #[test]
    fn queries_are_encoded_for_the_url() {
        assert_eq!(encode("up{job=\"x\"}"), "up%7Bjob%3D%22x%22%7D");
        assert_eq!(encode("rate(a[1m])"), "rate%28a%5B1m%5D%29");
    }
}
