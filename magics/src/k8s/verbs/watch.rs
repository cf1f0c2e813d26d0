//! `watch hpa/NAME`: a HorizontalPodAutoscaler acting, live. A chart redrawn in place shows the
//! current and desired replicas, the metric against its target, and each scaling event, until
//! the replicas reach `--replicas N` or the time is up (`--timeout`, 5 minutes unless given).
//! The last picture stays in the notebook. When the API its metric comes from is down
//! (metrics-server, prometheus-adapter), it ends at once with an error naming that service,
//! rather than watching a chart that cannot move.

use super::flags::{split_first_kind_name, Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::aggregated;
use crate::k8s::cluster::objects::api_for;
use crate::k8s::cluster::Scope;
use crate::k8s::view::hpa_chart::{hpa_chart, read, Sample};
use crate::k8s::view::LiveLine;
use crate::k8s::watch::{Wake, Watch};
use kube::runtime::watcher::Config;
use std::time::Duration;
use tokio::time::Instant;

pub struct WatchVerb;

const ABOUT: About = About {
    name: "watch",
    flags: &["--namespace", "--replicas", "--timeout", "--context", "--kubeconfig"],
    help: "  %k8s watch hpa/NAME [--replicas N] [--timeout 5m]
        a HorizontalPodAutoscaler acting, live: a chart of its current and desired replicas, the
        metric against its target and each scaling event, until it has N replicas (current and
        desired) or the time is up",
    body: None,
    takes_command: false,
};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// At most this many samples are kept (one a second: 20 minutes).
const MAX_SAMPLES: usize = 1200;
/// How often the metric's API is checked while the autoscaler has no figure or cannot scale.
const API_CHECK: Duration = Duration::from_secs(5);

struct Options {
    name: String,
    replicas: Option<i64>,
    timeout: Duration,
    scope: Scope,
}

impl Verb for WatchVerb {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        if p.positional.first().is_some_and(|f| f.contains('/')) {
            split_first_kind_name(&mut p)?;
        }
        match p.positional.as_slice() {
            [kind, name] if matches!(kind.as_str(), "hpa" | "horizontalpodautoscaler" | "horizontalpodautoscalers") => plan(Options {
                name: name.clone(),
                replicas: p.number("--replicas"),
                timeout: p.duration("--timeout").unwrap_or(DEFAULT_TIMEOUT),
                scope: p.scope(),
            }),
            [kind, _] => Err(p.usage(format!("watch draws HorizontalPodAutoscalers (hpa/NAME); for {kind}, use get {kind} -w"))),
            _ => Err(p.usage("write watch hpa/NAME")),
        }
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            match cx.positional.as_slice() {
                [] => cx.names("hpa").await.into_iter().map(|n| format!("hpa/{n}")).collect(),
                _ => Vec::new(),
            }
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let hpa_kind = conn.kind("horizontalpodautoscalers.autoscaling").await?;
        let events_kind = conn.kind("events").await?;
        let started = Instant::now();
        let mut watch = Watch::new(conn.clone()).until(Some(started + self.timeout)).tick(Duration::from_secs(1));
        let hpas = watch.add("horizontalpodautoscalers", api_for(&conn, &hpa_kind, Some(&ns)), hpa_kind.api_resource(), Config::default().fields(&format!("metadata.name={}", self.name)));
        let events = watch.add_soft(
            "events",
            api_for(&conn, &events_kind, Some(&ns)),
            events_kind.api_resource(),
            Config::default().fields(&format!("involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name={}", self.name)),
        );
        let since = chrono::Utc::now();
        let mut samples: Vec<Sample> = Vec::new();
        // Events by uid, with the second the watch saw them.
        let mut seen: Vec<(String, f64, String)> = Vec::new();
        let mut live: Option<LiveLine> = None;
        let mut next_check = started;
        // Consecutive checks that found the metric's API unavailable: two in a row end it, so
        // that one blip while an adapter restarts does not.
        let mut api_down = 0;
        let mut problem = String::new();
        loop {
            let wake = watch.next().await?;
            if !watch.listed() {
                continue;
            }
            let t = started.elapsed().as_secs_f64();
            let Some(hpa) = watch.objects(hpas).into_iter().next().cloned() else {
                return Err(MagicError::new("NotFound", format!("horizontalpodautoscalers.autoscaling \"{}\" not found in namespace {ns}", self.name)));
            };
            let (scaler, sample) = read(&hpa, t);
            if (sample.metric.is_none() || scaler.trouble.is_some()) && Instant::now() >= next_check {
                next_check = Instant::now() + API_CHECK;
                match aggregated::unavailable(&conn, scaler.metrics_api).await {
                    Some(why) => {
                        api_down += 1;
                        problem = why;
                    }
                    None => api_down = 0,
                }
                if api_down >= 2 {
                    if let Some(mut line) = live.take() {
                        line.finish(hpa_chart(&scaler, &samples, &[], "stopped: its metric cannot be read"));
                    }
                    return Err(MagicError::new("MetricsUnavailable", format!("hpa {} cannot read {}: {problem}", self.name, scaler.metric_name)));
                }
            }
            samples.push(sample.clone());
            if samples.len() > MAX_SAMPLES {
                samples.remove(0);
            }
            for e in watch.objects(events) {
                let uid = e["metadata"]["uid"].as_str().unwrap_or_default().to_string();
                let when = e["lastTimestamp"].as_str().or(e["eventTime"].as_str()).and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
                // Only what happens while we watch: older events are the autoscaler's past.
                if when.is_some_and(|w| w < since - chrono::Duration::seconds(1)) || seen.iter().any(|(u, _, _)| *u == uid) {
                    continue;
                }
                seen.push((uid, t, e["message"].as_str().unwrap_or_default().to_string()));
            }
            let marks: Vec<(f64, String)> = seen.iter().map(|(_, t, m)| (*t, m.clone())).collect();
            let reached = self.replicas.is_some_and(|n| sample.current == n && sample.desired == n);
            let state = if reached {
                format!("{} replicas after {t:.0} s", sample.current)
            } else if wake == Wake::Deadline {
                format!("watched for {} s", self.timeout.as_secs())
            } else {
                match self.replicas {
                    Some(n) => format!("watching until {n} replicas; {t:.0} s of {} s", self.timeout.as_secs()),
                    None => format!("watching; {t:.0} s of {} s", self.timeout.as_secs()),
                }
            };
            let bundle = hpa_chart(&scaler, &samples, &marks, &state);
            let line = live.get_or_insert_with(|| LiveLine::new(cx.sink, bundle.clone()));
            if reached || wake == Wake::Deadline {
                line.finish(bundle);
                if reached || self.replicas.is_none() {
                    return Ok(MagicOutput::None);
                }
                return Err(MagicError::new(
                    "Timeout",
                    format!("hpa {} did not reach {} replicas within {} s (it has {}, desired {})", self.name, self.replicas.unwrap_or(0), self.timeout.as_secs(), sample.current, sample.desired),
                ));
            }
            line.update(bundle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn watch_lines() {
        assert_eq!(refused(&WatchVerb, "hpa/cpu --replicas 3 --timeout 2m", false), "");
        assert_eq!(refused(&WatchVerb, "hpa cpu", false), "");
        assert!(refused(&WatchVerb, "deploy/web", false).contains("use get deploy -w"));
        assert!(refused(&WatchVerb, "", false).contains("write watch hpa/NAME"));
    }
}
