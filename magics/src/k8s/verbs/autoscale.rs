//! `autoscale deploy/NAME --max M [--min N] [--cpu-percent P]`: a HorizontalPodAutoscaler
//! (autoscaling/v2) on CPU, with a note when the containers have no CPU request.

use super::flags::{split_first_kind_name, Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use super::rollout::deployment;
use crate::k8s::cluster::objects::apply_one;
use crate::k8s::cluster::Scope;
use output::StreamName;
use serde_json::json;

pub struct Autoscale;

const ABOUT: About = About {
    name: "autoscale",
    flags: &["--namespace", "--min", "--max", "--cpu-percent", "--name", "--context", "--kubeconfig"],
    help: "  %k8s autoscale deploy/NAME --max M [--min N] [--cpu-percent P]   a HorizontalPodAutoscaler",
    body: None,
    takes_command: false,
};

struct Options {
    positional: Vec<String>,
    name: Option<String>,
    min: i64,
    max: i64,
    cpu_percent: i64,
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
        plan(Options {
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
        let hpa = json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": { "name": hpa_name },
            "spec": {
                "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": name },
                "minReplicas": min,
                "maxReplicas": max,
                "metrics": [{ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": cpu } } }]
            }
        });
        apply_one(&conn, &hpa_kind, Some(&ns), hpa).await?;
        cx.sink.stream(
            StreamName::Stdout,
            &format!("horizontalpodautoscaler.autoscaling/{hpa_name} keeps deployment {name} between {min} and {max} replicas at {cpu}% CPU\n"),
        );
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
    }
}
