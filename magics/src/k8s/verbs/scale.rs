//! `scale`: sets the replicas of a Deployment, StatefulSet or ReplicaSet.

use super::flags::{split_kind_names, Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::{api_for, kind_ref, patch_params};
use crate::k8s::cluster::Scope;
use kube::api::Patch;
use output::StreamName;
use serde_json::json;

pub struct Scale;

const ABOUT: About = About {
    name: "scale",
    flags: &["--namespace", "--replicas", "--context", "--kubeconfig"],
    help: "  %k8s scale deploy/NAME --replicas N   (also sts/, rs/)",
    body: None,
    takes_command: false,
};

struct Options {
    positional: Vec<String>,
    replicas: i64,
    scope: Scope,
}

impl Verb for Scale {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        split_kind_names(&mut p)?;
        if p.positional.len() != 2 {
            return Err(p.usage("write scale deploy/NAME --replicas N (or sts/, rs/)"));
        }
        let Some(replicas) = p.number("--replicas") else { return Err(p.usage("--replicas N is needed")) };
        plan(Options { positional: p.positional.clone(), replicas, scope: p.scope() })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(cx.kind_then_names())
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let kind = conn.kind(&self.positional[0]).await?;
        if !matches!(kind.plural.as_str(), "deployments" | "statefulsets" | "replicasets" | "replicationcontrollers") {
            return Err(MagicError::usage(format!(
                "%k8s scale: {} cannot be scaled; deployments, statefulsets and replicasets can",
                kind.plural
            )));
        }
        let name = &self.positional[1];
        let replicas = self.replicas;
        let params = patch_params();
        let api = api_for(&conn, &kind, Some(&ns));
        conn.call(
            &format!("scale {} {name}", kind.plural),
            api.patch(name, &params, &Patch::Merge(json!({ "spec": { "replicas": replicas } }))),
        )
        .await?;
        cx.sink.stream(StreamName::Stdout, &format!("{}/{name} scaled to {replicas}\n", kind_ref(&kind)));
        Ok(MagicOutput::None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn replicas() {
        assert_eq!(refused(&Scale, "deploy/web --replicas 3", false), "");
        assert_eq!(refused(&Scale, "deploy/web", false), "%k8s scale: --replicas N is needed");
        assert_ne!(refused(&Scale, "deploy/web --replicas -1", false), "");
        assert_ne!(refused(&Scale, "web --replicas 2", false), "");
    }
}
