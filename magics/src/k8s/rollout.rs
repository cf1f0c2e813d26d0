//! Updating a running application: `set image`, `rollout status|history|undo|restart`, and
//! `autoscale` (a HorizontalPodAutoscaler on CPU).

use super::args::Args;
use super::client::{Conn, Kind};
use super::ops::{api_for, apply_one, patch_params, result, to_value, Session, CHANGE_CAUSE};
use super::render;
use super::wait;
use crate::registry::{MagicError, MagicOutput};
use crate::sink::{OutputSink, StreamName};
use chrono::Utc;
use kube::api::{ListParams, Patch};
use serde_json::{json, Value};
use std::sync::Arc;

const REVISION: &str = "deployment.kubernetes.io/revision";

/// The deployment named by `deploy/NAME` (other kinds get a clear message).
async fn deployment(conn: &Conn, ns: &str, a: &Args, verb: &str) -> Result<(Kind, Value), MagicError> {
    let kind = conn.kind(&a.positional[0]).await?;
    if kind.plural != "deployments" {
        return Err(MagicError::usage(format!("%k8s {verb}: works on deployments (deploy/NAME), not {}", kind.plural)));
    }
    let name = &a.positional[1];
    let obj = conn.call(&format!("get deployments {name}"), api_for(conn, &kind, Some(ns)).get(name)).await?;
    Ok((kind.clone(), to_value(obj, &kind.api_resource())))
}

/// `set image deploy/NAME C=IMAGE [C2=IMAGE2 ...]` (`*=IMAGE` for every container).
pub async fn set_image(session: &Session, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let (kind, deploy) = deployment(&conn, &ns, a, "set image").await?;
    let name = &a.positional[1];
    let containers: Vec<String> = deploy["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let mut changes = Vec::new();
    for pair in &a.positional[2..] {
        let (container, image) = pair.split_once('=').unwrap_or_default();
        if container == "*" {
            changes.extend(containers.iter().map(|c| (c.clone(), image.to_string())));
        } else if containers.iter().any(|c| c == container) {
            changes.push((container.to_string(), image.to_string()));
        } else {
            return Err(MagicError::usage(format!(
                "%k8s set image: deployment {name} has no container {container}; its containers are {}",
                containers.join(", ")
            )));
        }
    }
    let cause = format!("set image {}", a.positional[2..].join(" "));
    let patch = json!({
        "metadata": { "annotations": { CHANGE_CAUSE: cause } },
        "spec": { "template": { "spec": { "containers":
            changes.iter().map(|(c, i)| json!({ "name": c, "image": i })).collect::<Vec<_>>() } } }
    });
    conn.call(
        &format!("patch deployments {name}"),
        api_for(&conn, &kind, Some(&ns)).patch(name, &patch_params(), &Patch::Strategic(&patch)),
    )
    .await?;
    for (c, i) in &changes {
        sink.stream(StreamName::Stdout, &format!("deployment.apps/{name} container {c} image updated to {i}\n"));
    }
    Ok(MagicOutput::None)
}

pub async fn rollout(session: &Session, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let sub = a.sub.as_deref().unwrap_or_default();
    let (kind, deploy) = deployment(&conn, &ns, a, &format!("rollout {sub}")).await?;
    let name = &a.positional[1];
    match sub {
        "status" => {
            wait::rollout(&conn, &ns, name, a.timeout.unwrap_or(wait::DEFAULT_TIMEOUT), sink).await?;
            Ok(MagicOutput::None)
        }
        "history" => {
            let revisions = revisions(&conn, &ns, &deploy).await?;
            let current = deploy["metadata"]["annotations"][REVISION].as_str().unwrap_or_default().to_string();
            let mut t = render::Table::new(&["REVISION", "IMAGES", "CHANGE-CAUSE", "REPLICAS", "AGE"]);
            let now = Utc::now();
            for (rev, rs) in &revisions {
                let mark = if rev.to_string() == current { " (current)" } else { "" };
                t.rows.push(vec![
                    format!("{rev}{mark}"),
                    images(&rs["spec"]["template"]),
                    rs["metadata"]["annotations"][CHANGE_CAUSE].as_str().unwrap_or("<none>").to_string(),
                    rs["status"]["replicas"].as_i64().unwrap_or(0).to_string(),
                    render::age(rs, now),
                ]);
            }
            if t.rows.is_empty() {
                return result(crate::sink::MimeBundle::plain(format!("deployment.apps/{name} has no revisions yet")));
            }
            result(t.bundle())
        }
        "undo" => {
            let revisions = revisions(&conn, &ns, &deploy).await?;
            let current: i64 = deploy["metadata"]["annotations"][REVISION].as_str().and_then(|r| r.parse().ok()).unwrap_or(0);
            let target = match a.to_revision {
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
                sink.stream(StreamName::Stdout, &format!("deployment.apps/{name} is already at revision {rev}\n"));
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
            sink.stream(StreamName::Stdout, &format!("deployment.apps/{name} rolled back to revision {rev} ({})\n", images(&template)));
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
            sink.stream(StreamName::Stdout, &format!("deployment.apps/{name} restarted (its pods are replaced one by one)\n"));
            Ok(MagicOutput::None)
        }
        _ => Err(MagicError::usage(format!("%k8s rollout: unknown command {sub}"))),
    }
}

/// The deployment's ReplicaSets by revision, oldest first.
async fn revisions(conn: &Conn, ns: &str, deploy: &Value) -> Result<Vec<(i64, Value)>, MagicError> {
    let uid = deploy["metadata"]["uid"].as_str().unwrap_or_default();
    let selector = render::labels_text(&deploy["spec"]["selector"]["matchLabels"]);
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

/// `autoscale deploy/NAME --min N --max M --cpu-percent P`: an autoscaling/v2 HPA.
pub async fn autoscale(session: &Session, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let (_, deploy) = deployment(&conn, &ns, a, "autoscale").await?;
    let name = &a.positional[1];
    let hpa_name = a.name.clone().unwrap_or_else(|| name.clone());
    let (min, max, cpu) = (a.min.unwrap_or(1), a.max.unwrap_or(1), a.cpu_percent.unwrap_or(80));
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
    sink.stream(
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
        sink.stream(
            StreamName::Stderr,
            &format!(
                "note: container {} of deployment {name} has no CPU request, so its utilisation cannot be computed; give one (e.g. %k8s run ... --cpu 100m)\n",
                lacking.join(", ")
            ),
        );
    }
    Ok(MagicOutput::None)
}
