//! `proxy`: the API server on 127.0.0.1:PORT, with the session's credentials, in the background,
//! as `kubectl proxy` does. Code in a cell (a load generator, a browser tab) then reaches a
//! Service through the API server's service proxy, which picks one of the service's ready
//! endpoints for each request; a port-forward, by contrast, holds to one pod.

use super::flags::{Parsed, UsageError};
use super::{plan, About, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::Scope;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use output::{MimeBundle, StreamName};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub struct Proxy;

const ABOUT: About = About {
    name: "proxy",
    flags: &["--port", "--stop", "--context", "--kubeconfig"],
    help: "  %k8s proxy [--port 8001]   the API server on 127.0.0.1:PORT with this session's credentials, in the background;
        a service answers at http://127.0.0.1:PORT/api/v1/namespaces/NS/services/NAME[:PORT]/proxy/PATH
        (a ready endpoint picked for each request)     %k8s proxy --stop   stops it",
    body: None,
    takes_command: false,
};

/// kubectl proxy's port.
const DEFAULT_PORT: u16 = 8001;

struct Options {
    port: u16,
    stop: bool,
    scope: Scope,
}

impl Verb for Proxy {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        if let Some(extra) = p.positional.first() {
            return Err(p.usage(format!("proxy takes no arguments ('{extra}'); write %k8s proxy [--port 8001]")));
        }
        if p.has("--stop") && p.has("--port") {
            return Err(p.usage("--stop stops the running proxy, whatever its port: write %k8s proxy --stop"));
        }
        let port = p.number("--port").map(|n| n as u16).unwrap_or(DEFAULT_PORT);
        plan(Options { port, stop: p.has("--stop"), scope: p.scope() })
    }
}

/// The session's running proxy.
struct Running {
    port: u16,
    server: String,
    requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Proxies(Mutex<Option<Running>>);

impl Drop for Proxies {
    fn drop(&mut self) {
        if let Some(r) = self.0.lock().unwrap().take() {
            r.task.abort();
        }
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let proxies = cx.state.get::<Proxies>();
        if self.stop {
            let text = match proxies.0.lock().unwrap().take() {
                Some(r) => {
                    r.task.abort();
                    format!("stopped serving on 127.0.0.1:{} ({} requests passed)\n", r.port, r.requests.load(Ordering::Relaxed))
                }
                None => "no proxy is running\n".to_string(),
            };
            cx.sink.stream(StreamName::Stdout, &text);
            return Ok(MagicOutput::None);
        }
        if let Some(r) = proxies.0.lock().unwrap().as_ref() {
            return Ok(MagicOutput::Result(MimeBundle::plain(format!(
                "Already serving {} on 127.0.0.1:{} ({} requests so far); %k8s proxy --stop stops it",
                r.server,
                r.port,
                r.requests.load(Ordering::Relaxed)
            ))));
        }
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .map_err(|e| MagicError::new("PortInUse", format!("cannot listen on 127.0.0.1:{}: {}", self.port, e.to_string().to_lowercase())))?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(self.port);
        let requests = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(serve(listener, conn.client.clone(), requests.clone()));
        let running = Running { port, server: conn.server.clone(), requests, task };
        *proxies.0.lock().unwrap() = Some(running);
        cx.sink.stream(
            StreamName::Stdout,
            &format!(
                "Starting to serve on 127.0.0.1:{port} (in the background; %k8s proxy --stop stops it)\n\
                 a service of {ns}: http://127.0.0.1:{port}/api/v1/namespaces/{ns}/services/NAME/proxy/\n"
            ),
        );
        Ok(MagicOutput::None)
    }
}

async fn serve(listener: tokio::net::TcpListener, client: kube::Client, requests: Arc<AtomicU64>) {
    // The connections live in this set: when --stop aborts this task, dropping the set aborts
    // every connection too, keep-alive and watch streams included.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { return };
                let (client, requests) = (client.clone(), requests.clone());
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        requests.fetch_add(1, Ordering::Relaxed);
                        forward(client.clone(), req)
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Paths refused, as kubectl proxy refuses exec and attach by default: a web page must not run
/// commands in the cluster. Read after percent-decoding, so that `%65xec` or `exec%2F` is the
/// same path; the kubelet's own endpoints through a node's proxy (`run`, `exec`) as well.
fn refused_path(path: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let parts: Vec<&str> = decoded.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == ".." || *p == ".") {
        return true;
    }
    let after = |i: usize| parts.get(i + 2..).unwrap_or_default();
    parts.iter().enumerate().any(|(i, p)| match *p {
        "pods" => after(i).iter().any(|q| matches!(*q, "exec" | "attach" | "portforward")),
        "nodes" => after(i).first() == Some(&"proxy"),
        _ => false,
    })
}

/// Only names of this machine, so that another site's page cannot use the proxy by DNS
/// rebinding; and no request that a browser says comes from another site (a page's form or
/// fetch to 127.0.0.1 carries the notebook's credentials otherwise).
fn local_host(headers: &HeaderMap) -> bool {
    let local = |host: &str| {
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().map(|n| format!("[{n}]")).unwrap_or_default(),
            None => host.rsplit_once(':').map(|(n, _)| n).unwrap_or(host).to_string(),
        };
        matches!(name.as_str(), "127.0.0.1" | "localhost" | "[::1]")
    };
    let text = |name| headers.get(name).and_then(|h: &http::HeaderValue| h.to_str().ok());
    if text(http::header::HOST).is_some_and(|h| !local(h)) {
        return false;
    }
    if text(http::header::ORIGIN).is_some_and(|o| !local(o.split_once("://").map(|(_, h)| h).unwrap_or(o))) {
        return false;
    }
    !matches!(text(http::HeaderName::from_static("sec-fetch-site")), Some("cross-site" | "same-site"))
}

