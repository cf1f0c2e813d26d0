//! `run NAME --image IMAGE ...`: a Deployment whose pods are labelled app=NAME, with its
//! progress shown live until every replica is available, or the cause that stops it; with
//! `--restart=Never`, one pod that runs once, its output streamed into the cell ([`pod`]).

mod pod;

use super::flags::{Parsed, UsageError};
use super::{plan, About, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::objects::{api_for, apply_one, labels_text, mark_ours, session_id, to_value, CHANGE_CAUSE, FIELD_MANAGER, MANAGED_BY, SESSION_LABEL};
use kube::api::{DynamicObject, PostParams};
use crate::k8s::build::resources;
use crate::k8s::cluster::{Conn, Kind, Scope};
use crate::k8s::watch::rollout::{rollout, DEFAULT_TIMEOUT};
use crate::k8s::watch::WaitError;
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
        "--overwrite",
        "--restart",
        "--rm",
        "--stdin",
        "--tty",
        "--context",
        "--kubeconfig",
    ],
    help: "  %k8s run NAME --image IMAGE [--port P] [--replicas N] [--env K=V]... [--cpu REQ[/LIM]] [--memory REQ[/LIM]] [-- COMMAND ARGS]
        a Deployment whose pods are labelled app=NAME; shows its progress live until every replica
        is available, or stops with the cause (ImagePullBackOff, Unschedulable, CrashLoopBackOff
        with the last lines it wrote) [--timeout 3m] [--no-wait]; a Deployment of that name that
        this session did not make is left alone unless --overwrite is given
  %k8s run NAME --image IMAGE --restart=Never [--rm] [--env K=V]... [-- COMMAND ARGS]
        one pod that runs once: its output streamed into the cell as it comes, its exit code
        checked at the end [--timeout 10m]; --rm deletes it afterwards (and on interrupt)",
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
    overwrite: bool,
    restart: Restart,
    /// Delete the one-off pod when it has run.
    rm: bool,
    scope: Scope,
}

/// `--restart`: Always makes a Deployment; Never and OnFailure one pod, as kubectl run does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Restart {
    Always,
    OnFailure,
    Never,
}

impl Verb for Run {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        p.wait(Duration::ZERO)?;
        let (no_wait, timeout) = (p.has("--no-wait"), p.duration("--timeout"));
        if p.positional.len() != 1 {
            return Err(p.usage("write run NAME --image IMAGE [--port P] [--replicas N] [-- COMMAND ARGS]"));
        }
        let Some(image) = p.text("--image") else { return Err(p.usage("--image IMAGE is needed")) };
        let restart = match p.text("--restart").as_deref() {
            None | Some("Always") => Restart::Always,
            Some("OnFailure") => Restart::OnFailure,
            _ => Restart::Never,
        };
        if p.has("--rm") && restart == Restart::Always {
            return Err(p.usage("--rm deletes a pod that has run; it goes with --restart=Never"));
        }
        let one_off = restart != Restart::Always;
        if one_off && p.has("--replicas") {
            return Err(p.usage("--replicas makes no sense for one pod (--restart=Never); leave it out"));
        }
        // A cell has no terminal: -it is taken as "show me its output", which a one-off pod
        // does anyway, but a shell waiting for typed input would never end.
        if (p.has("--tty") || p.has("--stdin")) && p.command.is_empty() {
            return Err(p.usage(
                "a notebook cell has no terminal to type into; give the command after --, e.g. -- sh -c 'uname -a', or use %k8s exec",
            ));
        }
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
            overwrite: p.has("--overwrite"),
            restart,
            rm: p.has("--rm"),
            scope: p.scope(),
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        if self.restart != Restart::Always {
            return pod::one_off(self, cx).await;
        }
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let name = &self.positional[0];
        let kind = conn.kind("deployments.apps").await?;
        let container = self.container(name);
        let cause = format!("run {name} --image {}", self.image);
        let spec = json!({ "containers": [container] });
        let wait = (!self.no_wait).then(|| self.timeout.unwrap_or(DEFAULT_TIMEOUT));
        deployment(cx, &conn, &kind, &ns, name, spec, self.replicas, None, &cause, self.overwrite, wait).await
    }
}

