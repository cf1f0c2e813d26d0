//! `label KIND NAME... KEY=VALUE... KEY-...`: sets and removes labels, as kubectl does (changing
//! a label that has a value needs `--overwrite`). `annotate` is the same for annotations.

use super::flags::{Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::{api_for, kind_ref, patch_params, to_value};
use crate::k8s::cluster::Scope;
use kube::api::{ListParams, Patch};
use output::StreamName;
use serde_json::{json, Map, Value};

pub struct Label;

const ABOUT: About = About {
    name: "label",
    flags: &["--namespace", "--selector", "--all", "--overwrite", "--context", "--kubeconfig"],
    help: "  %k8s label KIND NAME... | KIND -l SELECTOR | KIND --all  KEY=VALUE... KEY-... [--overwrite]
        sets (KEY=VALUE) and removes (KEY-) labels; an existing label changes only with --overwrite",
    body: None,
    takes_command: false,
};

/// Which field of metadata a `label` or `annotate` changes, and how its messages say it.
#[derive(Clone, Copy)]
pub(super) struct Field {
    pub verb: &'static str,
    /// `labels` or `annotations`
    pub key: &'static str,
    /// `labeled` or `annotated`
    pub done: &'static str,
}

const LABELS: Field = Field { verb: "label", key: "labels", done: "labeled" };

pub(super) struct Options {
    field: Field,
    kind: String,
    names: Vec<String>,
    selector: Option<String>,
    /// KEY and its new value, or None to remove it.
    changes: Vec<(String, Option<String>)>,
    overwrite: bool,
    scope: Scope,
}

impl Options {
    pub(super) fn read(field: Field, mut p: Parsed) -> Result<Options, UsageError> {
        // Only the first word may be KIND/NAME: keys have slashes of their own (app.kubernetes.io/name).
        if let Some((kind, name)) = p.positional.first().and_then(|f| f.split_once('/')).map(|(k, n)| (k.to_string(), n.to_string())) {
            if kind.is_empty() || name.is_empty() || name.contains('=') {
                return Err(p.usage(format!("'{}' is not KIND/NAME", p.positional[0])));
            }
            p.positional.splice(0..1, [kind, name]);
        }
        let Some(kind) = p.positional.first().cloned() else {
            return Err(p.usage(format!("write {} KIND NAME KEY=VALUE (or KEY- to remove it)", field.verb)));
        };
        let mut names = Vec::new();
        let mut changes = Vec::new();
        for arg in &p.positional[1..] {
            if let Some((k, v)) = arg.split_once('=') {
                if k.is_empty() {
                    return Err(p.usage(format!("'{arg}' has no key")));
                }
                changes.push((k.to_string(), Some(v.to_string())));
            } else if let Some(k) = arg.strip_suffix('-') {
                changes.push((k.to_string(), None));
            } else if changes.is_empty() {
                names.push(arg.clone());
            } else {
                return Err(p.usage(format!("'{arg}' is neither KEY=VALUE nor KEY-; names go before the changes")));
            }
        }
        if changes.is_empty() {
            return Err(p.usage(format!("which {}? give KEY=VALUE to set one, KEY- to remove one", field.key)));
        }
        let selector = p.text("--selector");
        if names.is_empty() && selector.is_none() && !p.has("--all") {
            return Err(p.usage(format!("which {kind}? give a name, -l SELECTOR or --all")));
        }
        Ok(Options { field, kind, names, selector, changes, overwrite: p.has("--overwrite"), scope: p.scope() })
    }
}

impl Verb for Label {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        plan(Options::read(LABELS, p)?)
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
        let mut targets: Vec<Value> = Vec::new();
        if self.names.is_empty() {
            let mut lp = ListParams::default();
            if let Some(sel) = &self.selector {
                lp = lp.labels(sel);
            }
            let list = conn.call(&format!("list {}", kind.plural), api.list(&lp)).await?;
            targets.extend(list.items.into_iter().map(|o| to_value(o, &kind.api_resource())));
        } else {
            for name in &self.names {
                let o = conn.call(&format!("get {} {name}", kind.plural), api.get(name)).await?;
                targets.push(to_value(o, &kind.api_resource()));
            }
        }
        let field = self.field;
        for o in &targets {
            let name = o["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let now = &o["metadata"][field.key];
            let mut patch = Map::new();
            for (key, value) in &self.changes {
                if let (Some(old), Some(new)) = (now[key.as_str()].as_str(), value) {
                    if old != new && !self.overwrite {
                        return Err(MagicError::new(
                            "AlreadySet",
                            format!("{}/{name}: '{key}' already has a value ({old}); add --overwrite to change it", kind_ref(&kind)),
                        ));
                    }
                }
                patch.insert(key.clone(), value.clone().map(Value::String).unwrap_or(Value::Null));
            }
            let body = json!({ "metadata": { field.key: patch } });
            conn.call(&format!("patch {} {name}", kind.plural), api.patch(&name, &patch_params(), &Patch::Merge(&body))).await?;
            cx.sink.stream(StreamName::Stdout, &format!("{}/{name} {}\n", kind_ref(&kind), field.done));
        }
        if targets.is_empty() {
            cx.sink.stream(StreamName::Stdout, "No resources found\n");
        }
        Ok(MagicOutput::None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn names_then_changes() {
        assert_eq!(refused(&Label, "pods web tier=front app-", false), "");
        assert_eq!(refused(&Label, "pod/web tier=front", false), "");
        assert_eq!(refused(&Label, "pods -l app=web tier=front", false), "");
        assert!(refused(&Label, "pods web", false).contains("give KEY=VALUE"));
        assert!(refused(&Label, "pods tier=front", false).contains("which pods?"));
        assert!(refused(&Label, "pods a tier=x b", false).contains("names go before the changes"));
        assert_eq!(refused(&Label, "pods web app.kubernetes.io/name=web", false), "");
        assert_eq!(refused(&Label, "pod/web app.kubernetes.io/name-", false), "");
    }
}
