//! `http svc/NAME[:PORT][/PATH]`: a GET through the API server's proxy; HTML is shown as the
//! page, JSON as JSON.

use super::flags::{Parsed, UsageError};
use super::{plan, result, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::kind_ref;
use crate::k8s::cluster::Scope;
use output::{html_text, MimeBundle};
use serde_json::Value;

pub struct Http;

const ABOUT: About = About {
    name: "http",
    flags: &["--namespace", "--context", "--kubeconfig"],
    help: "  %k8s http svc/NAME[:PORT][/PATH]   GET through the API server's proxy; HTML is shown as a page",
    body: None,
    takes_command: false,
};

struct Options {
    target: String,
    scope: Scope,
}

impl Verb for Http {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        if p.positional.len() != 1 || !p.positional[0].contains('/') {
            return Err(p.usage("write http svc/NAME[:PORT][/PATH] (or pod/NAME...)"));
        }
        plan(Options { target: p.positional[0].clone(), scope: p.scope() })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(cx.kind_then_names())
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let spec = &self.target;
        let (kind_text, rest) = spec.split_once('/').unwrap_or_default();
        let kind = conn.kind(kind_text).await?;
        let resource = match kind.plural.as_str() {
            "services" | "pods" => kind.plural.clone(),
            _ => return Err(MagicError::usage("%k8s http: give svc/NAME[:PORT][/PATH] or pod/NAME[:PORT][/PATH]")),
        };
        let (target, path) = match rest.split_once('/') {
            Some((t, p)) => (t, p),
            None => (rest, ""),
        };
        let uri = format!("/api/v1/namespaces/{ns}/{resource}/{target}/proxy/{path}");
        let what = format!("GET {spec}");
        let send = || async {
            let request = http::Request::get(&uri)
                .body(kube::client::Body::from(Vec::new()))
                .map_err(|e| MagicError::usage(format!("%k8s http: {spec} does not make a URL: {e}")))?;
            let response = conn.call(&what, conn.client.send(request)).await?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = conn.call(&what, response.into_body().collect_bytes()).await?;
            Ok::<_, MagicError>((status, content_type, body))
        };
        let (mut status, mut content_type, mut body) = send().await?;
        // The API server's proxy reads services from its cache, which may not have one made a
        // moment ago (expose, then http at once): its own NotFound is asked again once.
        if status == http::StatusCode::NOT_FOUND && is_api_not_found(&content_type, &body) {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            (status, content_type, body) = send().await?;
        }
        let text = String::from_utf8_lossy(&body).to_string();
        let head = format!("HTTP {} from {}/{target}/{path} ({}, {} bytes)", status.as_u16(), kind_ref(&kind), if content_type.is_empty() { "no content type" } else { &content_type }, body.len());
        if !status.is_success() {
            return Err(MagicError::new("HTTPError", format!("{head}: {}", error_summary(&content_type, &text))));
        }
        let mut bundle = MimeBundle::plain(format!("{head}\n{text}"));
        if content_type.starts_with("text/html") {
            bundle = bundle.with("text/html", text);
        } else if content_type.starts_with("application/json") {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                bundle = bundle.with("application/json", v);
            }
        }
        result(bundle)
    }
}

/// A NotFound Status of the API server itself, not an answer of the program behind the proxy.
fn is_api_not_found(content_type: &str, body: &[u8]) -> bool {
    content_type.starts_with("application/json")
        && serde_json::from_slice::<Value>(body).is_ok_and(|v| v["kind"] == "Status" && v["reason"] == "NotFound")
}

/// What an error answer says, in one line: a Kubernetes Status's message (the API server's
/// proxy: no endpoints, no such port), or the text of an HTML error page.
fn error_summary(content_type: &str, text: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        if let Some(message) = v["message"].as_str().filter(|_| v["kind"] == "Status") {
            return message.to_string();
        }
    }
    let text = if content_type.starts_with("text/html") || text.trim_start().starts_with('<') {
        html_text(text)
    } else {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(refused(&Http, "svc/web:80/index.html", false), "");
        assert_ne!(refused(&Http, "web", false), "");
    }

    #[test]
    fn error_answers_in_one_line() {
        let status = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \"nop\"","reason":"ServiceUnavailable","code":503}"#;
        assert_eq!(error_summary("application/json", status), "no endpoints available for service \"nop\"");
        assert_eq!(error_summary("text/html", "<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1></body></html>"), "404 Not Found");
    }
}
