//! `set image deploy/NAME CONTAINER=IMAGE ...` (`*=IMAGE`: every container), which starts a
//! rolling update and records its change-cause.

use super::flags::{split_first_kind_name, Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use super::rollout::deployment;
use crate::k8s::cluster::objects::{api_for, patch_params, CHANGE_CAUSE};
use crate::k8s::cluster::Scope;
use kube::api::Patch;
use output::StreamName;
use serde_json::json;

pub struct Set;

const ABOUT: About = About {
    name: "set",
    flags: &["--namespace", "--context", "--kubeconfig"],
    help: "  %k8s set image deploy/NAME CONTAINER=IMAGE [...]   (*=IMAGE: every container)",
    body: None,
    takes_command: false,
};

struct Options {
    positional: Vec<String>,
    scope: Scope,
}

impl Verb for Set {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let sub = (!p.positional.is_empty()).then(|| p.positional.remove(0));
        split_first_kind_name(&mut p)?;
        if sub.as_deref() != Some("image") {
            return Err(p.usage("only `set image deploy/NAME CONTAINER=IMAGE` is known"));
        }
        if p.positional.len() < 3 {
            return Err(p.usage("write set image deploy/NAME CONTAINER=IMAGE (or *=IMAGE for every container)"));
        }
        for pair in &p.positional[2..] {
            if !pair.split_once('=').is_some_and(|(c, i)| !c.is_empty() && !i.is_empty()) {
                return Err(p.usage(format!("'{pair}' is not CONTAINER=IMAGE")));
            }
        }
        plan(Options { positional: p.positional.clone(), scope: p.scope() })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            match cx.positional.as_slice() {
                [] => vec!["image".into()],
                ["image"] => cx.workload_names(&["deploy/"]).await,
                _ => Vec::new(),
            }
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let (kind, deploy) = deployment(&conn, &ns, &self.positional, "set image").await?;
        let name = &self.positional[1];
        let containers: Vec<String> = deploy["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect();
        let mut changes = Vec::new();
        for pair in &self.positional[2..] {
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
        let cause = format!("set image {}", self.positional[2..].join(" "));
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
            cx.sink.stream(StreamName::Stdout, &format!("deployment.apps/{name} container {c} image updated to {i}\n"));
        }
        Ok(MagicOutput::None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn pairs() {
        assert_eq!(refused(&Set, "image deploy/web web=nginx:1.27 side=busybox", false), "");
        assert!(refused(&Set, "image deploy/web nginx", false).contains("'nginx' is not CONTAINER=IMAGE"));
        assert!(refused(&Set, "env deploy/web A=1", false).contains("only `set image"));
    }
}
