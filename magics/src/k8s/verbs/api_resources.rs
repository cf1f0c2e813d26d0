//! `api-resources`: the kinds the cluster serves, with their short names, API version, scope and
//! Kind, as kubectl lists them.

use super::flags::{scope_only, Parsed, UsageError};
use super::{plan, result, About, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::Scope;
use crate::k8s::view::Table;

pub struct ApiResources;

const ABOUT: About = About {
    name: "api-resources",
    flags: &["--context", "--kubeconfig"],
    help: "  %k8s api-resources           the kinds this cluster serves: NAME, SHORTNAMES, APIVERSION, NAMESPACED, KIND",
    body: None,
    takes_command: false,
};

struct Options(Scope);

impl Verb for ApiResources {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        plan(Options(scope_only(&p)?))
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, _) = cx.session.for_call(&self.0).await?;
        let catalog = conn.catalog().await?;
        let mut kinds: Vec<_> = catalog.kinds.iter().collect();
        // The core group first, then by group and name, as kubectl sorts them.
        kinds.sort_by(|a, b| (!a.group.is_empty(), &a.group, &a.plural).cmp(&(!b.group.is_empty(), &b.group, &b.plural)));
        let mut t = Table::new(&["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]);
        for k in kinds {
            t.rows.push(vec![
                k.plural.clone(),
                k.short_names.join(","),
                k.api_resource().api_version,
                k.namespaced.to_string(),
                k.kind.clone(),
            ]);
        }
        result(t.bundle())
    }
}
