//! `diff`: what `apply` of the same YAML would change, as kubectl diff shows it: for each document
//! the server's dry run of the apply (field manager `kubernel`, with the labels apply puts on),
//! and a unified diff (`diff -u -N`) of the live object against it, as YAML, with the fields
//! that change on every write (managedFields, resourceVersion, generation ...) left out and a
//! Secret's values masked. A new object is diffed against nothing.

use super::apply::{manifests, resolve};
use super::flags::{Parsed, UsageError};
use super::{plan, result, About, Body, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::objects::{api_for, mark_ours, to_value, without_noise, FIELD_MANAGER};
use crate::k8s::cluster::{Kind, Scope};
use kube::api::{Patch, PatchParams};
use output::{escape_html, MimeBundle};
use serde_json::{json, Value};

pub struct Diff;

const ABOUT: About = About {
    name: "diff",
    flags: &["--namespace", "--filename", "--context", "--kubeconfig"],
    help: "  %%k8s diff [-n NS]            what %%k8s apply of the cell's YAML would change: a unified diff
        of each live object against the server's dry run of the apply (new objects against
        nothing), without managedFields, resourceVersion and generation; Secret values masked
  %k8s diff -f PATH             ... of a file or of the YAML files of a directory",
    body: Some(Body::Manifests),
    takes_command: false,
};

struct Options {
    files: Vec<String>,
    scope: Scope,
}

impl Verb for Diff {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        if let Some(extra) = p.positional.first() {
            return Err(p.usage(format!(
                "unexpected argument '{extra}'; the YAML goes in the cell (%%k8s diff) or in -f PATH"
            )));
        }
        plan(Options { files: p.texts("--filename"), scope: p.scope() })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let docs = manifests("diff", &self.files, cx.body, cx.body_line)?;
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let planned = resolve(&conn, &docs, self.scope.namespace.as_deref(), &ns).await?;
        let dry = PatchParams::apply(FIELD_MANAGER).force().dry_run();
        let mut text = String::new();
        for (doc, (kind, ns)) in docs.iter().zip(planned) {
            let mut value = doc.value.clone();
            let name = value["metadata"]["name"].as_str().unwrap_or_default().to_string();
            // What `apply` sends, our labels included, so the diff is what apply would change.
            mark_ours(&mut value, ns.as_deref());
            let api = api_for(&conn, &kind, ns.as_deref());
            let at = |e: crate::k8s::cluster::ClusterError| {
                let e = MagicError::from(e);
                MagicError::new(&e.ename, format!("{}: {}", doc.place(), e.message))
            };
            let live = conn.call(&format!("get {} {name}", kind.plural), api.get_opt(&name)).await.map_err(at)?;
            let merged =
                conn.call(&format!("apply {} {name}", kind.plural), api.patch(&name, &dry, &Patch::Apply(&value))).await.map_err(at)?;
            let ar = kind.api_resource();
            let version = doc.value["apiVersion"].as_str().and_then(|v| v.rsplit('/').next()).unwrap_or(&kind.version).to_string();
            let file = file_name(&kind, &version, ns.as_deref(), &name);
            text.push_str(&object_diff(&file, live.map(|o| to_value(o, &ar)), to_value(merged, &ar)));
        }
        if text.is_empty() {
            // As kubectl diff: no differences, no output.
            return Ok(MagicOutput::None);
        }
        result(diff_bundle(&text))
    }
}

/// kubectl diff's file name for an object: `apps.v1.Deployment.NS.NAME`, `v1.Namespace..NAME`.
fn file_name(kind: &Kind, version: &str, ns: Option<&str>, name: &str) -> String {
    let group = if kind.group.is_empty() { String::new() } else { format!("{}.", kind.group) };
    format!("{group}{version}.{}.{}.{name}", kind.kind, ns.unwrap_or_default())
}

