//! `auth can-i VERB KIND[/NAME] | VERB /URL [-n NS | -A]` asks the API server whether the user
//! may do that (a SelfSubjectAccessReview) and prints `yes` or `no`, with the server's reason
//! when it gives one; `auth can-i --list` prints what the user may do in the namespace (a
//! SelfSubjectRulesReview), as kubectl's table of rules.

use super::flags::{Parsed, UsageError};
use super::{kinds, plan, result, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::Scope;
use crate::k8s::view::Table;
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec, SelfSubjectRulesReview,
    SelfSubjectRulesReviewSpec, SubjectRulesReviewStatus,
};
use kube::api::{Api, PostParams};
use output::{MimeBundle, StreamName};

pub struct Auth;

const ABOUT: About = About {
    name: "auth",
    flags: &["--namespace", "--all-namespaces", "--list", "--no-headers", "--context", "--kubeconfig"],
    help: "  %k8s auth can-i VERB KIND[/NAME] | VERB /URL [-n NS | -A]    yes or no: may you do that?
  %k8s auth can-i --list [-n NS]      what you may do in the namespace",
    body: None,
    takes_command: false,
};

/// The verbs kubectl knows for resources and for non-resource URLs (others get a warning).
const RESOURCE_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "use",
    "bind",
    "impersonate",
    "*",
    "approve",
    "sign",
    "escalate",
    "attest",
];
const URL_VERBS: &[&str] = &["get", "put", "post", "head", "options", "delete", "patch", "*"];

enum Ask {
    /// VERB on KIND[/NAME], or on a URL path.
    One {
        verb: String,
        what: String,
        all_namespaces: bool,
    },
    List {
        no_headers: bool,
    },
}

struct Options {
    ask: Ask,
    scope: Scope,
}

