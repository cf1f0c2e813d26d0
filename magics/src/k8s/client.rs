//! The connection to a cluster: kubeconfig (KUBECONFIG, contexts) or in-cluster service account,
//! the catalog of kinds the server offers (aggregated discovery, cached per connection), and the
//! translation of kube errors into one short message for a person.

use super::args::canonical_kind;
use crate::spelling::closest;
use crate::registry::MagicError;
use kube::api::ApiResource;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

/// How long reaching the API server may take before we say it is unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one ordinary request (get, apply, ...) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One kind the server offers, at its preferred version.
#[derive(Debug, Clone, PartialEq)]
pub struct Kind {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
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
    pub fn resolve(&self, typed: &str) -> Result<&Kind, MagicError> {
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
        Err(MagicError::new("UnknownKind", format!("no kind '{typed}' on this cluster{hint}")))
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

/// A live connection: the client and where it points.
pub struct Conn {
    pub client: Client,
    pub server: String,
    pub namespace: String,
    pub context: Option<String>,
    pub kubeconfig: Option<String>,
    pub user: Option<String>,
    /// The catalog and when it was fetched.
    catalog: tokio::sync::Mutex<Option<(Arc<Catalog>, Instant)>>,
}

/// What `connect` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub context: Option<String>,
    pub kubeconfig: Option<String>,
    pub namespace: Option<String>,
}

fn config_error(message: impl std::fmt::Display) -> MagicError {
    MagicError::new("ConfigError", message.to_string())
}

/// Builds a client for the target: a kubeconfig (the one named, or KUBECONFIG / ~/.kube/config),
/// or the in-cluster service account when there is no kubeconfig at all.
pub async fn connect(target: &Target) -> Result<Conn, MagicError> {
    let options = KubeConfigOptions { context: target.context.clone(), cluster: None, user: None };
    let (mut config, context, user) = match &target.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| config_error(format!("cannot read kubeconfig {path}: {}", root_message(&e))))?;
            check_context(&kc, &target.context, path)?;
            let (context, user) = context_and_user(&kc, &target.context);
            let config = Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| config_error(format!("kubeconfig {path}: {}", root_message(&e))))?;
            (config, context, user)
        }
        None => match Kubeconfig::read() {
            Ok(kc) => {
                check_context(&kc, &target.context, "the kubeconfig")?;
                let (context, user) = context_and_user(&kc, &target.context);
                let config = Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| config_error(format!("kubeconfig: {}", root_message(&e))))?;
                (config, context, user)
            }
            Err(kc_err) => match Config::incluster() {
                Ok(config) => (config, None, None),
                Err(_) => {
                    return Err(config_error(format!(
                        "no cluster configured: {} (set KUBECONFIG, or run inside a pod)",
                        root_message(&kc_err)
                    )))
                }
            },
        },
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(Duration::from_secs(300));
    if let Some(ns) = &target.namespace {
        config.default_namespace = ns.clone();
    }
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| config_error(format!("cannot build a client: {}", root_message(&e))))?;
    Ok(Conn {
        client,
        server,
        namespace,
        context,
        kubeconfig: target.kubeconfig.clone(),
        user,
        catalog: tokio::sync::Mutex::new(None),
    })
}

fn check_context(kc: &Kubeconfig, wanted: &Option<String>, place: &str) -> Result<(), MagicError> {
    let Some(name) = wanted else { return Ok(()) };
    if kc.contexts.iter().any(|c| &c.name == name) {
        return Ok(());
    }
    let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
    let known = if known.is_empty() { "it has none".to_string() } else { format!("it has {}", known.join(", ")) };
    Err(config_error(format!("no context '{name}' in {place}; {known}")))
}

fn context_and_user(kc: &Kubeconfig, wanted: &Option<String>) -> (Option<String>, Option<String>) {
    let name = wanted.clone().or_else(|| kc.current_context.clone());
    let user = name.as_ref().and_then(|n| {
        kc.contexts.iter().find(|c| &c.name == n).and_then(|c| c.context.as_ref()).and_then(|c| c.user.clone())
    });
    (name, user)
}

/// The context names of the kubeconfig in use (for completion).
pub fn context_names(kubeconfig: Option<&str>) -> Vec<String> {
    let kc = match kubeconfig {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    };
    kc.map(|kc| kc.contexts.into_iter().map(|c| c.name).collect()).unwrap_or_default()
}

impl Conn {
    /// Runs one request with the usual deadline, turning failures into a person's message.
    pub async fn call<T, F>(&self, what: &str, fut: F) -> Result<T, MagicError>
    where
        F: std::future::Future<Output = Result<T, kube::Error>>,
    {
        self.call_within(what, REQUEST_TIMEOUT, fut).await
    }

