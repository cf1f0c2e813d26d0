//! `run NAME --image IMAGE ...`: a Deployment whose pods are labelled app=NAME, with its
//! progress shown live until every replica is available, or the cause that stops it.

use super::flags::{Parsed, UsageError};
use super::{plan, About, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::objects::{apply_one, session_id, CHANGE_CAUSE, MANAGED_BY, SESSION_LABEL};
use crate::k8s::cluster::Scope;
use crate::k8s::watch::rollout::{rollout, DEFAULT_TIMEOUT};
use output::StreamName;
use serde_json::{json, Value};
use std::time::Duration;

pub struct Run;

const ABOUT: About = About {
    name: "run",
    flags: &[
        "--namespace",
        "--image",
        "--port",
        "--replicas",
        "--env",
        "--cpu",
        "--memory",
        "--timeout",
        "--no-wait",
        "--context",
        "--kubeconfig",
    ],
    help: "  %k8s run NAME --image IMAGE [--port P] [--replicas N] [--env K=V]... [--cpu REQ[/LIM]] [--memory REQ[/LIM]] [-- COMMAND ARGS]
        a Deployment whose pods are labelled app=NAME; shows its progress live until every replica
        is available, or stops with the cause (ImagePullBackOff, Unschedulable, CrashLoopBackOff
        with the last lines it wrote) [--timeout 3m] [--no-wait]",
    body: None,
    takes_command: true,
};

struct Options {
    positional: Vec<String>,
    image: String,
    port: Option<i64>,
    replicas: i64,
    env: Vec<(String, String)>,
    cpu: Option<String>,
    memory: Option<String>,
    command: Vec<String>,
    timeout: Option<Duration>,
    no_wait: bool,
    scope: Scope,
}

impl Verb for Run {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let no_wait = p.has("--no-wait");
        let timeout = p.duration("--timeout");
        if no_wait && timeout.is_some() {
            return Err(p.usage("--timeout is how long to wait; it does not go with --no-wait"));
        }
        if p.positional.len() != 1 {
            return Err(p.usage("write run NAME --image IMAGE [--port P] [--replicas N] [-- COMMAND ARGS]"));
        }
        let Some(image) = p.text("--image") else { return Err(p.usage("--image IMAGE is needed")) };
        plan(Options {
            positional: p.positional.clone(),
            image,
            port: p.number("--port"),
            replicas: p.number("--replicas").unwrap_or(1),
            env: p.pairs("--env"),
            cpu: p.text("--cpu"),
            memory: p.text("--memory"),
            command: p.command.clone(),
            timeout,
            no_wait,
            scope: p.scope(),
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let name = &self.positional[0];
        let kind = conn.kind("deployments.apps").await?;
        let mut container = json!({ "name": name, "image": self.image.clone() });
        if let Some(port) = self.port {
            container["ports"] = json!([{ "containerPort": port }]);
        }
        if !self.env.is_empty() {
            container["env"] = Value::Array(self.env.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect());
        }
        if !self.command.is_empty() {
            container["command"] = json!(self.command);
        }
        let (cpu_req, cpu_lim) = request_and_limit(&self.cpu);
        let (mem_req, mem_lim) = request_and_limit(&self.memory);
        let mut requests = serde_json::Map::new();
        let mut limits = serde_json::Map::new();
        for (key, v) in [("cpu", cpu_req), ("memory", mem_req)] {
            if let Some(v) = v {
                requests.insert(key.to_string(), json!(v));
            }
        }
        for (key, v) in [("cpu", cpu_lim), ("memory", mem_lim)] {
            if let Some(v) = v {
                limits.insert(key.to_string(), json!(v));
            }
        }
        if !requests.is_empty() || !limits.is_empty() {
            container["resources"] = json!({});
            if !requests.is_empty() {
                container["resources"]["requests"] = Value::Object(requests);
            }
            if !limits.is_empty() {
                container["resources"]["limits"] = Value::Object(limits);
            }
        }
        let labels = json!({ "app": name, MANAGED_BY.0: MANAGED_BY.1, SESSION_LABEL: session_id() });
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "labels": { "app": name },
                "annotations": { CHANGE_CAUSE: format!("run {name} --image {}", self.image.clone()) }
            },
            "spec": {
                "replicas": self.replicas,
                "selector": { "matchLabels": { "app": name } },
                "template": { "metadata": { "labels": labels }, "spec": { "containers": [container] } }
            }
        });
        apply_one(&conn, &kind, Some(&ns), deployment).await?;
        cx.sink.stream(StreamName::Stdout, &format!("deployment.apps/{name} created or updated in {ns}\n"));
        if !self.no_wait {
            rollout(&conn, &ns, name, self.timeout.unwrap_or(DEFAULT_TIMEOUT), cx.sink).await?;
        }
        Ok(MagicOutput::None)
    }
}

/// `100m` → requests only; `100m/500m` → request and limit.
pub(super) fn request_and_limit(text: &Option<String>) -> (Option<String>, Option<String>) {
    match text.as_deref() {
        None => (None, None),
        Some(t) => match t.split_once('/') {
            Some((r, l)) => (Some(r.to_string()).filter(|s| !s.is_empty()), Some(l.to_string()).filter(|s| !s.is_empty())),
            None => (Some(t.to_string()), None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn what_run_needs() {
        let line = "web --image nginx --port 80 --replicas 2 --env A=1 --env B=x=y --cpu 100m/200m --memory 64Mi -- nginx -g daemon";
        assert_eq!(refused(&Run, line, false), "");
        assert_eq!(refused(&Run, "web", false), "%k8s run: --image IMAGE is needed");
        assert_eq!(refused(&Run, "web --image x --port 0", false), "%k8s run: --port '0' is not a port number");
        assert!(refused(&Run, "web --image x --env novalue", false).contains("KEY=VALUE"));
        assert_eq!(refused(&Run, "web --image nginx --no-wait", false), "");
        assert_eq!(request_and_limit(&Some("100m/500m".into())), (Some("100m".into()), Some("500m".into())));
        assert_eq!(request_and_limit(&Some("64Mi".into())), (Some("64Mi".into()), None));
    }
}