impl Verb for Auth {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        match p.positional.first().map(String::as_str) {
            Some("can-i") => {}
            Some(other) => {
                return Err(p.usage(format!("auth has can-i here ('{other}' is not in kubernel yet); write auth can-i VERB KIND")))
            }
            None => return Err(p.usage("write auth can-i VERB KIND (e.g. auth can-i create deployments), or auth can-i --list")),
        }
        let args = &p.positional[1..];
        if p.has("--list") {
            if let Some(extra) = args.first() {
                return Err(p.usage(format!("--list takes no VERB or KIND ('{extra}')")));
            }
            if p.has("--all-namespaces") {
                return Err(p.usage("--list lists one namespace; -n NS, not -A"));
            }
            return plan(Options { ask: Ask::List { no_headers: p.has("--no-headers") }, scope: p.scope() });
        }
        if p.has("--no-headers") {
            return Err(p.usage("--no-headers goes with --list"));
        }
        let [verb, what] = args else {
            return Err(p.usage("write auth can-i VERB KIND, VERB KIND/NAME or VERB /URL (e.g. auth can-i list pods)"));
        };
        if what.starts_with('/') && p.has("--all-namespaces") {
            return Err(p.usage(format!("{what} is a URL, in no namespace; leave out -A")));
        }
        plan(Options {
            ask: Ask::One { verb: verb.clone(), what: what.clone(), all_namespaces: p.has("--all-namespaces") },
            scope: p.scope(),
        })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            match cx.positional.len() {
                0 => vec!["can-i".to_string()],
                1 => RESOURCE_VERBS.iter().filter(|v| **v != "*").map(|v| v.to_string()).collect(),
                2 => kinds(cx.session).await,
                _ => Vec::new(),
            }
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let warn = |m: String| cx.sink.stream(StreamName::Stderr, &format!("Warning: {m}\n"));
        match &self.ask {
            Ask::List { no_headers } => {
                let review =
                    SelfSubjectRulesReview { spec: SelfSubjectRulesReviewSpec { namespace: Some(ns.clone()) }, ..Default::default() };
                let api: Api<SelfSubjectRulesReview> = Api::all(conn.client.clone());
                let answer = conn.call("create selfsubjectrulesreviews", api.create(&PostParams::default(), &review)).await?;
                let status = answer.status.unwrap_or_default();
                if status.incomplete {
                    warn(format!("the list may be incomplete: {}", status.evaluation_error.clone().unwrap_or_default()));
                }
                let mut t = rules_table(&status);
                t.no_headers = *no_headers;
                result(MimeBundle::plain(tab_text(&t)).with("text/html", t.to_html()))
            }
            Ask::One { verb, what, all_namespaces } => {
                let mut spec = SelfSubjectAccessReviewSpec::default();
                if what.starts_with('/') {
                    if !URL_VERBS.contains(&verb.as_str()) {
                        warn(format!("verb '{verb}' is not a known verb"));
                    }
                    spec.non_resource_attributes = Some(NonResourceAttributes { verb: Some(verb.clone()), path: Some(what.clone()) });
                } else {
                    let (typed, name) = match what.split_once('/') {
                        Some((k, n)) => (k, Some(n.to_string())),
                        None => (what.as_str(), None),
                    };
                    let namespace = if *all_namespaces { String::new() } else { ns.clone() };
                    let (group, resource) = if typed == "*" {
                        (String::new(), "*".to_string())
                    } else {
                        match conn.kind(typed).await {
                            Ok(k) => {
                                if !k.namespaced && !all_namespaces {
                                    warn(if k.group.is_empty() {
                                        format!("resource '{}' is not namespace scoped", k.plural)
                                    } else {
                                        format!("resource '{}' is not namespace scoped in group '{}'", k.plural, k.group)
                                    });
                                }
                                (k.group, k.plural)
                            }
                            Err(e) if matches!(e, crate::k8s::cluster::ClusterError::UnknownKind(_)) => {
                                // Asked as typed, as kubectl does (RBAC may name what discovery does not).
                                let lower = typed.to_ascii_lowercase();
                                let (resource, group) = lower
                                    .split_once('.')
                                    .map(|(r, g)| (r.to_string(), g.to_string()))
                                    .unwrap_or((lower.clone(), String::new()));
                                if !matches!(resource.as_str(), "users" | "groups") || !group.is_empty() {
                                    warn(if group.is_empty() {
                                        format!("the server doesn't have a resource type '{resource}'")
                                    } else {
                                        format!("the server doesn't have a resource type '{resource}' in group '{group}'")
                                    });
                                }
                                (group, resource)
                            }
                            Err(e) => return Err(e.into()),
                        }
                    };
                    // kubectl checks the verb only within a namespace, after the scope.
                    if !all_namespaces && !RESOURCE_VERBS.contains(&verb.as_str()) {
                        warn(format!("verb '{verb}' is not a known verb"));
                    }
                    spec.resource_attributes = Some(ResourceAttributes {
                        namespace: Some(namespace),
                        verb: Some(verb.clone()),
                        group: Some(group),
                        resource: Some(resource),
                        name,
                        ..Default::default()
                    });
                }
                let review = SelfSubjectAccessReview { spec, ..Default::default() };
                let api: Api<SelfSubjectAccessReview> = Api::all(conn.client.clone());
                let answer = conn.call("create selfsubjectaccessreviews", api.create(&PostParams::default(), &review)).await?;
                let status = answer.status.unwrap_or_default();
                let mut line = if status.allowed { "yes".to_string() } else { "no".to_string() };
                if !status.allowed {
                    for extra in [status.reason, status.evaluation_error].into_iter().flatten().filter(|s| !s.is_empty()) {
                        line.push_str(&format!(" - {extra}"));
                    }
                }
                cx.sink.stream(StreamName::Stdout, &format!("{line}\n"));
                Ok(MagicOutput::None)
            }
        }
    }
}