/// A Secret's values as kubectl diff shows them: `***` where they are the same, `*** (before)`
/// and `*** (after)` where they differ, so a diff says that a value changed but not what it is.
fn mask_secret(from: Option<&mut Value>, to: &mut Value) {
    let is_secret = |v: &Value| v["kind"] == "Secret" && v["apiVersion"] == "v1";
    if !is_secret(to) {
        return;
    }
    let before = from.as_ref().and_then(|f| f["data"].as_object()).cloned().unwrap_or_default();
    let after = to["data"].as_object().cloned().unwrap_or_default();
    let mask = |old: Option<&Value>, new: Option<&Value>| match (old, new) {
        (Some(a), Some(b)) if a != b => ("*** (before)", "*** (after)"),
        _ => ("***", "***"),
    };
    if let Some(from) = from {
        if let Some(data) = from["data"].as_object_mut() {
            for (k, v) in data.iter_mut() {
                *v = json!(mask(Some(v), after.get(k)).0);
            }
        }
    }
    if let Some(data) = to["data"].as_object_mut() {
        for (k, v) in data.iter_mut() {
            *v = json!(mask(before.get(k), Some(v)).1);
        }
    }
}

fn yaml(v: &Value) -> String {
    serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# could not write YAML: {e}\n"))
}

/// The unified diff of one object, live against what it would be (`diff -u -N`), or "" if the
/// two are the same.
pub fn object_diff(file: &str, live: Option<Value>, merged: Value) -> String {
    let mut live = live.map(without_noise);
    let mut merged = without_noise(merged);
    mask_secret(live.as_mut(), &mut merged);
    let before = live.as_ref().map(yaml).unwrap_or_default();
    let after = yaml(&merged);
    if before == after {
        return String::new();
    }
    let (old, new) = (format!("LIVE/{file}"), format!("MERGED/{file}"));
    let diff = similar::TextDiff::from_lines(&before, &after);
    format!("diff -u -N {old} {new}\n{}", diff.unified_diff().context_radius(3).header(&old, &new))
}

