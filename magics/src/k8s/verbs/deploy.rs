//! `%%k8s deploy NAME`: the cell's Rust body as the `main` of a long-running program (a small
//! web service, say), built like a job's and run as a Deployment, with `run`'s live progress
//! and failure causes, so that expose, http and logs --stats work on it.

use super::flags::{Parsed, UsageError};
use super::run::deployment;
use super::{plan, About, Body, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::build::{build_image, cell_of, expose_metrics, resources, restricted_pod, use_pull_secret};
use crate::k8s::cluster::Scope;
use crate::k8s::watch::rollout::DEFAULT_TIMEOUT;
use serde_json::{json, Value};
use std::time::Duration;

pub struct Deploy;

const ABOUT: About = About {
    name: "deploy",
    flags: &[
        "--namespace",
        "--replicas",
        "--port",
        "--env",
        "--cpu",
        "--memory",
        "--image",
        "--registry",
        "--timeout",
        "--no-wait",
        "--overwrite",
        "--readiness",
        "--max-surge",
        "--max-unavailable",
        "--grace-period",
        "--context",
        "--kubeconfig",
    ],
    help: "  %%k8s deploy NAME [--replicas N] [--port P] [--env K=V]... [--cpu REQ[/LIM]] [--memory REQ[/LIM]]
        the cell's Rust body as a program's main, with the notebook's items and :deps, built here
        and run as a Deployment labelled app=NAME (its pods get PORT=P); progress live until every
        replica is available [--image BASE] [--registry HOST[/PATH]] [--timeout 3m] [--no-wait]
        [--readiness /PATH]: a pod gets traffic only once GET /PATH on its port answers 2xx (checked each second)
        [--max-surge N|P%] [--max-unavailable N|P%]: how a rolling update replaces pods (e.g. 1 and 0: a new pod
        is Ready before an old one goes) [--grace-period S]: seconds between SIGTERM and SIGKILL (5 unless given)",
    body: Some(Body::Rust),
    takes_command: false,
};

struct Options {
    name: String,
    replicas: i64,
    port: Option<i64>,
    env: Vec<(String, String)>,
    cpu: Option<String>,
    memory: Option<String>,
    base: Option<String>,
    registry: Option<String>,
    wait: Option<Duration>,
    overwrite: bool,
    readiness: Option<String>,
    max_surge: Option<Value>,
    max_unavailable: Option<Value>,
    grace_period: i64,
    scope: Scope,
}

impl Verb for Deploy {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, has_body: bool) -> Result<Box<dyn Planned>, UsageError> {
        plan(Options::read(&p, has_body)?)
    }
}