fn answer(status: StatusCode, text: String) -> Response<kube::client::Body> {
    let mut r = Response::new(kube::client::Body::from(format!("{text}\n").into_bytes()));
    *r.status_mut() = status;
    r
}

/// Headers of one hop, not to be passed on (RFC 9110 7.6.1), and the caller's own credentials.
const NOT_PASSED: &[&str] = &["host", "authorization", "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

async fn forward(client: kube::Client, req: Request<Incoming>) -> Result<Response<kube::client::Body>, Infallible> {
    if !local_host(req.headers()) {
        return Ok(answer(StatusCode::FORBIDDEN, "kubernel proxy: only requests for 127.0.0.1 or localhost are served".into()));
    }
    let path = req.uri().path().to_string();
    if refused_path(&path) {
        return Ok(answer(StatusCode::FORBIDDEN, format!("kubernel proxy: {path} is refused (exec and attach go through %k8s exec)")));
    }
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(answer(StatusCode::BAD_REQUEST, format!("kubernel proxy: the request's body did not arrive: {e}"))),
    };
    let target = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let mut out = Request::builder().method(parts.method).uri(target);
    for (name, value) in &parts.headers {
        if !NOT_PASSED.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    let out = match out.body(kube::client::Body::from(body)) {
        Ok(r) => r,
        Err(e) => return Ok(answer(StatusCode::BAD_REQUEST, format!("kubernel proxy: {e}"))),
    };
    match client.send(out).await {
        Ok(mut response) => {
            for name in NOT_PASSED {
                response.headers_mut().remove(*name);
            }
            Ok(response)
        }
        Err(e) => Ok(answer(StatusCode::BAD_GATEWAY, format!("kubernel proxy: the API server did not answer: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn proxy_lines() {
        assert_eq!(refused(&Proxy, "", false), "");
        assert_eq!(refused(&Proxy, "--port 8011", false), "");
        assert_eq!(refused(&Proxy, "--stop", false), "");
        assert!(refused(&Proxy, "svc/web", false).contains("takes no arguments"));
        assert!(refused(&Proxy, "--stop --port 8001", false).contains("whatever its port"));
    }

    #[test]
    fn exec_and_other_hosts_are_refused() {
        assert!(refused_path("/api/v1/namespaces/default/pods/web-1/exec"));
        assert!(refused_path("/api/v1/namespaces/default/pods/web-1/attach"));
        assert!(!refused_path("/api/v1/namespaces/default/pods/web-1/log"));
        assert!(!refused_path("/api/v1/namespaces/default/services/exec/proxy/"));
        let mut h = HeaderMap::new();
        assert!(local_host(&h));
        h.insert(http::header::HOST, "127.0.0.1:8001".parse().unwrap());
        assert!(local_host(&h));
        h.insert(http::header::HOST, "localhost".parse().unwrap());
        assert!(local_host(&h));
        h.insert(http::header::HOST, "[::1]".parse().unwrap());
        assert!(local_host(&h));
        h.insert(http::header::HOST, "evil.example:8001".parse().unwrap());
        assert!(!local_host(&h));
        // Another site's page, sending to 127.0.0.1 itself.
        h.insert(http::header::HOST, "127.0.0.1:8001".parse().unwrap());
        h.insert(http::header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!local_host(&h));
        h.insert(http::header::ORIGIN, "http://localhost:8888".parse().unwrap());
        assert!(local_host(&h));
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!local_host(&h));
        // Spellings of exec, and the kubelet's endpoints through a node.
        assert!(refused_path("/api/v1/namespaces/default/pods/web-1/%65xec"));
        assert!(refused_path("/api/v1/namespaces/default/pods/web-1/exec%2F"));
        assert!(refused_path("/api/v1/namespaces/default/pods/web-1/portforward"));
        assert!(refused_path("/api/v1/nodes/kubernel/proxy/run/default/web-1/c"));
        assert!(refused_path("/api/v1/namespaces/default/services/web/proxy/../../pods/web-1/exec"));
        assert!(!refused_path("/api/v1/nodes/kubernel"));
        assert!(!refused_path("/api/v1/namespaces/default/services/web/proxy/"));
    }
}
