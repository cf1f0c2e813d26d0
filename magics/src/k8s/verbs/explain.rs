//! `explain KIND[.FIELD...]`: a kind's fields and their documentation, from the server's OpenAPI
//! v3 schema (`/openapi/v3`, then the document of the kind's group-version), printed as
//! kubectl explain prints it. Kinds resolve through discovery (`deploy`, `po`,
//! `deployments.apps.spec`); a field that does not exist is named with the fields there are.

use super::flags::{Parsed, UsageError};
use super::{kinds, plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::{ClusterError, Conn, Kind, Scope};
use crate::k8s::view::explain::{explain, field_names, no_field_message, ExplainError, Gvk};
use output::StreamName;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub struct Explain;

const ABOUT: About = About {
    name: "explain",
    flags: &["--recursive", "--api-version", "--context", "--kubeconfig"],
    help: "  %k8s explain KIND[.FIELD...] [--recursive] [--api-version GROUP/VERSION]
        a kind's fields, their types and documentation, from the server's OpenAPI schema",
    body: None,
    takes_command: false,
};

struct Options {
    /// What was typed: `deploy.spec.replicas`.
    typed: String,
    recursive: bool,
    /// `--api-version`: (group, version).
    api_version: Option<(String, String)>,
    scope: Scope,
}

/// `KIND.FIELD.FIELD` as its parts, refusing what kubectl's field path refuses.
fn parts(typed: &str) -> Result<Vec<String>, String> {
    if typed.contains(['[', ']', '{', '}', '*']) {
        return Err(format!("'{typed}' is not KIND.FIELD.FIELD: fields are named with dots, without [n] or *"));
    }
    let parts: Vec<String> = typed.split('.').map(str::to_string).collect();
    if parts.iter().any(String::is_empty) {
        return Err(format!("'{typed}' has an empty field name; write KIND.FIELD.FIELD (e.g. deploy.spec.replicas)"));
    }
    Ok(parts)
}

impl Verb for Explain {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let typed = match p.positional.as_slice() {
            [one] => one.clone(),
            [] => return Err(p.usage("which kind? write explain KIND[.FIELD...] (e.g. explain deploy.spec.replicas)")),
            [_, extra, ..] => return Err(p.usage(format!("one KIND[.FIELD...] at a time; '{extra}' is one too many"))),
        };
        parts(&typed).map_err(|m| p.usage(m))?;
        let api_version = match p.text("--api-version") {
            None => None,
            Some(v) => match v.split_once('/') {
                None if !v.is_empty() => Some((String::new(), v)),
                Some((g, ver)) if !g.is_empty() && !ver.is_empty() && !ver.contains('/') => Some((g.to_string(), ver.to_string())),
                _ => return Err(p.usage(format!("--api-version '{v}' is not GROUP/VERSION (e.g. apps/v1, or v1)"))),
            },
        };
        plan(Options { typed, recursive: p.has("--recursive"), api_version, scope: p.scope() })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            if !cx.positional.is_empty() {
                return Vec::new();
            }
            let Some((head, _)) = cx.current.rsplit_once('.') else { return kinds(cx.session).await };
            // KIND.FIELD.<TAB>: the fields there, from the schema (only if already connected).
            let Some(conn) = cx.session.existing().await else { return Vec::new() };
            let Ok(words) = parts(head) else { return Vec::new() };
            let Ok((kind, path)) = split_kind(&conn, &words).await else { return Vec::new() };
            let gvk = Gvk { group: kind.group.clone(), version: kind.version.clone(), kind: kind.kind.clone() };
            let Ok(doc) = document(&conn, &gvk.group, &gvk.version).await else { return Vec::new() };
            field_names(&doc, &gvk, &path).into_iter().map(|f| format!("{head}.{f}")).collect()
        })
    }
}

