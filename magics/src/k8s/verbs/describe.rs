//! `describe`: metadata, labels, the highlights of the spec, status and conditions, and the
//! recent events of each object named.

use super::flags::{Parsed, UsageError};
use super::get::Selection;
use super::{plan, result, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::{api_for, to_value};
use crate::k8s::cluster::{Conn, Kind};
use crate::k8s::view::describe::describe;
use chrono::Utc;
use kube::api::ListParams;
use output::MimeBundle;
use serde_json::Value;

pub struct Describe;

const ABOUT: About = About {
    name: "describe",
    flags: &["--namespace", "--all-namespaces", "--selector", "--context", "--kubeconfig"],
    help: "  %k8s describe KIND [NAME...] [-n NS] [-l SELECTOR]
        metadata, labels, the highlights of the spec, status and conditions, recent events",
    body: None,
    takes_command: false,
};


impl Verb for Describe {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        plan(Options(Selection::read(&mut p)?))
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(cx.kind_then_names())
    }
}

struct Options(Selection);

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let what = &self.0;
        let (conn, ns) = cx.session.for_call(&what.scope).await?;
        let (kind, objects) = what.fetch(&conn, &ns, &what.kind).await?;
        if objects.is_empty() {
            return result(what.nothing_found(&kind, &ns));
        }
        let catalog = conn.catalog().await?;
        let events_kind = catalog.resolve("events").ok().filter(|k| k.group.is_empty()).cloned();
        let now = Utc::now();
        let mut text = String::new();
        let mut html = String::new();
        for obj in &objects {
            let events = match &events_kind {
                Some(ek) => object_events(&conn, ek, obj).await,
                None => Vec::new(),
            };
            let d = describe(&kind.kind, obj, &events, now);
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&d.to_text());
            html.push_str(&d.to_html());
        }
        result(MimeBundle::plain(text).with("text/html", html))
    }
}

/// Recent events about one object, oldest first; none if they cannot be read.
async fn object_events(conn: &Conn, ek: &Kind, obj: &Value) -> Vec<Value> {
    let uid = obj["metadata"]["uid"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or("default");
    let api = api_for(conn, ek, Some(ns));
    let mut fields = format!("involvedObject.name={name}");
    if !uid.is_empty() {
        fields.push_str(&format!(",involvedObject.uid={uid}"));
    }
    let ar = ek.api_resource();
    let Ok(list) = conn.call("list events", api.list(&ListParams::default().fields(&fields))).await else {
        return Vec::new();
    };
    let mut events: Vec<Value> = list.items.into_iter().map(|o| to_value(o, &ar)).collect();
    let when = |e: &Value| -> String {
        ["lastTimestamp", "eventTime", "firstTimestamp"]
            .iter()
            .find_map(|k| e[*k].as_str().map(str::to_string))
            .or_else(|| e["metadata"]["creationTimestamp"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    events.sort_by_key(|e| when(e));
    events
}
