//! `expose deploy/NAME --port P`: a Service that selects the workload's pods.

use super::flags::{split_kind_names, Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::{api_for, apply_one, kind_ref, pod_selector, to_value};
use crate::k8s::cluster::Scope;
use output::StreamName;
use serde_json::{json, Value};

pub struct Expose;

const ABOUT: About = About {
    name: "expose",
    flags: &["--namespace", "--port", "--target-port", "--type", "--name", "--context", "--kubeconfig"],
    help: "  %k8s expose deploy/NAME --port P [--target-port T] [--type ClusterIP|NodePort|LoadBalancer] [--name N]",
    body: None,
    takes_command: false,
};

struct Options {
    positional: Vec<String>,
    port: i64,
    target_port: Option<String>,
    service_type: Option<String>,
    name: Option<String>,
    scope: Scope,
}

impl Verb for Expose {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        split_kind_names(&mut p)?;
        if p.positional.len() != 2 {
            return Err(p.usage("write expose deploy/NAME --port P"));
        }
        let Some(port) = p.number("--port") else { return Err(p.usage("--port P is needed")) };
        plan(Options {
            positional: p.positional.clone(),
            port,
            target_port: p.text("--target-port"),
            service_type: p.text("--type"),
            name: p.text("--name"),
            scope: p.scope(),
        })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(cx.kind_then_names())
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let kind = conn.kind(&self.positional[0]).await?;
        let target = &self.positional[1];
        let obj = conn.call(&format!("get {} {target}", kind.plural), api_for(&conn, &kind, Some(&ns)).get(target)).await?;
        let obj = to_value(obj, &kind.api_resource());
        let selector = pod_selector(&kind, &obj);
        if !selector.as_object().is_some_and(|m| !m.is_empty()) {
            return Err(MagicError::usage(format!("%k8s expose: {}/{target} has no pod selector to expose", kind_ref(&kind))));
        }
        let port = self.port;
        let target_port: Value = match &self.target_port {
            Some(t) => t.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(t)),
            None => json!(port),
        };
        let name = self.name.clone().unwrap_or_else(|| target.clone());
        let svc_kind = conn.kind("services").await?;
        let service = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": { "name": name },
            "spec": {
                "type": self.service_type.clone().unwrap_or_else(|| "ClusterIP".into()),
                "selector": selector,
                "ports": [{ "port": port, "targetPort": target_port, "protocol": "TCP" }]
            }
        });
        apply_one(&conn, &svc_kind, Some(&ns), service).await?;
        cx.sink.stream(StreamName::Stdout, &format!("service/{name} exposes {}/{target} on port {port}\n", kind_ref(&kind)));
        Ok(MagicOutput::None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{parsed, refused};
    use super::*;

    #[test]
    fn port_and_type() {
        assert_eq!(refused(&Expose, "deploy/web --port 80 --target-port 8080 --type nodeport", false), "");
        assert_eq!(parsed(&Expose, "deploy/web --port 80 --type nodeport").unwrap().text("--type").as_deref(), Some("NodePort"));
        assert!(refused(&Expose, "deploy/web", false).contains("--port P is needed"));
        assert_ne!(refused(&Expose, "deploy/web --port 80 --type weird", false), "");
    }
}
