//! The kinds a cluster serves, as data: the catalogue (group, version, names, scope, verbs),
//! kubectl's short names, and how a kind typed by a person (plural, singular, Kind, short name,
//! `plural.group`) is found in it. Pure: tested without a cluster.

use super::error::ClusterError;
use crate::framework::spelling::closest;
use kube::api::ApiResource;

/// One kind the server offers, at its preferred version.
#[derive(Debug, Clone, PartialEq)]
pub struct Kind {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    /// The groups of kinds it is in ("all" for `get all`).
    pub categories: Vec<String>,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

impl Kind {
    pub fn api_resource(&self) -> ApiResource {
        let api_version =
            if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) };
        ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            api_version,
            kind: self.kind.clone(),
            plural: self.plural.clone(),
        }
    }

    /// The k8s-openapi type of a built-in kind (`k8s_openapi::api::core::v1::Pod`), for
    /// notebooks that have that crate; custom resources have none.
    pub fn openapi_type(&self) -> Option<String> {
        let module = match self.group.as_str() {
            "" => "core",
            "apps" | "batch" | "autoscaling" | "policy" => self.group.as_str(),
            "apiextensions.k8s.io" => {
                return Some(format!("k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::{}::{}", self.version, self.kind))
            }
            // networking.k8s.io → networking, rbac.authorization.k8s.io → rbac
            group => match group.strip_suffix(".k8s.io") {
                Some(g) => g.split('.').next().unwrap_or(g),
                None => return None,
            },
        };
        let is_word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
        (is_word(module) && is_word(&self.version) && is_word(&self.kind))
            .then(|| format!("k8s_openapi::api::{module}::{}::{}", self.version, self.kind))
    }

    /// `deployments.apps`, or `pods` for the core group.
    pub fn full_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn answers_to(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        self.plural == lower
            || self.singular == lower
            || self.kind.to_ascii_lowercase() == lower
            || self.short_names.iter().any(|s| *s == lower)
            || self.full_name() == lower
            || (!self.group.is_empty() && format!("{}.{}", self.singular, self.group) == lower)
    }
}

/// API groups and their versions, the preferred one first.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub kinds: Vec<Kind>,
    pub groups: Vec<(String, Vec<String>)>,
}

/// Groups whose kinds win when several groups offer the same name (as kubectl's priority does).
fn group_rank(group: &str) -> usize {
    match group {
        "" => 0,
        "apps" => 1,
        "batch" => 2,
        "autoscaling" => 3,
        "networking.k8s.io" => 4,
        _ if group.ends_with(".k8s.io") => 6,
        _ => 5,
    }
}

impl Catalog {
    /// Resolves a kind as a person types it: plural, singular, Kind, short name, `plural.group`.
    pub fn resolve(&self, typed: &str) -> Result<&Kind, ClusterError> {
        let canon = canonical_kind(typed);
        let mut found: Vec<&Kind> =
            self.kinds.iter().filter(|k| k.answers_to(typed) || k.answers_to(&canon)).collect();
        found.sort_by_key(|k| group_rank(&k.group));
        if let Some(k) = found.first() {
            return Ok(k);
        }
        let names: Vec<&str> = self
            .kinds
            .iter()
            .flat_map(|k| std::iter::once(k.plural.as_str()).chain(k.short_names.iter().map(String::as_str)))
            .collect();
        let hint = closest(&typed.to_ascii_lowercase(), names.iter().copied())
            .map(|n| {
                // Suggest the plural, which reads best.
                let plural = self.kinds.iter().find(|k| k.answers_to(n)).map(|k| k.plural.as_str()).unwrap_or(n);
                format!("; did you mean {plural}?")
            })
            .unwrap_or_else(|| "; `%k8s connect` lists the API groups".to_string());
        Err(ClusterError::UnknownKind(format!("no kind '{typed}' on this cluster{hint}")))
    }

    /// The kinds of a category (`all`), as kubectl expands `get all`.
    pub fn category(&self, name: &str) -> Vec<&Kind> {
        self.kinds.iter().filter(|k| k.categories.iter().any(|c| c == name)).collect()
    }

    /// The kind of an object in a manifest: apiVersion + kind.
    pub fn by_gvk(&self, api_version: &str, kind: &str) -> Option<Kind> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        if let Some(k) = self.kinds.iter().find(|k| k.group == group && k.version == version && k.kind == kind) {
            return Some(k.clone());
        }
        // Served, but not at the preferred version: same names, the version asked for.
        self.kinds
            .iter()
            .find(|k| k.group == group && k.kind == kind)
            .filter(|_| self.groups.iter().any(|(g, vs)| g == group && vs.iter().any(|v| v == version)))
            .map(|k| Kind { version: version.to_string(), ..k.clone() })
    }
}