    pub async fn call_within<T, F>(&self, what: &str, limit: Duration, fut: F) -> Result<T, MagicError>
    where
        F: std::future::Future<Output = Result<T, kube::Error>>,
    {
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.explain(what, e)),
            Err(_) => Err(MagicError::new(
                "Unreachable",
                format!("the Kubernetes API server at {} did not answer within {} s", self.server, limit.as_secs()),
            )),
        }
    }

    /// One short message for a kube error; `what` says what was being done ("list pods").
    pub fn explain(&self, what: &str, err: kube::Error) -> MagicError {
        match err {
            kube::Error::Api(status) if status.reason == "Failed to parse error data" => {
                // kube's placeholder: the answer was no Kubernetes Status at all.
                let body: String = status.message.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(120).collect();
                let body = if body.is_empty() { String::new() } else { format!(": {body}") };
                MagicError::new(
                    "ApiError",
                    format!(
                        "{what}: the server at {} answered HTTP {} without a Kubernetes status{body}; is it a Kubernetes API server?",
                        self.server, status.code
                    ),
                )
            }
            kube::Error::Api(status) => {
                let msg = if status.message.is_empty() { status.reason.clone() } else { status.message.clone() };
                match status.code {
                    401 => MagicError::new(
                        "Unauthorized",
                        format!("the API server at {} did not accept the credentials{}: {msg}", self.server, self.user_text()),
                    ),
                    403 => MagicError::new("Forbidden", forbidden_text(what, &msg, self.user.as_deref())),
                    404 => MagicError::new("NotFound", msg),
                    409 => MagicError::new("Conflict", msg),
                    422 => MagicError::new("Invalid", msg),
                    code => MagicError::new("ApiError", format!("{what}: {msg} (HTTP {code})")),
                }
            }
            kube::Error::HyperError(_) | kube::Error::Service(_) => {
                let cause = root_message(&err);
                if cause.contains("certificate") {
                    return MagicError::new(
                        "TLSError",
                        format!(
                            "the API server at {} did not pass the TLS check ({cause}); if the cluster was set up again, `%k8s connect` reads the kubeconfig anew",
                            self.server
                        ),
                    );
                }
                let message = if cause.contains("deadline has elapsed") || cause.contains("timed out") {
                    format!("cannot reach the Kubernetes API server at {} within {} s", self.server, CONNECT_TIMEOUT.as_secs())
                } else {
                    format!("cannot reach the Kubernetes API server at {}: {cause}", self.server)
                };
                MagicError::new("Unreachable", message)
            }
            kube::Error::SerdeError(e) => MagicError::new("ApiError", format!("{what}: unexpected answer from the server: {e}")),
            other => MagicError::new("ApiError", format!("{what}: {}", root_message(&other))),
        }
    }

    fn user_text(&self) -> String {
        self.user.as_ref().map(|u| format!(" of user {u}")).unwrap_or_default()
    }

    /// The catalog of kinds, fetched once per connection.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, MagicError> {
        let mut guard = self.catalog.lock().await;
        if let Some((c, _)) = guard.as_ref() {
            return Ok(c.clone());
        }
        let c = Arc::new(self.discover().await?);
        *guard = Some((c.clone(), Instant::now()));
        Ok(c)
    }

    /// Fetches the catalog again if it is older than a few seconds (a kind was not found: a
    /// custom resource may have been added since).
    async fn refreshed_catalog(&self) -> Result<Arc<Catalog>, MagicError> {
        let mut guard = self.catalog.lock().await;
        if let Some((c, at)) = guard.as_ref() {
            if at.elapsed() < Duration::from_secs(3) {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(self.discover().await?);
        *guard = Some((c.clone(), Instant::now()));
        Ok(c)
    }

    /// A kind as typed, looked up again in fresh discovery before it is called unknown.
    pub async fn kind(&self, typed: &str) -> Result<Kind, MagicError> {
        match self.catalog().await?.resolve(typed) {
            Ok(k) => Ok(k.clone()),
            Err(_) => self.refreshed_catalog().await?.resolve(typed).cloned(),
        }
    }

    /// The kind of a manifest's apiVersion + kind, with the same second look.
    pub async fn kind_of(&self, api_version: &str, kind: &str) -> Result<Option<Kind>, MagicError> {
        match self.catalog().await?.by_gvk(api_version, kind) {
            Some(k) => Ok(Some(k)),
            None => Ok(self.refreshed_catalog().await?.by_gvk(api_version, kind)),
        }
    }

    async fn discover(&self) -> Result<Catalog, MagicError> {
        let client = &self.client;
        let fetched = self
            .call("discover the API", async {
                let core = client.list_core_api_versions_aggregated().await?;
                let groups = client.list_api_groups_aggregated().await?;
                Ok((core, groups))
            })
            .await;
        let (core, groups) = match fetched {
            Ok(v) => v,
            Err(e) if e.ename == "Unreachable" || e.ename == "Forbidden" || e.ename == "Unauthorized" => return Err(e),
            Err(_) => return self.discover_legacy().await,
        };
        let mut catalog = Catalog::default();
        for g in core.items.into_iter().chain(groups.items) {
            let group = g.metadata.as_ref().and_then(|m| m.name.clone()).unwrap_or_default();
            let versions: Vec<String> = g.versions.iter().filter_map(|v| v.version.clone()).collect();
            if let Some(preferred) = g.versions.into_iter().next() {
                let version = preferred.version.clone().unwrap_or_default();
                for r in preferred.resources {
                    let Some(plural) = r.resource else { continue };
                    if plural.contains('/') {
                        continue;
                    }
                    let kind = r.response_kind.as_ref().and_then(|k| k.kind.clone()).unwrap_or_default();
                    catalog.kinds.push(Kind {
                        group: group.clone(),
                        version: version.clone(),
                        singular: r.singular_resource.unwrap_or_else(|| kind.to_ascii_lowercase()),
                        kind,
                        plural,
                        short_names: r.short_names,
                        namespaced: r.scope.as_deref() == Some("Namespaced"),
                        verbs: r.verbs,
                    });
                }
            }
            catalog.groups.push((group, versions));
        }
        if catalog.kinds.is_empty() {
            return self.discover_legacy().await;
        }
        Ok(catalog)
    }

    /// Discovery for servers without the aggregated API: one request per group.
    async fn discover_legacy(&self) -> Result<Catalog, MagicError> {
        let client = &self.client;
        let mut catalog = Catalog::default();
        let mut lists = Vec::new();
        let core = self.call("discover the API", client.list_core_api_resources("v1")).await?;
        lists.push((String::new(), "v1".to_string(), core));
        catalog.groups.push((String::new(), vec!["v1".to_string()]));
        let groups = self.call("discover the API", client.list_api_groups()).await?;
        for g in groups.groups {
            let preferred = g.preferred_version.as_ref().map(|v| v.version.clone()).or_else(|| g.versions.first().map(|v| v.version.clone()));
            let Some(version) = preferred else { continue };
            catalog.groups.push((g.name.clone(), std::iter::once(version.clone()).chain(g.versions.iter().map(|v| v.version.clone()).filter(|v| *v != version)).collect()));
            if let Ok(list) = self.call("discover the API", client.list_api_group_resources(&format!("{}/{version}", g.name))).await {
                lists.push((g.name.clone(), version, list));
            }
        }
        for (group, version, list) in lists {
            for r in list.resources {
                if r.name.contains('/') {
                    continue;
                }
                catalog.kinds.push(Kind {
                    group: group.clone(),
                    version: version.clone(),
                    singular: if r.singular_name.is_empty() { r.kind.to_ascii_lowercase() } else { r.singular_name.clone() },
                    kind: r.kind,
                    plural: r.name,
                    short_names: r.short_names.unwrap_or_default(),
                    namespaced: r.namespaced,
                    verbs: r.verbs,
                });
            }
        }
        Ok(catalog)
    }
}

/// A 403 as a person reads it: which verb on which resource was refused for which user. The
/// API server's message says all that ("pods is forbidden: User "x" cannot list resource ...").
fn forbidden_text(what: &str, msg: &str, user: Option<&str>) -> String {
    if msg.contains("User \"") || msg.contains("cannot ") {
        format!("{what} was refused by RBAC: {msg}")
    } else {
        format!("{what} was refused by RBAC for user {}: {msg}", user.unwrap_or("(unknown)"))
    }
}

/// The innermost message of an error chain, which is the one that names the cause
/// ("Connection refused", "deadline has elapsed", ...).
pub fn root_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut messages = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        messages.push(e.to_string());
        cur = e.source();
    }
    let last = messages.pop().unwrap_or_default();
    // Some layers repeat their source in their own message; the last one is enough, but keep the
    // one before it when the last is too terse to read on its own.
    if last.len() < 12 {
        if let Some(prev) = messages.pop() {
            if !prev.contains(&last) {
                return format!("{prev}: {last}");
            }
            return prev;
        }
    }
    last
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
            namespaced: true,
            verbs: vec!["get".into(), "list".into()],
        }
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
        assert_eq!(e.message, "no kind 'podz' on this cluster; did you mean pods?");
        let e = catalog().resolve("deploymnts").unwrap_err();
        assert!(e.message.ends_with("did you mean deployments?"), "{}", e.message);
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
    fn forbidden_message() {
        let m = forbidden_text("list pods", "pods is forbidden: User \"system:serviceaccount:a:b\" cannot list resource \"pods\"", None);
        assert!(m.starts_with("list pods was refused by RBAC: pods is forbidden: User"));
    }
}
