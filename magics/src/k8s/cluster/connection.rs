//! The connection to a cluster: kubeconfig (KUBECONFIG, contexts) or the in-cluster service
//! account, a check that the server answers, deadlines on every request, and the translation of
//! kube's errors into typed ones that read well.

use super::error::{root_message, ClusterError};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

/// How long reaching the API server may take before we say it is unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one ordinary request (get, apply, ...) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A live connection: the client and where it points.
pub struct Conn {
    pub client: Client,
    pub server: String,
    pub namespace: String,
    pub context: Option<String>,
    pub kubeconfig: Option<String>,
    pub user: Option<String>,
    /// The catalogue of kinds and when it was fetched (see `discovery`).
    pub(super) catalog: tokio::sync::Mutex<Option<(Arc<super::kinds::Catalog>, Instant)>>,
}

/// What `connect` was asked for.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub context: Option<String>,
    pub kubeconfig: Option<String>,
    pub namespace: Option<String>,
}

/// Builds a client for the target: a kubeconfig (the one named, or KUBECONFIG / ~/.kube/config),
/// or the in-cluster service account when there is no kubeconfig at all.
pub async fn connect(target: &Target) -> Result<Conn, ClusterError> {
    let config_error = |m: String| ClusterError::Config(m);
    let options = KubeConfigOptions { context: target.context.clone(), cluster: None, user: None };
    let (mut config, context, user) = match &target.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| config_error(format!("cannot read kubeconfig {path}: {}", root_message(&e))))?;
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
                        kubeconfig_problem(&kc_err)
                    )))
                }
            },
        },
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(Duration::from_secs(300));
    // kube retries 429, 503 and 504 by itself, which turns an API server's immediate answer
    // ("no endpoints available for service", metrics not ready yet) into a long wait that ends
    // in a timeout; kubectl does not retry, and neither do we.
    config.default_retry = false;
    if let Some(ns) = &target.namespace {
        config.default_namespace = ns.clone();
    }
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let namespace = config.default_namespace.clone();
    let client =
        Client::try_from(config).map_err(|e| config_error(format!("cannot build a client: {}", root_message(&e))))?;
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

/// Connects and checks that the server answers (within 10 s) before the connection is used.
pub async fn connect_checked(target: &Target) -> Result<Conn, ClusterError> {
    probe(connect(target).await?).await
}

async fn probe(conn: Conn) -> Result<Conn, ClusterError> {
    let client = conn.client.clone();
    match tokio::time::timeout(CONNECT_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(conn),
        Ok(Err(e)) => Err(conn.explain("connect", e)),
        Err(_) => Err(conn.unreachable_within(CONNECT_TIMEOUT)),
    }
}

/// Why no kubeconfig could be read, naming the files looked for.
fn kubeconfig_problem(err: &kube::config::KubeconfigError) -> String {
    let looked: Vec<String> = match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(paths) => std::env::split_paths(&paths).map(|p| p.display().to_string()).collect(),
        None => vec![std::env::var_os("HOME")
            .map(|h| std::path::Path::new(&h).join(".kube/config").display().to_string())
            .unwrap_or_else(|| "~/.kube/config".into())],
    };
    let missing = looked.iter().all(|p| !std::path::Path::new(p).exists());
    if missing {
        format!("no kubeconfig at {}", looked.join(", "))
    } else {
        format!("the kubeconfig {} cannot be read: {}", looked.join(", "), root_message(err))
    }
}