/// The table as kubectl's tabwriter aligns it: each column as wide as its widest cell plus 3,
/// and at least 6; the last column as it is.
fn tab_text(t: &Table) -> String {
    let mut lines: Vec<&Vec<String>> = Vec::new();
    if !t.no_headers {
        lines.push(&t.headers);
    }
    lines.extend(t.rows.iter());
    let columns = t.headers.len();
    let widths: Vec<usize> =
        (0..columns).map(|i| lines.iter().filter_map(|l| l.get(i)).map(|c| c.chars().count() + 3).max().unwrap_or(0).max(6)).collect();
    let mut out = String::new();
    for line in lines {
        for (i, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < line.len() {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// One RBAC rule as kubectl handles them in `can-i --list`.
#[derive(Debug, Clone, PartialEq, Default)]
struct Rule {
    verbs: Vec<String>,
    groups: Vec<String>,
    resources: Vec<String>,
    names: Vec<String>,
    urls: Vec<String>,
}

/// Go's `%v` of a string slice: `[a b]`.
fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

impl Rule {
    /// rbacv1.PolicyRule's String(), by which kubectl sorts the rules.
    fn go_string(&self) -> String {
        format!(
            "&PolicyRule{{Verbs:{},APIGroups:{},Resources:{},ResourceNames:{},NonResourceURLs:{},}}",
            go_list(&self.verbs),
            go_list(&self.groups),
            go_list(&self.resources),
            go_list(&self.names),
            go_list(&self.urls)
        )
    }

    /// kubectl's BreakdownRule: one rule per group, resource, verb (and name); per URL and verb.
    fn breakdown(&self) -> Vec<Rule> {
        let mut out = Vec::new();
        let one = |s: &String| vec![s.clone()];
        for g in &self.groups {
            for r in &self.resources {
                for v in &self.verbs {
                    if self.names.is_empty() {
                        out.push(Rule { verbs: one(v), groups: one(g), resources: one(r), ..Default::default() });
                    } else {
                        for n in &self.names {
                            out.push(Rule { verbs: one(v), groups: one(g), resources: one(r), names: one(n), ..Default::default() });
                        }
                    }
                }
            }
        }
        for u in &self.urls {
            for v in &self.verbs {
                out.push(Rule { verbs: one(v), urls: one(u), ..Default::default() });
            }
        }
        out
    }
}

/// `can-i --list`'s table: the review's rules broken down, the verbs of one resource (and
/// name) gathered (kubectl's CompactRules), sorted as kubectl sorts them.
fn rules_table(status: &SubjectRulesReviewStatus) -> Table {
    let mut rules: Vec<Rule> = Vec::new();
    for r in &status.resource_rules {
        rules.push(Rule {
            verbs: r.verbs.clone(),
            groups: r.api_groups.clone().unwrap_or_default(),
            resources: r.resources.clone().unwrap_or_default(),
            names: r.resource_names.clone().unwrap_or_default(),
            urls: Vec::new(),
        });
    }
    for r in &status.non_resource_rules {
        rules.push(Rule { verbs: r.verbs.clone(), urls: r.non_resource_urls.clone().unwrap_or_default(), ..Default::default() });
    }
    let broken: Vec<Rule> = rules.iter().flat_map(Rule::breakdown).collect();
    let mut compact: Vec<Rule> = Vec::new();
    let mut simple: Vec<Rule> = Vec::new();
    for rule in broken {
        if !rule.urls.is_empty() {
            compact.push(rule);
            continue;
        }
        match simple.iter_mut().find(|s| s.groups == rule.groups && s.resources == rule.resources && s.names == rule.names) {
            Some(s) => {
                for v in rule.verbs {
                    if !s.verbs.contains(&v) {
                        s.verbs.push(v);
                    }
                }
            }
            None => simple.push(rule),
        }
    }
    compact.extend(simple);
    compact.sort_by_cached_key(Rule::go_string);
    let mut t = Table::new(&["Resources", "Non-Resource URLs", "Resource Names", "Verbs"]);
    for r in &compact {
        // kubectl's CombineResourceGroup: `deployments.apps`, and a subresource after the group.
        let resource = match r.resources.first() {
            None => String::new(),
            Some(res) => {
                let (base, sub) = match res.split_once('/') {
                    Some((b, s)) => (b, Some(s)),
                    None => (res.as_str(), None),
                };
                let mut s = base.to_string();
                if let Some(g) = r.groups.first().filter(|g| !g.is_empty()) {
                    s.push('.');
                    s.push_str(g);
                }
                if let Some(sub) = sub {
                    s.push('/');
                    s.push_str(sub);
                }
                s
            }
        };
        t.rows.push(vec![resource, go_list(&r.urls), go_list(&r.names), go_list(&r.verbs)]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;
    use k8s_openapi::api::authorization::v1::{NonResourceRule, ResourceRule};

    #[test]
    fn questions() {
        assert_eq!(refused(&Auth, "can-i get pods", false), "");
        assert_eq!(refused(&Auth, "can-i create deployments.apps -n demo", false), "");
        assert_eq!(refused(&Auth, "can-i get pods/web -A", false), "");
        assert_eq!(refused(&Auth, "can-i get /healthz", false), "");
        assert_eq!(refused(&Auth, "can-i --list -n demo --no-headers", false), "");
        assert!(refused(&Auth, "can-i get", false).contains("write auth can-i VERB KIND"));
        assert!(refused(&Auth, "can-i get pods web", false).contains("write auth can-i VERB KIND"));
        assert!(refused(&Auth, "whoami", false).contains("'whoami' is not in kubernel yet"));
        assert!(refused(&Auth, "can-i --list get pods", false).contains("--list takes no VERB"));
        assert!(refused(&Auth, "can-i --list -A", false).contains("not -A"));
        assert!(refused(&Auth, "can-i get pods --no-headers", false).contains("goes with --list"));
        assert_eq!(refused(&Auth, "can-i get pods --frob", false), "%k8s auth: unknown flag --frob");
    }

    #[test]
    fn the_list_is_kubectls_table() {
        let s = |v: &[&str]| Some(v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        let status = SubjectRulesReviewStatus {
            resource_rules: vec![
                ResourceRule {
                    verbs: vec!["get".into(), "list".into()],
                    api_groups: s(&[""]),
                    resources: s(&["pods", "pods/log"]),
                    resource_names: None,
                },
                ResourceRule {
                    verbs: vec!["watch".into(), "get".into()],
                    api_groups: s(&[""]),
                    resources: s(&["pods"]),
                    resource_names: None,
                },
                ResourceRule {
                    verbs: vec!["create".into()],
                    api_groups: s(&["authorization.k8s.io"]),
                    resources: s(&["selfsubjectaccessreviews"]),
                    resource_names: None,
                },
                ResourceRule {
                    verbs: vec!["get".into()],
                    api_groups: s(&["apps"]),
                    resources: s(&["deployments"]),
                    resource_names: s(&["web"]),
                },
            ],
            non_resource_rules: vec![
                NonResourceRule { verbs: vec!["get".into()], non_resource_urls: s(&["/healthz", "/api"]) },
                NonResourceRule { verbs: vec!["get".into()], non_resource_urls: s(&["/healthz"]) },
            ],
            ..Default::default()
        };
        let text = tab_text(&rules_table(&status));
        let expected = "\
Resources                                       Non-Resource URLs   Resource Names   Verbs
selfsubjectaccessreviews.authorization.k8s.io   []                  []               [create]
pods                                            []                  []               [get list watch]
pods/log                                        []                  []               [get list]
                                                [/api]              []               [get]
                                                [/healthz]          []               [get]
                                                [/healthz]          []               [get]
deployments.apps                                []                  [web]            [get]
";
        assert_eq!(text, expected);
        let one = SubjectRulesReviewStatus {
            resource_rules: vec![ResourceRule {
                verbs: vec!["get".into()],
                api_groups: s(&[""]),
                resources: s(&["pods"]),
                resource_names: None,
            }],
            ..Default::default()
        };
        let mut table = rules_table(&one);
        table.no_headers = true;
        assert_eq!(tab_text(&table), "pods   []    []    [get]\n", "a column is 6 wide at least");
    }
}