/// The kind and the field path: `deployments.apps.spec` is kind `deployments.apps`, as kubectl
/// reads it, else the first word is the kind.
async fn split_kind(conn: &Conn, words: &[String]) -> Result<(Kind, Vec<String>), ClusterError> {
    let catalog = conn.catalog().await?;
    for n in (2..=words.len()).rev() {
        let prefix = words[..n].join(".");
        if let Some(k) = catalog
            .kinds
            .iter()
            .find(|k| k.full_name() == prefix || (!k.group.is_empty() && format!("{}.{}", k.singular, k.group) == prefix))
        {
            return Ok((k.clone(), words[n..].to_vec()));
        }
    }
    Ok((conn.kind(&words[0]).await?, words[1..].to_vec()))
}

/// OpenAPI documents by their address (which carries the content's hash, so an entry never goes
/// stale); a few are kept, as the core group's is large.
fn cache() -> &'static Mutex<HashMap<String, Arc<Value>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Value>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

async fn get_json(conn: &Conn, what: &str, path: &str) -> Result<Value, ClusterError> {
    let request = http::Request::get(path)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| ClusterError::Api { message: format!("{what}: {e}"), code: None, source: None })?;
    // The core group's document is several megabytes: more time than an ordinary request.
    conn.call_within(what, Duration::from_secs(60), conn.client.request::<Value>(request)).await
}

/// The OpenAPI v3 document of a group-version, from `/openapi/v3`'s index of them.
async fn document(conn: &Conn, group: &str, version: &str) -> Result<Arc<Value>, ClusterError> {
    let key = if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") };
    let index = get_json(conn, "read the OpenAPI index (/openapi/v3)", "/openapi/v3").await.map_err(|e| match e {
        ClusterError::NotFound { .. } => ClusterError::not_found("the server has no OpenAPI v3 schema (/openapi/v3), which explain reads"),
        e => e,
    })?;
    let Some(url) = index["paths"][&key]["serverRelativeURL"].as_str() else {
        let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
        return Err(ClusterError::not_found(format!("the server's OpenAPI v3 has no document for {gv}")));
    };
    let cache_key = format!("{} {url}", conn.server);
    if let Some(doc) = cache().lock().unwrap().get(&cache_key) {
        return Ok(doc.clone());
    }
    let doc = Arc::new(get_json(conn, &format!("read the OpenAPI schema of {key}"), url).await?);
    let mut c = cache().lock().unwrap();
    if c.len() >= 4 {
        c.clear();
    }
    c.insert(cache_key, doc.clone());
    Ok(doc)
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, _) = cx.session.for_call(&self.scope).await?;
        let words = parts(&self.typed).map_err(MagicError::usage)?;
        let (kind, path) = split_kind(&conn, &words).await?;
        let (group, version) = self.api_version.clone().unwrap_or_else(|| (kind.group.clone(), kind.version.clone()));
        let gvk = Gvk { group, version, kind: kind.kind.clone() };
        let doc = document(&conn, &gvk.group, &gvk.version).await?;
        let typed_kind = &words[..words.len() - path.len()].join(".");
        match explain(&doc, &gvk, &path, self.recursive) {
            Ok(text) => {
                cx.sink.stream(StreamName::Stdout, &text);
                Ok(MagicOutput::None)
            }
            Err(ExplainError::NoField { at, fields, type_name }) => {
                Err(MagicError::new("NotFound", no_field_message(typed_kind, &path, at, &fields, &type_name)))
            }
            Err(ExplainError::NoSchema(m)) => Err(MagicError::new("NotFound", m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn one_kind_and_field_path() {
        assert_eq!(refused(&Explain, "deploy.spec.replicas", false), "");
        assert_eq!(refused(&Explain, "pods --recursive", false), "");
        assert_eq!(refused(&Explain, "hpa -R --api-version autoscaling/v2", false), "");
        assert!(refused(&Explain, "", false).contains("which kind?"));
        assert!(refused(&Explain, "pods nodes", false).contains("'nodes' is one too many"));
        assert!(refused(&Explain, "deploy..spec", false).contains("empty field name"));
        assert!(refused(&Explain, "pods.spec.containers[0]", false).contains("without [n]"));
        assert!(refused(&Explain, "pods --api-version a/b/c", false).contains("is not GROUP/VERSION"));
        assert_eq!(refused(&Explain, "pods --frob", false), "%k8s explain: unknown flag --frob");
    }
}
