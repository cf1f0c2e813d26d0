//! Working with objects of any kind: the typed-less API for a kind, objects as JSON values, the
//! labels kubernel puts on what it creates, and server-side apply in its own field manager.

use super::connection::Conn;
use super::kinds::Kind;
use super::error::ClusterError;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{json, Value};
use std::sync::OnceLock;

pub const FIELD_MANAGER: &str = "kubernel";
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kubernel");
pub const SESSION_LABEL: &str = "kubernel.io/session";
/// What `rollout history` shows for a revision (kubectl's annotation).
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

/// The id of this kernel process, put on everything it creates.
pub fn session_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().to_string())
}

pub fn api_for(conn: &Conn, kind: &Kind, ns: Option<&str>) -> Api<DynamicObject> {
    let ar = kind.api_resource();
    match (kind.namespaced, ns) {
        (true, Some(ns)) => Api::namespaced_with(conn.client.clone(), ns, &ar),
        _ => Api::all_with(conn.client.clone(), &ar),
    }
}

/// An object as JSON, with its apiVersion and kind filled in (lists leave them out).
pub fn to_value(obj: DynamicObject, ar: &ApiResource) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.entry("apiVersion").or_insert_with(|| json!(ar.api_version));
        m.entry("kind").or_insert_with(|| json!(ar.kind));
        if m.get("apiVersion").is_some_and(Value::is_null) {
            m.insert("apiVersion".into(), json!(ar.api_version));
        }
        if m.get("kind").is_some_and(Value::is_null) {
            m.insert("kind".into(), json!(ar.kind));
        }
    }
    v
}

/// An object without what the server changes on every write and says nothing about what was
/// applied (diff and apply's dry run compare objects so).
pub fn without_noise(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"] {
            meta.remove(key);
        }
    }
    obj
}

/// The objects of a kind as a person names them: some names, or all (in `ns`, or in every
/// namespace with `all_namespaces`) matching an optional label selector.
pub async fn fetch(
    conn: &Conn,
    ns: &str,
    typed_kind: &str,
    names: &[String],
    selector: Option<&str>,
    fields: Option<&str>,
    all_namespaces: bool,
) -> Result<(Kind, Vec<Value>), ClusterError> {
    let kind = conn.kind(typed_kind).await?;
    let ar = kind.api_resource();
    let mut objects = Vec::new();
    if names.is_empty() {
        let api = api_for(conn, &kind, if all_namespaces { None } else { Some(ns) });
        let mut lp = ListParams::default();
        if let Some(sel) = selector {
            lp = lp.labels(sel);
        }
        if let Some(fields) = fields {
            lp = lp.fields(fields);
        }
        let list = conn.call(&format!("list {}", kind.plural), api.list(&lp)).await?;
        objects.extend(list.items.into_iter().map(|o| to_value(o, &ar)));
    } else {
        let api = api_for(conn, &kind, Some(ns));
        for name in names {
            let obj = conn.call(&format!("get {} {name}", kind.plural), api.get(name)).await?;
            objects.push(to_value(obj, &ar));
        }
    }
    Ok((kind, objects))
}

/// The server's own printing of a kind's objects (a meta.k8s.io Table: the columns kubectl shows
/// for kinds it has no printer of its own for, custom resources' printer columns included).
pub async fn server_table(
    conn: &Conn,
    kind: &Kind,
    ns: Option<&str>,
    selector: Option<&str>,
    fields: Option<&str>,
) -> Result<Value, ClusterError> {
    let api = api_for(conn, kind, ns);
    let mut lp = ListParams::default();
    if let Some(sel) = selector {
        lp = lp.labels(sel);
    }
    if let Some(fields) = fields {
        lp = lp.fields(fields);
    }
    let what = format!("list {}", kind.plural);
    let mut request = kube::core::Request::new(api.resource_url())
        .list(&lp)
        .map_err(|e| ClusterError::Api { message: format!("{what}: {e}"), code: None, source: None })?;
    request
        .headers_mut()
        .insert(http::header::ACCEPT, http::HeaderValue::from_static("application/json;as=Table;g=meta.k8s.io;v=v1"));
    conn.call(&what, conn.client.request::<Value>(request)).await
}

/// `deployment.apps`, `pod`: how kubectl names a kind in its messages.
pub fn kind_ref(kind: &Kind) -> String {
    if kind.group.is_empty() {
        kind.kind.to_ascii_lowercase()
    } else {
        format!("{}.{}", kind.kind.to_ascii_lowercase(), kind.group)
    }
}

pub fn being_deleted(o: &Value) -> bool {
    o["metadata"]["deletionTimestamp"].is_string()
}

