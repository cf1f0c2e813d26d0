//! `create namespace|deployment|job|configmap|secret generic NAME ...`: kubectl's generators.
//! Unlike apply, a name that is taken is an `AlreadyExists` error, as kubectl says it.

use super::flags::{Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::{api_for, kind_ref, mark_ours};
use crate::k8s::cluster::Scope;
use kube::api::{DynamicObject, PostParams};
use output::StreamName;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub struct Create;

const ABOUT: About = About {
    name: "create",
    flags: &["--namespace", "--image", "--replicas", "--port", "--from-literal", "--from-file", "--context", "--kubeconfig"],
    help: "  %k8s create namespace NAME | deployment NAME --image I [--replicas N] [--port P] | job NAME --image I [-- COMMAND]
        | configmap NAME --from-literal K=V... [--from-file [KEY=]PATH] | secret generic NAME --from-literal K=V...",
    body: None,
    takes_command: true,
};

const WHAT: &[&str] = &["namespace", "deployment", "job", "configmap", "secret"];

struct Options {
    kind: &'static str,
    object: Value,
    scope: Scope,
}

impl Verb for Create {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let mut words = p.positional.clone();
        let what = if words.is_empty() { String::new() } else { words.remove(0) };
        if what == "secret" && words.first().map(String::as_str) == Some("generic") {
            words.remove(0);
        }
        let Some(name) = words.first().cloned().filter(|_| words.len() == 1) else {
            return Err(p.usage(format!("write create {} NAME ...", if what.is_empty() { "KIND" } else { &what })));
        };
        let needs_image = || p.text("--image").ok_or_else(|| p.usage(format!("create {what} needs --image IMAGE")));
        let (kind, object) = match what.as_str() {
            "namespace" | "ns" => ("namespaces", json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } })),
            "deployment" | "deploy" => {
                let image = needs_image()?;
                let mut container = json!({ "name": container_name(&image), "image": image });
                if let Some(port) = p.number("--port") {
                    container["ports"] = json!([{ "containerPort": port }]);
                }
                (
                    "deployments.apps",
                    json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": name, "labels": { "app": name } },
                        "spec": { "replicas": p.number("--replicas").unwrap_or(1), "selector": { "matchLabels": { "app": name } },
                            "template": { "metadata": { "labels": { "app": name } }, "spec": { "containers": [container] } } } }),
                )
            }
            "job" => {
                let image = needs_image()?;
                let mut container = json!({ "name": name, "image": image });
                if !p.command.is_empty() {
                    container["command"] = json!(p.command);
                }
                (
                    "jobs.batch",
                    json!({ "apiVersion": "batch/v1", "kind": "Job", "metadata": { "name": name },
                        "spec": { "template": { "spec": { "containers": [container], "restartPolicy": "Never" } } } }),
                )
            }
            "configmap" | "cm" | "secret" => {
                let data = data_of(&p)?;
                let (kind, api_kind, field) =
                    if what == "secret" { ("secrets", "Secret", "stringData") } else { ("configmaps", "ConfigMap", "data") };
                let mut object = json!({ "apiVersion": "v1", "kind": api_kind, "metadata": { "name": name } });
                object[field] = Value::Object(data.into_iter().map(|(k, v)| (k, Value::String(v))).collect::<Map<_, _>>());
                if what == "secret" {
                    object["type"] = json!("Opaque");
                }
                (kind, object)
            }
            other => {
                return Err(p.usage(format!("create {other}: kubernel creates {}; apply takes anything else", WHAT.join(", "))));
            }
        };
        plan(Options { kind, object, scope: p.scope() })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            match cx.positional.as_slice() {
                [] => WHAT.iter().map(|s| s.to_string()).collect(),
                ["secret"] => vec!["generic".into()],
                _ => Vec::new(),
            }
        })
    }
}

/// kubectl names a deployment's container after its image: `nginx:1.27` → `nginx`.
fn container_name(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split([':', '@']).next().unwrap_or(last).to_string()
}

/// `--from-literal K=V` and `--from-file [KEY=]PATH` (the key is the file's name by default).
fn data_of(p: &Parsed) -> Result<BTreeMap<String, String>, UsageError> {
    let mut data: BTreeMap<String, String> = p.pairs("--from-literal").into_iter().collect();
    for spec in p.texts("--from-file") {
        let (key, path) = match spec.split_once('=') {
            Some((k, path)) => (k.to_string(), path.to_string()),
            None => (std::path::Path::new(&spec).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), spec.clone()),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| p.usage(format!("--from-file {path}: {e}")))?;
        data.insert(key, text);
    }
    Ok(data)
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let kind = conn.kind(self.kind).await?;
        let ns = kind.namespaced.then_some(ns);
        let mut value = self.object.clone();
        mark_ours(&mut value, ns.as_deref());
        let name = value["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let object: DynamicObject = serde_json::from_value(value).map_err(|e| MagicError::new("Internal", e.to_string()))?;
        let pp = PostParams { field_manager: Some("kubernel".into()), ..PostParams::default() };
        conn.call(&format!("create {} {name}", kind.plural), api_for(&conn, &kind, ns.as_deref()).create(&pp, &object)).await?;
        cx.sink.stream(StreamName::Stdout, &format!("{}/{name} created\n", kind_ref(&kind)));
        Ok(MagicOutput::None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn generators() {
        assert_eq!(refused(&Create, "namespace qa", false), "");
        assert_eq!(refused(&Create, "deployment web --image nginx:1.27 --replicas 2", false), "");
        assert!(refused(&Create, "deployment web", false).contains("needs --image"));
        assert_eq!(refused(&Create, "secret generic db --from-literal password=x", false), "");
        assert!(refused(&Create, "ingress x", false).contains("apply takes anything else"));
        assert_eq!(container_name("registry.local:5000/team/nginx:1.27"), "nginx");
    }
}