/// kubectl's short names and singulars of the built-in kinds, mapped to the plural resource name.
pub const SHORT_NAMES: &[(&str, &str)] = &[
    ("po", "pods"),
    ("pod", "pods"),
    ("deploy", "deployments"),
    ("deployment", "deployments"),
    ("svc", "services"),
    ("service", "services"),
    ("rs", "replicasets"),
    ("replicaset", "replicasets"),
    ("ns", "namespaces"),
    ("namespace", "namespaces"),
    ("no", "nodes"),
    ("node", "nodes"),
    ("cm", "configmaps"),
    ("configmap", "configmaps"),
    ("secret", "secrets"),
    ("sa", "serviceaccounts"),
    ("serviceaccount", "serviceaccounts"),
    ("ing", "ingresses"),
    ("ingress", "ingresses"),
    ("job", "jobs"),
    ("cj", "cronjobs"),
    ("cronjob", "cronjobs"),
    ("ds", "daemonsets"),
    ("daemonset", "daemonsets"),
    ("sts", "statefulsets"),
    ("statefulset", "statefulsets"),
    ("ep", "endpoints"),
    ("ev", "events"),
    ("event", "events"),
    ("pv", "persistentvolumes"),
    ("pvc", "persistentvolumeclaims"),
    ("hpa", "horizontalpodautoscalers"),
    ("crd", "customresourcedefinitions"),
    ("crds", "customresourcedefinitions"),
    ("netpol", "networkpolicies"),
    ("pdb", "poddisruptionbudgets"),
    ("sc", "storageclasses"),
    ("rc", "replicationcontrollers"),
    ("quota", "resourcequotas"),
    ("limits", "limitranges"),
];

/// The kinds offered first by completion.
pub const COMMON_KINDS: &[&str] = &[
    "pods",
    "deployments",
    "services",
    "replicasets",
    "namespaces",
    "nodes",
    "configmaps",
    "secrets",
    "serviceaccounts",
    "ingresses",
    "jobs",
    "cronjobs",
    "daemonsets",
    "statefulsets",
    "endpoints",
    "events",
    "persistentvolumes",
    "persistentvolumeclaims",
];

/// A kind as typed, lower-cased, with kubectl's short names expanded (`po` → `pods`); names it
/// does not know (custom resources) come back lower-cased for discovery to resolve.
pub fn canonical_kind(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    SHORT_NAMES.iter().find(|(short, _)| *short == lower).map(|(_, plural)| plural.to_string()).unwrap_or(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(group: &str, plural: &str, k: &str, short: &[&str]) -> Kind {
        Kind {
            group: group.into(),
            version: "v1".into(),
            kind: k.into(),
            plural: plural.into(),
            singular: k.to_ascii_lowercase(),
            short_names: short.iter().map(|s| s.to_string()).collect(),
            categories: Vec::new(),
            namespaced: true,
            verbs: vec!["get".into(), "list".into()],
        }
    }

    #[test]
    fn openapi_types_of_built_in_kinds() {
        assert_eq!(kind("", "pods", "Pod", &[]).openapi_type().as_deref(), Some("k8s_openapi::api::core::v1::Pod"));
        assert_eq!(kind("apps", "deployments", "Deployment", &[]).openapi_type().as_deref(), Some("k8s_openapi::api::apps::v1::Deployment"));
        assert_eq!(
            kind("rbac.authorization.k8s.io", "roles", "Role", &[]).openapi_type().as_deref(),
            Some("k8s_openapi::api::rbac::v1::Role")
        );
        assert_eq!(kind("stable.example.com", "crontabs", "CronTab", &[]).openapi_type(), None);
    }

    fn catalog() -> Catalog {
        Catalog {
            kinds: vec![
                kind("", "pods", "Pod", &["po"]),
                kind("", "events", "Event", &["ev"]),
                kind("events.k8s.io", "events", "Event", &["ev"]),
                kind("apps", "deployments", "Deployment", &["deploy"]),
                kind("example.com", "widgets", "Widget", &["wg"]),
            ],
            groups: vec![("".into(), vec!["v1".into()]), ("apps".into(), vec!["v1".into()])],
        }
    }

    #[test]
    fn resolves_names_and_short_names() {
        let c = catalog();
        assert_eq!(c.resolve("po").unwrap().plural, "pods");
        assert_eq!(c.resolve("Pod").unwrap().plural, "pods");
        assert_eq!(c.resolve("deploy").unwrap().group, "apps");
        assert_eq!(c.resolve("deployments.apps").unwrap().group, "apps");
        assert_eq!(c.resolve("wg").unwrap().kind, "Widget");
        assert_eq!(c.resolve("events").unwrap().group, "", "core events win");
    }

    #[test]
    fn unknown_kind_suggests() {
        let e = catalog().resolve("podz").unwrap_err();
        assert_eq!(e.to_string(), "no kind 'podz' on this cluster; did you mean pods?");
        let e = catalog().resolve("deploymnts").unwrap_err();
        assert!(e.to_string().ends_with("did you mean deployments?"), "{e}");
    }

    #[test]
    fn gvk_lookup() {
        let c = catalog();
        assert_eq!(c.by_gvk("apps/v1", "Deployment").unwrap().plural, "deployments");
        assert_eq!(c.by_gvk("v1", "Pod").unwrap().plural, "pods");
        assert!(c.by_gvk("apps/v1", "Nope").is_none());
        let ar = c.by_gvk("apps/v1", "Deployment").unwrap().api_resource();
        assert_eq!(ar.api_version, "apps/v1");
    }

    #[test]
    fn short_kind_names() {
        for (short, plural) in [
            ("po", "pods"),
            ("deploy", "deployments"),
            ("svc", "services"),
            ("rs", "replicasets"),
            ("ns", "namespaces"),
            ("no", "nodes"),
            ("cm", "configmaps"),
            ("sa", "serviceaccounts"),
            ("ing", "ingresses"),
            ("job", "jobs"),
            ("ds", "daemonsets"),
            ("sts", "statefulsets"),
            ("Pod", "pods"),
            ("widgets", "widgets"),
        ] {
            assert_eq!(canonical_kind(short), plural, "{short}");
        }
    }
}