/// `key=value,key=value` of a label map.
pub fn labels_text(map: &Value) -> String {
    map.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// The label selector of a workload's pods (a Service's selector, or `spec.selector.matchLabels`).
pub fn pod_selector(kind: &Kind, obj: &Value) -> Value {
    if kind.plural == "services" {
        obj["spec"]["selector"].clone()
    } else {
        obj["spec"]["selector"]["matchLabels"].clone()
    }
}

/// Puts the namespace and our labels on an object. Not on its pod template: the session's label
/// there would make a re-apply from another session restart every pod of an unchanged workload.
pub fn mark_ours(value: &mut Value, ns: Option<&str>) {
    if let Some(ns) = ns {
        value["metadata"]["namespace"] = json!(ns);
    }
    if !value["metadata"]["labels"].is_object() {
        value["metadata"]["labels"] = json!({});
    }
    value["metadata"]["labels"][MANAGED_BY.0] = json!(MANAGED_BY.1);
    value["metadata"]["labels"][SESSION_LABEL] = json!(session_id());
}

/// Server-side apply of one object, with the labels of everything we create.
pub async fn apply_one(conn: &Conn, kind: &Kind, ns: Option<&str>, mut value: Value) -> Result<(), ClusterError> {
    let name = value["metadata"]["name"].as_str().unwrap_or_default().to_string();
    mark_ours(&mut value, ns);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    conn.call(&format!("apply {} {name}", kind.plural), api_for(conn, kind, ns).patch(&name, &params, &Patch::Apply(&value)))
        .await
        .map(|_| ())
}

/// A plain (not server-side apply) patch, made in the name of our field manager.
pub fn patch_params() -> PatchParams {
    PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PatchParams::default() }
}

/// The label selector of what this session made (or, with `all`, any kubernel session).
pub fn owner_selector(all: bool) -> String {
    if all {
        format!("{}={}", MANAGED_BY.0, MANAGED_BY.1)
    } else {
        format!("{SESSION_LABEL}={}", session_id())
    }
}

/// Everything labelled as created by this session (or, with `all`, by any kubernel session), in
/// every namespace, across every kind that can be listed and deleted.
pub async fn owned_objects(conn: &Conn, all: bool) -> Result<Vec<(Kind, Value)>, ClusterError> {
    let selector = owner_selector(all);
    let catalog = conn.catalog().await?;
    let kinds: Vec<Kind> = catalog
        .kinds
        .iter()
        .filter(|k| k.verbs.iter().any(|v| v == "list") && k.verbs.iter().any(|v| v == "delete"))
        .filter(|k| k.plural != "events" && k.group != "metrics.k8s.io")
        .cloned()
        .collect();
    let lp = ListParams::default().labels(&selector);
    let lists = futures::future::join_all(kinds.iter().map(|k| {
        let api = api_for(conn, k, None);
        let lp = lp.clone();
        async move { (k, conn.call(&format!("list {}", k.plural), api.list(&lp)).await) }
    }))
    .await;
    let mut out = Vec::new();
    for (kind, list) in lists {
        match list {
            Ok(list) => {
                let ar = kind.api_resource();
                out.extend(list.items.into_iter().map(|o| (kind.clone(), to_value(o, &ar))));
            }
            // Kinds this user may not list are not ours to report or delete.
            Err(ClusterError::Forbidden { .. } | ClusterError::NotFound { .. } | ClusterError::Api { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_is_marked_but_pod_templates_are_left_alone() {
        let mut deploy = json!({"kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {}}}});
        let template = deploy["spec"]["template"].clone();
        mark_ours(&mut deploy, Some("demo"));
        assert_eq!(deploy["metadata"]["namespace"], "demo");
        assert_eq!(deploy["metadata"]["labels"][SESSION_LABEL], session_id());
        assert_eq!(deploy["metadata"]["labels"][MANAGED_BY.0], MANAGED_BY.1);
        assert_eq!(deploy["spec"]["template"], template, "a changed template would restart the pods");
    }
}

/// Deletes what a cell started if the cell stops early (an interrupt drops its future): each
/// object by name, then whatever carries a label, at once (grace 0 for pods). Disarmed when the
/// cell reaches its end normally.
pub struct DeleteOnDrop {
    deletions: Vec<(Api<DynamicObject>, Deletion)>,
    pub armed: bool,
}

pub enum Deletion {
    Named(String, kube::api::DeleteParams),
    Labelled(String, kube::api::DeleteParams),
}

impl DeleteOnDrop {
    pub fn new(deletions: Vec<(Api<DynamicObject>, Deletion)>) -> Self {
        Self { deletions, armed: true }
    }
}

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let deletions = std::mem::take(&mut self.deletions);
        runtime.spawn(async move {
            for (api, deletion) in deletions {
                let _ = match deletion {
                    Deletion::Named(name, dp) => api.delete(&name, &dp).await.map(|_| ()),
                    Deletion::Labelled(selector, dp) => api.delete_collection(&dp, &ListParams::default().labels(&selector)).await.map(|_| ()),
                };
            }
        });
    }
}
