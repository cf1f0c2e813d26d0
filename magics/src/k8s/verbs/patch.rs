//! `patch KIND NAME -p PATCH [--type strategic|merge|json]`: changes fields of objects with a
//! strategic merge patch (kubectl's default), a JSON merge patch or a JSON patch, given as JSON
//! or YAML, and says, as kubectl does, `deployment.apps/web patched` or `patched (no change)`.

use super::flags::{split_kind_names, Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::{api_for, kind_ref, patch_params, to_value};
use crate::k8s::cluster::{ClusterError, Scope};
use kube::api::Patch as KubePatch;
use output::StreamName;
use serde_json::Value;

pub struct Patch;

const ABOUT: About = About {
    name: "patch",
    flags: &["--namespace", "--patch", "--type", "--context", "--kubeconfig"],
    help: "  %k8s patch KIND NAME... | KIND/NAME  -p PATCH [--type strategic|merge|json]
        changes fields with a patch in JSON or YAML (strategic merge by default, as kubectl)",
    body: None,
    takes_command: false,
};

/// What the patch is, checked.
#[derive(Debug, Clone, PartialEq)]
enum Body {
    Strategic(Value),
    Merge(Value),
    Json(json_patch::Patch),
}

struct Options {
    kind: String,
    names: Vec<String>,
    body: Body,
    scope: Scope,
}

const EXAMPLE_MERGE: &str = r#"-p '{"spec":{"replicas":2}}'"#;
const EXAMPLE_JSON: &str = r#"--type json -p '[{"op":"replace","path":"/spec/replicas","value":2}]'"#;

/// The patch text as a value: JSON, or else YAML (as kubectl takes both).
fn read_value(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        // What looks like JSON is judged as JSON: its error is the one that names the cause.
        Err(e) if text.trim_start().starts_with(['{', '[']) => Err(format!("-p is not valid JSON: {e}")),
        Err(_) => serde_saphyr::from_str::<Value>(text).map_err(|e| format!("-p is neither JSON nor YAML: {e}")),
    }
}

fn what_it_is(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Reads and checks a patch of a type (`strategic`, `merge` or `json`).
fn read_body(kind: &str, text: &str) -> Result<Body, String> {
    let value = read_value(text)?;
    match kind {
        "json" => {
            if !value.is_array() {
                return Err(format!("a json patch is a list of operations, like {EXAMPLE_JSON}; this is {}", what_it_is(&value)));
            }
            serde_json::from_value::<json_patch::Patch>(value).map(Body::Json).map_err(|e| format!("not a json patch: {e}"))
        }
        _ if !value.is_object() => Err(format!(
            "a {kind} patch is an object, like {EXAMPLE_MERGE}; this is {}{}",
            what_it_is(&value),
            if value.is_array() { " (a list of operations is --type json)" } else { "" }
        )),
        "merge" => Ok(Body::Merge(value)),
        _ => Ok(Body::Strategic(value)),
    }
}

impl Verb for Patch {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        split_kind_names(&mut p)?;
        let Some(kind) = p.positional.first().cloned() else {
            return Err(p.usage(format!("write patch KIND NAME {EXAMPLE_MERGE} (or KIND/NAME)")));
        };
        let names = p.positional[1..].to_vec();
        if names.is_empty() {
            return Err(p.usage(format!("which {kind}? write patch {kind} NAME -p PATCH (or {kind}/NAME)")));
        }
        let Some(text) = p.text("--patch") else {
            return Err(p.usage(format!("-p PATCH is needed, e.g. {EXAMPLE_MERGE}")));
        };
        let patch_type = p.text("--type").unwrap_or_else(|| "strategic".to_string());
        let body = read_body(&patch_type, &text).map_err(|m| p.usage(m))?;
        plan(Options { kind, names, body, scope: p.scope() })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(cx.kind_then_names())
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let kind = conn.kind(&self.kind).await?;
        let api = api_for(&conn, &kind, Some(&ns));
        let ar = kind.api_resource();
        let params = patch_params();
        for name in &self.names {
            let before = to_value(conn.call(&format!("get {} {name}", kind.plural), api.get(name)).await?, &ar);
            let what = format!("patch {} {name}", kind.plural);
            let sent = match &self.body {
                Body::Strategic(v) => conn.call(&what, api.patch(name, &params, &KubePatch::Strategic(v))).await,
                Body::Merge(v) => conn.call(&what, api.patch(name, &params, &KubePatch::Merge(v))).await,
                Body::Json(p) => conn.call(&what, api.patch(name, &params, &KubePatch::Json::<()>(p.clone()))).await,
            };
            let after = match sent {
                Ok(o) => to_value(o, &ar),
                // Custom resources have no strategic merge: the server answers 415.
                Err(ClusterError::Api { code: Some(415), .. }) => {
                    return Err(MagicError::usage(format!(
                        "%k8s patch: {} takes no strategic merge patch (it is a custom resource); use --type merge",
                        kind.full_name()
                    )))
                }
                Err(e) => return Err(e.into()),
            };
            let done = if before == after { "patched (no change)" } else { "patched" };
            cx.sink.stream(StreamName::Stdout, &format!("{}/{name} {done}\n", kind_ref(&kind)));
        }
        Ok(MagicOutput::None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;
    use serde_json::json;

    #[test]
    fn patches_are_read_and_checked_before_anything_is_sent() {
        assert_eq!(read_body("strategic", r#"{"spec":{"replicas":2}}"#), Ok(Body::Strategic(json!({"spec": {"replicas": 2}}))));
        assert_eq!(read_body("merge", "spec:\n  replicas: 2\n"), Ok(Body::Merge(json!({"spec": {"replicas": 2}}))), "YAML too");
        let Ok(Body::Json(p)) = read_body("json", r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#) else { panic!() };
        assert_eq!(p.0.len(), 1);
        assert!(read_body("merge", r#"{"spec":"#).unwrap_err().starts_with("-p is not valid JSON: EOF while parsing"));
        assert!(read_body("json", r#"{"op":"replace"}"#).unwrap_err().starts_with("a json patch is a list of operations"));
        assert!(read_body("json", r#"[{"op":"frob","path":"/a"}]"#).unwrap_err().contains("unknown variant `frob`"));
        assert!(read_body("json", r#"[{"op":"replace","value":1}]"#).unwrap_err().contains("missing field `path`"));
        let e = read_body("strategic", r#"[{"op":"replace","path":"/a","value":1}]"#).unwrap_err();
        assert!(e.contains("is an object") && e.contains("--type json"), "{e}");
        assert!(read_body("merge", "just words").unwrap_err().contains("this is a string"));
    }

    #[test]
    fn options() {
        let p = r#"-p {"spec":{"replicas":2}}"#;
        assert_eq!(refused(&Patch, &format!("deploy web {p}"), false), "");
        assert_eq!(refused(&Patch, &format!("deploy/web {p} --type merge"), false), "");
        assert_eq!(refused(&Patch, &format!("deploy/web {p} --type=Merge"), false), "");
        assert!(refused(&Patch, "deploy/web", false).contains("-p PATCH is needed"));
        assert!(refused(&Patch, &format!("deploy {p}"), false).contains("which deploy?"));
        assert_eq!(
            refused(&Patch, &format!("deploy/web {p} --type apply"), false),
            "%k8s patch: --type 'apply': use strategic, merge or json"
        );
        assert!(refused(&Patch, "deploy/web --patch", false).contains("--patch needs a patch"));
    }
}
