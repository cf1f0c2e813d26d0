//! `autoscale deploy/NAME --max M [--min N] [--cpu-percent P]`: a HorizontalPodAutoscaler
//! (autoscaling/v2) on CPU, with a note when the containers have no CPU request; or, with
//! `--metric NAME --target V`, on the pods' own metric (custom.metrics.k8s.io, served from
//! Prometheus by prometheus-adapter). `--scale-down-window` shortens the five minutes the
//! autoscaler waits before it scales down (behavior.scaleDown.stabilizationWindowSeconds).

use super::flags::{split_first_kind_name, Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use super::rollout::deployment;
use crate::k8s::cluster::aggregated;
use crate::k8s::cluster::objects::apply_one;
use crate::k8s::cluster::Scope;
use crate::k8s::view::hpa_chart::metrics_api;
use output::StreamName;
use serde_json::json;

pub struct Autoscale;

const ABOUT: About = About {
    name: "autoscale",
    flags: &["--namespace", "--min", "--max", "--cpu-percent", "--metric", "--target", "--scale-down-window", "--name", "--context", "--kubeconfig"],
    help: "  %k8s autoscale deploy/NAME --max M [--min N] [--cpu-percent P]   a HorizontalPodAutoscaler on CPU
  %k8s autoscale deploy/NAME --max M --metric NAME --target V   on the pods' own metric (an average of V per pod,
        from Prometheus through custom.metrics.k8s.io) [--scale-down-window 5m]",
    body: None,
    takes_command: false,
};

struct Options {
    positional: Vec<String>,
    name: Option<String>,
    min: i64,
    max: i64,
    cpu_percent: i64,
    /// A Pods metric and its average target, instead of CPU.
    metric: Option<(String, String)>,
    scale_down_window: Option<std::time::Duration>,
    scope: Scope,
}

impl Verb for Autoscale {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        split_first_kind_name(&mut p)?;
        if p.positional.len() != 2 {
            return Err(p.usage("write autoscale deploy/NAME --min N --max M --cpu-percent P"));
        }
        let Some(max) = p.number("--max") else { return Err(p.usage("--max N is needed")) };
        let min = p.number("--min");
        if min.is_some_and(|min| min > max) {
            return Err(p.usage("--min is more than --max"));
        }
        let metric = match (p.text("--metric"), p.text("--target")) {
            (Some(m), Some(t)) => {
                if p.has("--cpu-percent") {
                    return Err(p.usage("--cpu-percent or --metric, not both"));
                }
                if crate::k8s::view::quantity::parse_quantity(&t).is_none() {
                    return Err(p.usage(format!("--target '{t}' is not a quantity (e.g. 2, 500m, 1k)")));
                }
                Some((m, t))
            }
            (Some(_), None) => return Err(p.usage("--metric NAME needs --target V, the average per pod to keep")),
            (None, Some(_)) => return Err(p.usage("--target V goes with --metric NAME")),
            (None, None) => None,
        };
        plan(Options {
            metric,
            scale_down_window: p.duration("--scale-down-window"),
            positional: p.positional.clone(),
            name: p.text("--name"),
            min: min.unwrap_or(1),
            max,
            cpu_percent: p.number("--cpu-percent").unwrap_or(80),
            scope: p.scope(),
        })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            if cx.positional.is_empty() {
                cx.workload_names(&["deploy/"]).await
            } else {
                Vec::new()
            }
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let (_, deploy) = deployment(&conn, &ns, &self.positional, "autoscale").await?;
        let name = &self.positional[1];
        let hpa_name = self.name.clone().unwrap_or_else(|| name.clone());
        let (min, max, cpu) = (self.min, self.max, self.cpu_percent);
        let hpa_kind = conn.kind("horizontalpodautoscalers.autoscaling").await?;
        let metrics = match &self.metric {
            Some((metric, target)) => json!([{ "type": "Pods", "pods": { "metric": { "name": metric }, "target": { "type": "AverageValue", "averageValue": target } } }]),
            None => json!([{ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": cpu } } }]),
        };
        let api = metrics_api(&metrics[0]);
        let mut hpa = json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": { "name": hpa_name },
            "spec": {
                "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": name },
                "minReplicas": min,
                "maxReplicas": max,
                "metrics": metrics
            }
        });
        if let Some(window) = self.scale_down_window {
            hpa["spec"]["behavior"] = json!({ "scaleDown": { "stabilizationWindowSeconds": window.as_secs() } });
        }
        apply_one(&conn, &hpa_kind, Some(&ns), hpa).await?;
        let at = match &self.metric {
            Some((metric, target)) => format!("{target} {metric} per pod"),
            None => format!("{cpu}% CPU"),
        };
        cx.sink.stream(StreamName::Stdout, &format!("horizontalpodautoscaler.autoscaling/{hpa_name} keeps deployment {name} between {min} and {max} replicas at {at}\n"));
        // kubectl creates it all the same; the class should hear at once that it cannot act.
        if let Some(problem) = aggregated::unavailable(&conn, api).await {
            cx.sink.stream(StreamName::Stderr, &format!("note: the autoscaler cannot act yet: {problem}\n"));
        }
        if self.metric.is_some() {
            return Ok(MagicOutput::None);
        }
        let lacking: Vec<String> = deploy["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["resources"]["requests"]["cpu"].is_null())
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect();
        if !lacking.is_empty() {
            cx.sink.stream(
                StreamName::Stderr,
                &format!(
                    "note: container {} of deployment {name} has no CPU request, so its utilisation cannot be computed; give one (e.g. %k8s run ... --cpu 100m)\n",
                    lacking.join(", ")
                ),
            );
        }
        Ok(MagicOutput::None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(refused(&Autoscale, "deploy/web --min 1 --max 4 --cpu-percent 50", false), "");
        assert_eq!(refused(&Autoscale, "deploy/web --min 5 --max 4", false), "%k8s autoscale: --min is more than --max");
        assert_eq!(
            refused(&Autoscale, "deploy/web --max 0", false),
            "%k8s autoscale: --max '0' is not a number of replicas (a whole number, 1 or more)"
        );
        assert_eq!(refused(&Autoscale, "deploy/w --max 5 --metric items_in_progress --target 2 --scale-down-window 10s", false), "");
        assert!(refused(&Autoscale, "deploy/w --max 5 --metric items_in_progress", false).contains("needs --target"));
        assert!(refused(&Autoscale, "deploy/w --max 5 --metric m --target lots", false).contains("not a quantity"));
    }
}