fn check_context(kc: &Kubeconfig, wanted: &Option<String>, place: &str) -> Result<(), ClusterError> {
    let Some(name) = wanted else { return Ok(()) };
    if kc.contexts.iter().any(|c| &c.name == name) {
        return Ok(());
    }
    let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
    let known = if known.is_empty() { "it has none".to_string() } else { format!("it has {}", known.join(", ")) };
    Err(ClusterError::Config(format!("no context '{name}' in {place}; {known}")))
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
    /// Runs one request with the usual deadline, turning failures into typed errors.
    pub async fn call<T, F>(&self, what: &str, fut: F) -> Result<T, ClusterError>
    where
        F: std::future::Future<Output = Result<T, kube::Error>>,
    {
        self.call_within(what, REQUEST_TIMEOUT, fut).await
    }

    pub async fn call_within<T, F>(&self, what: &str, limit: Duration, fut: F) -> Result<T, ClusterError>
    where
        F: std::future::Future<Output = Result<T, kube::Error>>,
    {
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.explain(what, e)),
            Err(_) => Err(ClusterError::Unreachable {
                message: format!("the Kubernetes API server at {} did not answer within {} s", self.server, limit.as_secs()),
                source: None,
            }),
        }
    }

    fn unreachable_within(&self, limit: Duration) -> ClusterError {
        ClusterError::Unreachable {
            message: format!("cannot reach the Kubernetes API server at {} within {} s", self.server, limit.as_secs()),
            source: None,
        }
    }

    /// A typed error for a kube error; `what` says what was being done ("list pods").
    pub fn explain(&self, what: &str, err: kube::Error) -> ClusterError {
        match &err {
            kube::Error::Api(status) if status.reason == "Failed to parse error data" => {
                // kube's placeholder: the answer was no Kubernetes Status at all.
                let body: String =
                    status.message.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(120).collect();
                let body = if body.is_empty() { String::new() } else { format!(": {body}") };
                let code = status.code;
                ClusterError::Api {
                    message: format!(
                        "{what}: the server at {} answered HTTP {code} without a Kubernetes status{body}; is it a Kubernetes API server?",
                        self.server
                    ),
                    code: Some(code),
                    source: Some(err),
                }
            }
            kube::Error::Api(status) => {
                let msg = if status.message.is_empty() { status.reason.clone() } else { status.message.clone() };
                match status.code {
                    401 => ClusterError::Unauthorized {
                        message: format!(
                            "the API server at {} did not accept the credentials{}: {msg}",
                            self.server,
                            self.user_text()
                        ),
                        source: err,
                    },
                    403 => ClusterError::Forbidden { message: forbidden_text(what, &msg, self.user.as_deref()), source: err },
                    404 => ClusterError::NotFound { message: msg, source: Some(err) },
                    409 if status.reason == "AlreadyExists" => ClusterError::AlreadyExists { message: msg, source: err },
                    409 => ClusterError::Conflict { message: msg, source: err },
                    422 => ClusterError::Invalid { message: msg, source: err },
                    code => ClusterError::Api { message: format!("{what}: {msg} (HTTP {code})"), code: Some(code), source: Some(err) },
                }
            }
            kube::Error::HyperError(_) | kube::Error::Service(_) => {
                let cause = root_message(&err);
                if cause.contains("certificate") {
                    return ClusterError::Tls {
                        message: format!(
                            "the API server at {} did not pass the TLS check ({cause}); if the cluster was set up again, `%k8s connect` reads the kubeconfig anew",
                            self.server
                        ),
                        source: err,
                    };
                }
                let message = if cause.contains("deadline has elapsed") || cause.contains("timed out") {
                    format!("cannot reach the Kubernetes API server at {} within {} s", self.server, CONNECT_TIMEOUT.as_secs())
                } else {
                    format!("cannot reach the Kubernetes API server at {}: {cause}", self.server)
                };
                ClusterError::Unreachable { message, source: Some(err) }
            }
            kube::Error::SerdeError(e) => ClusterError::Api {
                message: format!("{what}: unexpected answer from the server: {e}"),
                code: None,
                source: None,
            },
            _ => ClusterError::Api { message: format!("{what}: {}", root_message(&err)), code: None, source: Some(err) },
        }
    }

    fn user_text(&self) -> String {
        self.user.as_ref().map(|u| format!(" of user {u}")).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_message() {
        let m = forbidden_text(
            "list pods",
            "pods is forbidden: User \"system:serviceaccount:a:b\" cannot list resource \"pods\"",
            None,
        );
        assert!(m.starts_with("list pods was refused by RBAC: pods is forbidden: User"));
    }
}
