//! `rollout status|history|undo|restart deploy/NAME`: a rollout's live progress or why it is
//! stuck, the revisions with their images and change-causes, going back to one, restarting.

use super::flags::{split_first_kind_name, Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::framework::spelling::closest;
use crate::k8s::cluster::objects::{api_for, labels_text, patch_params, to_value, CHANGE_CAUSE};
use crate::k8s::cluster::{Conn, Kind, Scope};
use crate::k8s::view::{age, Table};
use crate::k8s::watch::rollout::{rollout, DEFAULT_TIMEOUT};
use super::result;
use chrono::Utc;
use kube::api::{ListParams, Patch};
use output::{MimeBundle, StreamName};
use serde_json::{json, Value};
use std::time::Duration;

const REVISION: &str = "deployment.kubernetes.io/revision";
const SUBS: &[&str] = &["status", "history", "undo", "restart"];

pub struct Rollout;

const ABOUT: About = About {
    name: "rollout",
    flags: &["--namespace", "--timeout", "--to-revision", "--context", "--kubeconfig"],
    help: "  %k8s rollout status deploy/NAME [--timeout 3m]     live progress of the rollout, or why it is stuck
  %k8s rollout history | undo [--to-revision N] | restart  deploy/NAME",
    body: None,
    takes_command: false,
};

struct Options {
    sub: String,
    positional: Vec<String>,
    to_revision: Option<i64>,
    timeout: Option<Duration>,
    scope: Scope,
}

impl Verb for Rollout {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let sub = (!p.positional.is_empty()).then(|| p.positional.remove(0));
        split_first_kind_name(&mut p)?;
        let sub = match sub {
            Some(s) if SUBS.contains(&s.as_str()) => s,
            Some(s) => {
                let hint = closest(&s, SUBS.iter().copied()).map(|c| format!("; did you mean {c}?")).unwrap_or_default();
                return Err(p.usage(format!("unknown rollout command '{s}'{hint} (status, history, undo, restart)")));
            }
            None => return Err(p.usage("write rollout status|history|undo|restart deploy/NAME")),
        };
        if p.positional.len() != 2 {
            return Err(p.usage(format!("write rollout {sub} deploy/NAME")));
        }
        let to_revision = p.number("--to-revision");
        if to_revision.is_some() && sub != "undo" {
            return Err(p.usage("--to-revision goes with undo"));
        }
        plan(Options { sub, positional: p.positional.clone(), to_revision, timeout: p.duration("--timeout"), scope: p.scope() })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            match cx.positional.as_slice() {
                [] => SUBS.iter().map(|s| s.to_string()).collect(),
                [_] => cx.workload_names(&["deploy/"]).await,
                _ => Vec::new(),
            }
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let sub = self.sub.as_str();
        let (kind, deploy) = deployment(&conn, &ns, &self.positional, &format!("rollout {sub}")).await?;
        let name = &self.positional[1];
        match sub {
            "status" => {
                rollout(&conn, &ns, name, self.timeout.unwrap_or(DEFAULT_TIMEOUT), cx.sink).await?;
                Ok(MagicOutput::None)
            }
            "history" => {
                let revisions = revisions(&conn, &ns, &deploy).await?;
                let current = deploy["metadata"]["annotations"][REVISION].as_str().unwrap_or_default().to_string();
                let mut t = Table::new(&["REVISION", "IMAGES", "CHANGE-CAUSE", "REPLICAS", "AGE"]);
                let now = Utc::now();
                for (rev, rs) in &revisions {
                    let mark = if rev.to_string() == current { " (current)" } else { "" };
                    t.rows.push(vec![
                        format!("{rev}{mark}"),
                        images(&rs["spec"]["template"]),
                        rs["metadata"]["annotations"][CHANGE_CAUSE].as_str().unwrap_or("<none>").to_string(),
                        rs["status"]["replicas"].as_i64().unwrap_or(0).to_string(),
                        age(rs, now),
                    ]);
                }
                if t.rows.is_empty() {
                    return result(MimeBundle::plain(format!("deployment.apps/{name} has no revisions yet")));
                }
                result(t.bundle())
            }
            "undo" => {
                let revisions = revisions(&conn, &ns, &deploy).await?;
                let current: i64 = deploy["metadata"]["annotations"][REVISION].as_str().and_then(|r| r.parse().ok()).unwrap_or(0);
                let target = match self.to_revision {
                    Some(n) => revisions.iter().find(|(r, _)| *r == n).ok_or_else(|| {
                        let known: Vec<String> = revisions.iter().map(|(r, _)| r.to_string()).collect();
                        MagicError::new("NotFound", format!("deployment.apps/{name} has no revision {n}; it has {}", known.join(", ")))
                    })?,
                    None => revisions.iter().rev().find(|(r, _)| *r < current).ok_or_else(|| {
                        MagicError::new("NoRevision", format!("deployment.apps/{name} has no revision before {current} to go back to"))
                    })?,
                };
                let (rev, rs) = target;
                if *rev == current {
                    cx.sink.stream(StreamName::Stdout, &format!("deployment.apps/{name} is already at revision {rev}\n"));
                    return Ok(MagicOutput::None);
                }
                // The revision's pod template, without the label the ReplicaSet added to it.
                let mut template = rs["spec"]["template"].clone();
                if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
                    labels.remove("pod-template-hash");
                }
                // The template and the revision's change-cause (or none) in one patch, as kubectl does.
                let cause_path = format!("/metadata/annotations/{}", CHANGE_CAUSE.replace('~', "~0").replace('/', "~1"));
                let mut ops = vec![json!({ "op": "replace", "path": "/spec/template", "value": template })];
                match rs["metadata"]["annotations"][CHANGE_CAUSE].as_str() {
                    Some(cause) => ops.push(json!({ "op": "add", "path": cause_path, "value": cause })),
                    None if deploy["metadata"]["annotations"][CHANGE_CAUSE].is_string() => {
                        ops.push(json!({ "op": "remove", "path": cause_path }))
                    }
                    None => {}
                }
                let patch = Value::Array(ops);
                let patch: json_patch::Patch = serde_json::from_value(patch).map_err(|e| MagicError::new("Internal", e.to_string()))?;
                let api = api_for(&conn, &kind, Some(&ns));
                conn.call(&format!("patch deployments {name}"), api.patch(name, &patch_params(), &Patch::Json::<()>(patch))).await?;
                cx.sink.stream(StreamName::Stdout, &format!("deployment.apps/{name} rolled back to revision {rev} ({})\n", images(&template)));
                Ok(MagicOutput::None)
            }
            "restart" => {
                let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                let patch = json!({
                    "metadata": { "annotations": { CHANGE_CAUSE: "rollout restart" } },
                    "spec": { "template": { "metadata": { "annotations": { "kubectl.kubernetes.io/restartedAt": now } } } }
                });
                conn.call(
                    &format!("patch deployments {name}"),
                    api_for(&conn, &kind, Some(&ns)).patch(name, &patch_params(), &Patch::Strategic(&patch)),
                )
                .await?;
                cx.sink.stream(StreamName::Stdout, &format!("deployment.apps/{name} restarted (its pods are replaced one by one)\n"));
                Ok(MagicOutput::None)
            }
            _ => Err(MagicError::usage(format!("%k8s rollout: unknown command {sub}"))),
        }
    }
}