/// Makes (or, with `overwrite` or when this session made it, replaces) the Deployment `name` of
/// pods with `spec`, labelled app=NAME, and shows its rollout live until every replica is
/// available (unless `wait` is None). %%k8s deploy makes its Deployments here too.
#[allow(clippy::too_many_arguments)]
pub(super) async fn deployment(
    cx: &Cx<'_>,
    conn: &std::sync::Arc<Conn>,
    kind: &Kind,
    ns: &str,
    name: &str,
    spec: Value,
    replicas: i64,
    strategy: Option<Value>,
    cause: &str,
    overwrite: bool,
    wait: Option<Duration>,
) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = (conn.clone(), ns.to_string());
        let labels = json!({ "app": name, MANAGED_BY.0: MANAGED_BY.1, SESSION_LABEL: session_id() });
        let mut deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "labels": { "app": name },
                "annotations": { CHANGE_CAUSE: cause }
            },
            "spec": {
                "replicas": replicas,
                "selector": { "matchLabels": { "app": name } },
                "template": { "metadata": { "labels": labels }, "spec": spec }
            }
        });
        if let Some(strategy) = strategy {
            deployment["spec"]["strategy"] = strategy;
        }
        match (someone_elses(&conn, &kind, &ns, name).await?, overwrite) {
            (None, _) => apply_one(&conn, &kind, Some(&ns), deployment).await?,
            (Some((who, _)), false) => {
                return Err(MagicError::new(
                    "AlreadyExists",
                    format!("deployment.apps/{name} already exists in {ns}, made by {who}; add --overwrite to replace it, or choose another name"),
                ))
            }
            // Replaced whole (a merge would keep the other containers), then ours.
            (Some((_, existing)), true) => {
                // A Deployment's selector cannot change; one made with another cannot be replaced.
                if existing["spec"]["selector"]["matchLabels"] != json!({ "app": name }) {
                    return Err(MagicError::new(
                        "Immutable",
                        format!(
                            "deployment.apps/{name} selects its pods by {}, which cannot be changed; %k8s delete deploy/{name} -n {ns} first",
                            labels_text(&existing["spec"]["selector"]["matchLabels"])
                        ),
                    ));
                }
                let mut deployment = deployment;
                mark_ours(&mut deployment, Some(&ns));
                deployment["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"].clone();
                let object: DynamicObject = serde_json::from_value(deployment).map_err(|e| MagicError::new("Internal", e.to_string()))?;
                let pp = PostParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PostParams::default() };
                conn.call(&format!("replace deployments {name}"), api_for(&conn, &kind, Some(&ns)).replace(name, &pp, &object)).await?;
            }
        }
        cx.sink.stream(StreamName::Stdout, &format!("deployment.apps/{name} created or updated in {ns}\n"));
        if let Some(limit) = wait {
            rollout(&conn, &ns, name, limit, cx.sink).await.map_err(|e| match e {
                // The Deployment stays, and keeps trying: say so, and how to take it away.
                WaitError::Failed(f) => {
                    let note = format!(" (the Deployment stays; %k8s delete deploy/{name} -n {ns} removes it)");
                    let message = match f.message.split_once('\n') {
                        Some((first, rest)) => format!("{first}{note}\n{rest}"),
                        None => format!("{}{note}", f.message),
                    };
                    MagicError::new(&f.cause, message)
                }
                other => other.into(),
            })?;
        }
        Ok(MagicOutput::None)
}

impl Options {
    /// The one container of the pods `run` makes.
    fn container(&self, name: &str) -> Value {
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
        let resources = resources(&self.cpu, &self.memory);
        if resources != json!({}) {
            container["resources"] = resources;
        }
        container
    }
}

/// A Deployment (or pod) of this name that another session or another tool made, and who made
/// it: it is not replaced silently (kubectl create says AlreadyExists too); one this session
/// made is simply updated.
async fn someone_elses(conn: &Conn, kind: &Kind, ns: &str, name: &str) -> Result<Option<(String, Value)>, MagicError> {
    match existing(conn, kind, ns, name).await? {
        Some((Some(who), value)) => Ok(Some((who, value))),
        _ => Ok(None),
    }
}

/// The object of this name if there is one, with who made it (`None`: this session).
async fn existing(conn: &Conn, kind: &Kind, ns: &str, name: &str) -> Result<Option<(Option<String>, Value)>, MagicError> {
    let api = api_for(conn, kind, Some(ns));
    let Some(existing) = conn.call(&format!("get {} {name}", kind.plural), api.get_opt(name)).await? else { return Ok(None) };
    let existing = to_value(existing, &kind.api_resource());
    let session = existing["metadata"]["labels"][SESSION_LABEL].as_str();
    if session == Some(session_id()) {
        return Ok(Some((None, existing)));
    }
    let who = match session {
        Some(other) => format!("another kubernel session ({other})"),
        None => {
            // Who wrote the object, not who wrote its status (the controller).
            let mut managers: Vec<&str> = existing["metadata"]["managedFields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["subresource"] != "status")
                .filter_map(|f| f["manager"].as_str())
                .collect();
            managers.sort();
            managers.dedup();
            if managers.is_empty() { "someone else".to_string() } else { managers.join(", ") }
        }
    };
    Ok(Some((Some(who), existing)))
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
    }
}