/// The diff as text, and as HTML with added lines green, removed ones red, hunk heads blue.
pub fn diff_bundle(text: &str) -> MimeBundle {
    let mut html = String::from("<pre class=\"kubernel-diff\">");
    for line in text.lines() {
        let style = if line.starts_with("diff ") || line.starts_with("--- ") || line.starts_with("+++ ") {
            "font-weight:bold"
        } else if line.starts_with('+') {
            "color:#1a7f37"
        } else if line.starts_with('-') {
            "color:#cf222e"
        } else if line.starts_with("@@") {
            "color:#0969da"
        } else {
            ""
        };
        if style.is_empty() {
            html.push_str(&escape_html(line));
        } else {
            html.push_str(&format!("<span style=\"{style}\">{}</span>", escape_html(line)));
        }
        html.push('\n');
    }
    html.push_str("</pre>");
    MimeBundle::plain(text.to_string()).with("text/html", html)
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "demo", "resourceVersion": "41", "uid": "u-1",
                "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{"manager": "kubectl"}]},
            "data": data})
    }

    #[test]
    fn the_yaml_goes_in_the_cell_or_files() {
        assert_eq!(refused(&Diff, "-f a.yaml", false), "");
        assert_eq!(refused(&Diff, "-n demo", true), "");
        assert!(refused(&Diff, "deploy/web", false).contains("the YAML goes in the cell"));
    }

    #[test]
    fn noise_is_left_out() {
        let mut merged = cm(json!({"a": "1"}));
        merged["metadata"]["resourceVersion"] = json!("42");
        merged["metadata"]["managedFields"] = json!([{"manager": "kubernel"}]);
        merged["metadata"]["generation"] = json!(3);
        assert_eq!(object_diff("v1.ConfigMap.demo.cfg", Some(cm(json!({"a": "1"}))), merged), "", "only noise changed");
        let clean = without_noise(cm(json!({})));
        for key in ["managedFields", "resourceVersion", "uid", "creationTimestamp"] {
            assert!(clean["metadata"].get(key).is_none(), "{key}");
        }
        assert_eq!(clean["metadata"]["name"], "cfg");
    }

    #[test]
    fn a_change_is_a_unified_diff() {
        let text = object_diff("v1.ConfigMap.demo.cfg", Some(cm(json!({"a": "x", "b": "one"}))), cm(json!({"a": "x", "b": "two"})));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "diff -u -N LIVE/v1.ConfigMap.demo.cfg MERGED/v1.ConfigMap.demo.cfg");
        assert_eq!(lines[1], "--- LIVE/v1.ConfigMap.demo.cfg");
        assert_eq!(lines[2], "+++ MERGED/v1.ConfigMap.demo.cfg");
        assert!(lines[3].starts_with("@@ -"), "{text}");
        let changed: Vec<&str> = lines[3..].iter().copied().filter(|l| l.starts_with(['+', '-'])).collect();
        assert_eq!(changed, ["-  b: one", "+  b: two"], "{text}");
    }

    #[test]
    fn a_new_object_is_diffed_against_nothing() {
        let text = object_diff("v1.ConfigMap.demo.cfg", None, cm(json!({"a": "1"})));
        assert!(text.contains("\n@@ -0,0 +1,"), "{text}");
        let body: Vec<&str> = text.lines().skip(4).collect();
        assert!(!body.is_empty() && body.iter().all(|l| l.starts_with('+')), "{text}");
        assert!(text.contains("+  name: cfg"), "{text}");
    }

    #[test]
    fn secret_values_are_masked() {
        let secret = |data: Value| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pw"}, "data": data});
        let text = object_diff(
            "v1.Secret.demo.pw",
            Some(secret(json!({"same": "c2FtZQ==", "pw": "b2xk"}))),
            secret(json!({"same": "c2FtZQ==", "pw": "bmV3", "added": "YQ=="})),
        );
        assert!(!text.contains("b2xk") && !text.contains("bmV3") && !text.contains("YQ=="), "{text}");
        assert!(text.contains("-  pw: '*** (before)'") || text.contains("-  pw: \"*** (before)\""), "{text}");
        assert!(text.contains("+  pw: '*** (after)'") || text.contains("+  pw: \"*** (after)\""), "{text}");
        assert!(text.contains("+  added:"), "{text}");
        assert!(!text.contains("-  same") && !text.contains("+  same"), "an unchanged value is no change: {text}");
    }

    #[test]
    fn html_colours_added_and_removed_lines() {
        let b = diff_bundle("diff -u -N LIVE/x MERGED/x\n--- LIVE/x\n+++ MERGED/x\n@@ -1 +1 @@\n-a: <1>\n+a: 2\n");
        let html = b.data["text/html"].as_str().unwrap();
        assert!(html.contains("<span style=\"color:#cf222e\">-a: &lt;1&gt;</span>"), "{html}");
        assert!(html.contains("<span style=\"color:#1a7f37\">+a: 2</span>"), "{html}");
        assert!(html.contains("<span style=\"font-weight:bold\">+++ MERGED/x</span>"), "{html}");
        assert_eq!(b.text().unwrap().lines().count(), 6);
    }

    #[test]
    fn file_names_as_kubectl_diff_names_them() {
        let kind = |group: &str, k: &str| Kind {
            group: group.into(),
            version: "v1".into(),
            kind: k.into(),
            plural: String::new(),
            singular: String::new(),
            short_names: vec![],
            categories: vec![],
            namespaced: true,
            verbs: vec![],
        };
        assert_eq!(file_name(&kind("apps", "Deployment"), "v1", Some("demo"), "web"), "apps.v1.Deployment.demo.web");
        assert_eq!(file_name(&kind("", "Namespace"), "v1", None, "demo"), "v1.Namespace..demo");
    }
}
