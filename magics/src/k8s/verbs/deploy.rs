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
        "--context",
        "--kubeconfig",
    ],
    help: "  %%k8s deploy NAME [--replicas N] [--port P] [--env K=V]... [--cpu REQ[/LIM]] [--memory REQ[/LIM]]
        the cell's Rust body as a program's main, with the notebook's items and :deps, built here
        and run as a Deployment labelled app=NAME (its pods get PORT=P); progress live until every
        replica is available [--image BASE] [--registry HOST[/PATH]] [--timeout 3m] [--no-wait]",
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
    scope: Scope,
}

impl Verb for Deploy {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, has_body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let [name] = p.positional.as_slice() else {
            return Err(p.usage("write %%k8s deploy NAME [--port P], with the program's Rust code below it in the cell"));
        };
        if !has_body {
            return Err(p.usage("deploy runs the Rust code in the cell's body as a program: write %%k8s deploy NAME, then the code below it"));
        }
        plan(Options {
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
        deployment(cx, &conn, &kind, &ns, &self.name, spec, self.replicas, &cause, self.overwrite, self.wait).await
    }
}

impl Options {
    fn pod_spec(&self, image: &str) -> Value {
        let mut env: Vec<Value> = self.env.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
        let mut container = json!({ "name": self.name, "image": image, "resources": resources(&self.cpu, &self.memory) });
        if let Some(port) = self.port {
            container["ports"] = json!([{ "containerPort": port }]);
            env.push(json!({ "name": "PORT", "value": port.to_string() }));
        }
        container["env"] = Value::Array(env);
        let mut spec = restricted_pod(container);
        spec["terminationGracePeriodSeconds"] = json!(5);
        spec
    }
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
    }
}