impl Options {
    /// The options of a deploy line, checked.
    fn read(p: &Parsed, has_body: bool) -> Result<Options, UsageError> {
        let [name] = p.positional.as_slice() else {
            return Err(p.usage("write %%k8s deploy NAME [--port P], with the program's Rust code below it in the cell"));
        };
        if !has_body {
            return Err(p.usage("deploy runs the Rust code in the cell's body as a program: write %%k8s deploy NAME, then the code below it"));
        }
        let readiness = p.text("--readiness");
        if readiness.is_some() && !p.has("--port") {
            return Err(p.usage("--readiness asks the program's port: give --port P too"));
        }
        if let Some(path) = &readiness {
            if !path.starts_with('/') {
                return Err(p.usage(format!("--readiness needs an HTTP path starting with /, such as /ready, not '{path}'")));
            }
        }
        let surge_or_unavailable = |flag: &str| -> Result<Option<Value>, UsageError> {
            p.text(flag).map(|v| pods_or_percent(&v).ok_or_else(|| p.usage(format!("{flag} needs a number of pods or a percentage (e.g. 1, 25%), not '{v}'")))).transpose()
        };
        let max_surge = surge_or_unavailable("--max-surge")?;
        let max_unavailable = surge_or_unavailable("--max-unavailable")?;
        if is_zero(&max_surge) && is_zero(&max_unavailable) {
            return Err(p.usage("--max-surge and --max-unavailable cannot both be 0: the update could never replace a pod"));
        }
        Ok(Options {
            name: name.clone(),
            replicas: p.number("--replicas").unwrap_or(1),
            port: p.number("--port"),
            env: p.pairs("--env"),
            cpu: p.text("--cpu"),
            memory: p.text("--memory"),
            base: p.text("--image"),
            registry: p.text("--registry"),
            wait: p.wait(DEFAULT_TIMEOUT)?,
            overwrite: p.has("--overwrite"),
            readiness,
            max_surge,
            max_unavailable,
            grace_period: p.number("--grace-period").unwrap_or(5),
            scope: p.scope(),
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let cell = cell_of(&cx.notebook.snapshot(), cx.body.unwrap_or_default(), cx.body_line);
        let built = build_image(&conn, cx.sink, &self.name, &cell, programs::Shape::Main, self.base.as_deref(), self.registry.as_deref()).await?;
        let kind = conn.kind("deployments.apps").await?;
        let mut spec = self.pod_spec(&built.image);
        expose_metrics(&cell, &mut spec);
        use_pull_secret(&conn, &ns, &built, &mut spec, cx.sink).await?;
        let cause = format!("deploy {} (cell {})", self.name, built.program.hash);
        deployment(cx, &conn, &kind, &ns, &self.name, spec, self.replicas, self.strategy(), &cause, self.overwrite, self.wait).await
    }
}

impl Options {
    fn pod_spec(&self, image: &str) -> Value {
        let mut env: Vec<Value> = self.env.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
        let mut container = json!({ "name": self.name, "image": image, "resources": resources(&self.cpu, &self.memory) });
        if let Some(port) = self.port {
            container["ports"] = json!([{ "containerPort": port }]);
            env.push(json!({ "name": "PORT", "value": port.to_string() }));
            if let Some(path) = &self.readiness {
                // Checked every second, so that a class sees a pod join or leave within a second.
                container["readinessProbe"] =
                    json!({ "httpGet": { "path": path, "port": port }, "periodSeconds": 1, "failureThreshold": 1, "successThreshold": 1 });
            }
        }
        container["env"] = Value::Array(env);
        let mut spec = restricted_pod(container);
        spec["terminationGracePeriodSeconds"] = json!(self.grace_period);
        spec
    }

    /// The rolling update's pace, when either bound is given (Kubernetes' 25% and 25% otherwise).
    fn strategy(&self) -> Option<Value> {
        if self.max_surge.is_none() && self.max_unavailable.is_none() {
            return None;
        }
        let mut rolling = json!({});
        if let Some(v) = &self.max_surge {
            rolling["maxSurge"] = v.clone();
        }
        if let Some(v) = &self.max_unavailable {
            rolling["maxUnavailable"] = v.clone();
        }
        Some(json!({ "type": "RollingUpdate", "rollingUpdate": rolling }))
    }
}

/// `1` as a number of pods, `25%` as a percentage (an IntOrString), or None.
fn pods_or_percent(text: &str) -> Option<Value> {
    if let Some(percent) = text.strip_suffix('%') {
        return percent.parse::<u32>().ok().filter(|p| *p <= 100).map(|_| json!(text));
    }
    text.parse::<u32>().ok().map(|n| json!(n))
}

fn is_zero(v: &Option<Value>) -> bool {
    matches!(v, Some(v) if *v == json!(0) || *v == json!("0%"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn deploy_lines() {
        assert_eq!(refused(&Deploy, "web --port 8080 --replicas 2", true), "");
        assert!(refused(&Deploy, "web", false).contains("Rust code in the cell's body"));
        assert!(refused(&Deploy, "web --no-wait --timeout 1m", true).contains("does not go with --no-wait"));
        assert_eq!(refused(&Deploy, "web --port 8080 --readiness /ready --max-surge 1 --max-unavailable 0", true), "");
        assert!(refused(&Deploy, "web --readiness /ready", true).contains("give --port P too"));
        assert!(refused(&Deploy, "web --port 8080 --readiness ready", true).contains("starting with /"));
        assert!(refused(&Deploy, "web --max-surge two", true).contains("not 'two'"));
        assert!(refused(&Deploy, "web --max-surge 120%", true).contains("not '120%'"));
        assert!(refused(&Deploy, "web --max-surge 0 --max-unavailable 0%", true).contains("cannot both be 0"));
    }

    fn options(line: &str) -> Options {
        Options::read(&super::super::tests::parsed(&Deploy, line).expect("parses"), true).expect("a valid line")
    }

    #[test]
    fn readiness_probe_and_rolling_update_pace() {
        let o = options("web --port 8080 --readiness /ready --max-surge 1 --max-unavailable 25% --grace-period 10");
        let spec = o.pod_spec("img");
        let probe = &spec["containers"][0]["readinessProbe"];
        assert_eq!(probe["httpGet"], json!({ "path": "/ready", "port": 8080 }));
        assert_eq!(probe["periodSeconds"], json!(1));
        assert_eq!(spec["terminationGracePeriodSeconds"], json!(10));
        assert_eq!(o.strategy(), Some(json!({ "type": "RollingUpdate", "rollingUpdate": { "maxSurge": 1, "maxUnavailable": "25%" } })));
        let plain = options("web --port 8080");
        assert!(plain.pod_spec("img")["containers"][0].get("readinessProbe").is_none());
        assert_eq!(plain.pod_spec("img")["terminationGracePeriodSeconds"], json!(5));
        assert_eq!(plain.strategy(), None, "Kubernetes' own pace unless asked");
    }
}