/// The deployment named by `deploy/NAME` (other kinds get a clear message).
pub(super) async fn deployment(conn: &Conn, ns: &str, target: &[String], verb: &str) -> Result<(Kind, Value), MagicError> {
    let kind = conn.kind(&target[0]).await?;
    if kind.plural != "deployments" {
        return Err(MagicError::usage(format!("%k8s {verb}: works on deployments (deploy/NAME), not {}", kind.plural)));
    }
    let name = &target[1];
    let obj = conn.call(&format!("get deployments {name}"), api_for(conn, &kind, Some(ns)).get(name)).await?;
    Ok((kind.clone(), to_value(obj, &kind.api_resource())))
}

/// The deployment's ReplicaSets by revision, oldest first.
async fn revisions(conn: &Conn, ns: &str, deploy: &Value) -> Result<Vec<(i64, Value)>, MagicError> {
    let uid = deploy["metadata"]["uid"].as_str().unwrap_or_default();
    let selector = labels_text(&deploy["spec"]["selector"]["matchLabels"]);
    let rs_kind = conn.kind("replicasets.apps").await?;
    let list = conn
        .call("list replicasets", api_for(conn, &rs_kind, Some(ns)).list(&ListParams::default().labels(&selector)))
        .await?;
    let mut out: Vec<(i64, Value)> = list
        .items
        .into_iter()
        .map(|o| to_value(o, &rs_kind.api_resource()))
        .filter(|rs| rs["metadata"]["ownerReferences"].as_array().is_some_and(|os| os.iter().any(|o| o["uid"] == uid)))
        .filter_map(|rs| rs["metadata"]["annotations"][REVISION].as_str().and_then(|r| r.parse().ok()).map(|r| (r, rs)))
        .collect();
    out.sort_by_key(|(r, _)| *r);
    Ok(out)
}

fn images(template: &Value) -> String {
    template["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["image"].as_str())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn sub_commands() {
        assert_eq!(refused(&Rollout, "undo deploy/web --to-revision 2", false), "");
        assert_eq!(
            refused(&Rollout, "stauts deploy/web", false),
            "%k8s rollout: unknown rollout command 'stauts'; did you mean status? (status, history, undo, restart)"
        );
        assert_eq!(refused(&Rollout, "status deploy/web --to-revision 2", false), "%k8s rollout: --to-revision goes with undo");
    }
}
