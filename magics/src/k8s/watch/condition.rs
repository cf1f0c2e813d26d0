//! `kubectl wait`'s conditions, waited for on [`Watch`]: `condition=NAME[=VALUE]` (a status
//! condition, compared without regard to case, not met while it speaks of an older
//! generation), `jsonpath={PATH}[=VALUE]`, `delete` and `create`. Each object prints
//! `KIND/NAME condition met` when it meets one, as kubectl does; while some have not, one live
//! line says what each is now, and a timeout names them with that state.

use super::{WaitError, Wake, Watch};
use crate::k8s::cluster::objects::{api_for, kind_ref};
use crate::k8s::cluster::{ClusterError, Conn, Kind};
use crate::k8s::view::jsonpath::select;
use crate::k8s::view::{human_duration, note, LiveLine};
use kube::runtime::watcher::Config;
use output::{MimeBundle, OutputSink, StreamName};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What `--for` asks.
#[derive(Debug, Clone, PartialEq)]
pub enum For {
    Create,
    Delete,
    Condition {
        name: String,
        status: String,
    },
    /// A JSONPath (`.status.phase`) and the value it must have, or any value at all.
    JsonPath {
        path: String,
        value: Option<String>,
    },
}

const FORMS: &str = "condition=NAME[=VALUE], delete, create or jsonpath='{.status.phase}'=VALUE";

impl For {
    /// Reads a `--for` value as kubectl does.
    pub fn parse(text: &str) -> Result<For, String> {
        match text.to_ascii_lowercase().as_str() {
            "delete" => return Ok(For::Delete),
            "create" => return Ok(For::Create),
            _ => {}
        }
        if let Some(rest) = text.strip_prefix("condition=") {
            let (name, status) = match rest.split_once('=') {
                Some((n, s)) => (n, s),
                None => (rest, "true"),
            };
            if name.is_empty() {
                return Err(format!("--for '{text}' names no condition; write condition=NAME, e.g. condition=Available"));
            }
            if status.is_empty() {
                return Err(format!("--for '{text}' has no value after '='; write condition={name}=True or =False"));
            }
            return Ok(For::Condition { name: name.to_string(), status: status.to_string() });
        }
        if let Some(rest) = text.strip_prefix("jsonpath=") {
            return parse_jsonpath(rest);
        }
        Err(format!("--for '{text}' is not a condition; use {FORMS}"))
    }

    /// As the live line and errors name it.
    pub fn text(&self) -> String {
        match self {
            For::Create => "create".into(),
            For::Delete => "delete".into(),
            // As typed: `condition=Available` means =true.
            For::Condition { name, status } if status == "true" => format!("condition={name}"),
            For::Condition { name, status } => format!("condition={name}={status}"),
            For::JsonPath { path, value: Some(v) } => format!("jsonpath={{{path}}}={v}"),
            For::JsonPath { path, value: None } => format!("jsonpath={{{path}}}"),
        }
    }
}

/// `{.status.phase}=Running`: kubectl splits at `=` (but not `==`), takes `.a.b`, `a.b`,
/// `{a.b}` and `{.a.b}` alike, and trims quotes off the value.
fn parse_jsonpath(input: &str) -> Result<For, String> {
    let mut parts = vec![String::new()];
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '=' {
            if chars.peek() == Some(&'=') {
                chars.next();
                parts.last_mut().unwrap().push_str("==");
                continue;
            }
            parts.push(String::new());
            continue;
        }
        parts.last_mut().unwrap().push(c);
    }
    let form = "write --for=jsonpath='{.status.phase}'=Running, or --for=jsonpath='{.status.loadBalancer.ingress}' for any value";
    if parts.len() > 2 {
        return Err(format!("--for jsonpath '{input}' has more than one '='; {form}"));
    }
    let expr = parts[0].trim();
    let inner = match expr.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}').ok_or_else(|| format!("--for jsonpath '{expr}' has an unclosed {{"))?,
        None => expr,
    };
    let inner = inner.strip_prefix('.').unwrap_or(inner);
    if inner.is_empty() || inner.contains(['{', '}']) {
        return Err(format!("--for jsonpath '{expr}' is not a path like {{.status.phase}}; {form}"));
    }
    let path = format!(".{inner}");
    select(&Value::Null, &path).map_err(|e| format!("--for jsonpath: {e}; for a status condition use --for=condition=NAME"))?;
    let value = match parts.get(1) {
        None => None,
        Some(v) => {
            let v = v.trim_matches(|c| c == '\'' || c == '"');
            if v.is_empty() {
                return Err(format!("--for jsonpath has no value after '='; {form}"));
            }
            Some(v.to_string())
        }
    };
    Ok(For::JsonPath { path, value })
}

/// Where an object stands against a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Judged {
    Met,
    /// Not yet, and what it is now ("Available=False (MinimumReplicasUnavailable: ...)").
    NotYet(String),
    /// It cannot be judged (a path that selects a list): the wait ends with this.
    Wrong(String),
}

/// How kubectl prints a value it compares (Go's %v): strings as they are, whole numbers
/// without a fraction.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Judges `obj` (None: it does not exist) against `cond`; `first_uid` is the object's uid when
/// the wait began (a new object of the same name counts as the old one deleted).
pub fn judge(cond: &For, obj: Option<&Value>, first_uid: Option<&str>) -> Judged {
    match (cond, obj) {
        (For::Create, Some(_)) => Judged::Met,
        (For::Create, None) => Judged::NotYet("not there yet".into()),
        (For::Delete, None) => Judged::Met,
        (For::Delete, Some(o)) => {
            if first_uid.is_some_and(|u| o["metadata"]["uid"].as_str() != Some(u)) {
                return Judged::Met;
            }
            if o["metadata"]["deletionTimestamp"].is_string() {
                let finalizers: Vec<&str> =
                    o["metadata"]["finalizers"].as_array().map(|f| f.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                if finalizers.is_empty() {
                    return Judged::NotYet("being deleted".into());
                }
                return Judged::NotYet(format!("being deleted, held by finalizers {}", finalizers.join(", ")));
            }
            Judged::NotYet("still there".into())
        }
        (_, None) => Judged::NotYet("gone".into()),
        (For::Condition { name, status }, Some(o)) => condition(o, name, status),
        (For::JsonPath { path, value }, Some(o)) => {
            let found = match select(o, path) {
                Ok(f) => f,
                Err(e) => return Judged::Wrong(e),
            };
            match found.as_slice() {
                [] => Judged::NotYet(format!("{{{path}}} is not set")),
                [_] if value.is_none() => Judged::Met,
                [one] if one.is_object() || one.is_array() => Judged::Wrong(format!(
                    "{{{path}}} is {}, which cannot be compared with a value; point the path at one field",
                    if one.is_object() { "an object" } else { "a list" }
                )),
                [one] => {
                    let now = value_text(one);
                    if now.trim() == value.as_deref().unwrap_or_default().trim() {
                        Judged::Met
                    } else {
                        Judged::NotYet(format!("{{{path}}} is {now}"))
                    }
                }
                _ => Judged::Wrong(format!("{{{path}}} selects {} values; it must select one", found.len())),
            }
        }
    }
}

/// A status condition: met when its status is the one asked for (in any case) and it speaks of
/// the object's current generation.
fn condition(o: &Value, name: &str, want: &str) -> Judged {
    let conditions = o["status"]["conditions"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let Some(c) = conditions.iter().find(|c| c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(name))) else {
        let have: Vec<String> =
            conditions.iter().filter_map(|c| Some(format!("{}={}", c["type"].as_str()?, c["status"].as_str().unwrap_or("?")))).collect();
        return Judged::NotYet(if have.is_empty() {
            "no conditions yet".to_string()
        } else {
            format!("no {name} condition (it has {})", have.join(", "))
        });
    };
    let status = c["status"].as_str().unwrap_or_default();
    let generation = o["metadata"]["generation"].as_i64();
    let observed = c["observedGeneration"].as_i64().or_else(|| o["status"]["observedGeneration"].as_i64());
    if let (Some(g), Some(seen)) = (generation, observed) {
        if seen < g {
            return Judged::NotYet(format!("{}={status}, but for generation {seen}, not {g}", c["type"].as_str().unwrap_or(name)));
        }
    }
    if status.eq_ignore_ascii_case(want) {
        return Judged::Met;
    }
    let why = match (c["reason"].as_str().filter(|r| !r.is_empty()), c["message"].as_str().filter(|m| !m.is_empty())) {
        (Some(r), Some(m)) => format!(" ({r}: {m})"),
        (Some(r), None) => format!(" ({r})"),
        (None, Some(m)) => format!(" ({m})"),
        (None, None) => String::new(),
    };
    Judged::NotYet(format!("{}={status}{why}", c["type"].as_str().unwrap_or(name)))
}

/// What to wait for: objects of `kind` by name, or all matching a selector (`names` empty).
pub struct Wanted<'a> {
    pub kind: &'a Kind,
    /// The namespace; None: every namespace (with a selector or --all).
    pub namespace: Option<&'a str>,
    pub names: &'a [String],
    pub selector: Option<&'a str>,
    pub fields: Option<&'a str>,
    pub conditions: &'a [For],
    /// How long; zero: judge once, as kubectl --timeout=0 does.
    pub timeout: Duration,
}

/// One object waited for, and how far along the conditions it is.
struct Target {
    ns: String,
    name: String,
    uid: Option<String>,
    step: usize,
    state: String,
}

impl Target {
    fn done(&self, conditions: &[For]) -> bool {
        self.step >= conditions.len()
    }
}

fn key_of(o: &Value) -> (String, String) {
    (o["metadata"]["namespace"].as_str().unwrap_or_default().to_string(), o["metadata"]["name"].as_str().unwrap_or_default().to_string())
}

/// `web (Available=False ...), api (no conditions yet)`: the first few objects not there yet.
fn pending_text(pending: &[&Target]) -> String {
    let shown: Vec<String> = pending.iter().take(4).map(|t| format!("{} ({})", t.name, t.state)).collect();
    let more = if pending.len() > 4 { format!(" and {} more", pending.len() - 4) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

/// Waits until every object wanted meets every condition, in order, printing kubectl's line for
/// each; fails when the timeout passes (naming what is not met, and how it is now), when a named
/// object does not exist, or when nothing matches.
pub async fn until_met(conn: &Arc<Conn>, w: Wanted<'_>, sink: &Arc<dyn OutputSink>) -> Result<(), WaitError> {
    let started = Instant::now();
    let once = w.timeout.is_zero();
    let deadline = (!once).then(|| started + w.timeout);
    let mut watch = Watch::new(conn.clone()).until(deadline).tick(Duration::from_millis(500));
    let api = api_for(conn, w.kind, w.namespace);
    let ar = w.kind.api_resource();
    let plural = &w.kind.plural;
    let sets: Vec<usize> = if w.names.is_empty() {
        let mut config = Config::default();
        if let Some(sel) = w.selector {
            config = config.labels(sel);
        }
        if let Some(fields) = w.fields {
            config = config.fields(fields);
        }
        vec![watch.add(plural, api, ar, config)]
    } else {
        w.names
            .iter()
            .map(|n| watch.add(plural, api.clone(), ar.clone(), Config::default().fields(&format!("metadata.name={n}"))))
            .collect()
    };
    let title = |t: &Target| format!("{}/{}", kind_ref(w.kind), t.name);
    let conditions = w.conditions;
    let what = conditions.iter().map(For::text).collect::<Vec<_>>().join(" and ");
    let mut targets: Option<Vec<Target>> = None;
    let mut live: Option<LiveLine> = None;
    loop {
        let wake = watch.next().await?;
        let objects: Vec<&Value> = sets.iter().flat_map(|s| watch.objects(*s)).collect();
        let find = |t: &Target| objects.iter().copied().find(|o| key_of(o) == (t.ns.clone(), t.name.clone()));
        if targets.is_none() && watch.listed() {
            targets = first_targets(&w, &objects)?;
            if targets.as_ref().is_some_and(Vec::is_empty) {
                return Ok(()); // --for=delete of nothing: kubectl says nothing
            }
        }
        let Some(list) = targets.as_mut() else {
            // Nothing to judge yet: the list has not come, or `create` waits for a first object.
            let why = if watch.listed() { format!("no {plural} there yet") } else { format!("the {plural} were not listed yet") };
            if once && watch.listed() {
                return Err(WaitError::failed("ConditionNotMet", format!("condition not met: {why}")));
            }
            if wake == Wake::Deadline {
                return Err(WaitError::failed(
                    "Timeout",
                    format!("timed out waiting for {what} ({}): {why}", human_duration(w.timeout.as_secs() as i64)),
                ));
            }
            continue;
        };
        for t in list.iter_mut() {
            while !t.done(conditions) {
                match judge(&conditions[t.step], find(t), t.uid.as_deref()) {
                    Judged::Met => {
                        t.step += 1;
                        sink.stream(StreamName::Stdout, &format!("{} condition met\n", title(t)));
                    }
                    Judged::NotYet(state) => {
                        t.state = state;
                        break;
                    }
                    Judged::Wrong(why) => {
                        if let Some(l) = live.as_mut() {
                            l.finish(note(&format!("stopped: {why}")));
                        }
                        return Err(WaitError::failed("JSONPathError", format!("{}: {why}", title(t))));
                    }
                }
            }
        }
        let pending: Vec<&Target> = list.iter().filter(|t| !t.done(conditions)).collect();
        let secs = started.elapsed().as_secs_f64();
        if pending.is_empty() {
            if let Some(l) = live.as_mut() {
                l.finish(note(&format!(
                    "{what}: met by {} in {secs:.1} s",
                    if list.len() == 1 { title(&list[0]) } else { format!("all {}", list.len()) }
                )));
            }
            return Ok(());
        }
        let names = pending.iter().map(|t| format!("{plural}/{}", t.name)).collect::<Vec<_>>().join(", ");
        let states = if pending.len() == 1 {
            pending[0].state.clone()
        } else {
            pending.iter().map(|t| format!("{}: {}", t.name, t.state)).collect::<Vec<_>>().join("; ")
        };
        if once {
            return Err(WaitError::failed("ConditionNotMet", format!("condition not met for {names}: {states}")));
        }
        if wake == Wake::Deadline {
            if let Some(l) = live.as_mut() {
                l.finish(note(&format!(
                    "timed out waiting for {what} after {}: {}",
                    human_duration(w.timeout.as_secs() as i64),
                    pending_text(&pending)
                )));
            }
            return Err(WaitError::failed(
                "Timeout",
                format!("timed out waiting for the condition on {names} ({}): {states}", human_duration(w.timeout.as_secs() as i64)),
            ));
        }
        let of = if list.len() == 1 { title(&list[0]) } else { format!("{} of {} {plural}", pending.len(), list.len()) };
        let view: MimeBundle = note(&format!(
            "waiting for {what} on {of}: {} ({secs:.0} s)",
            if list.len() == 1 { pending[0].state.clone() } else { pending_text(&pending) }
        ));
        match live.as_mut() {
            Some(l) => l.update(view),
            None => live = Some(LiveLine::new(sink, view)),
        }
    }
}

/// The objects waited for, once the watch has listed them: those named, or those the selector
/// matches now (kubectl takes them at the start). None: none yet, and `create` waits for some.
/// Empty: nothing to do (`delete` of what is not there).
fn first_targets(w: &Wanted<'_>, objects: &[&Value]) -> Result<Option<Vec<Target>>, WaitError> {
    let first = &w.conditions[0];
    let target = |ns: String, name: String, uid: Option<String>| Target { ns, name, uid, step: 0, state: "not judged yet".into() };
    if w.names.is_empty() {
        if objects.is_empty() {
            return match first {
                For::Delete => Ok(Some(Vec::new())),
                For::Create => Ok(None),
                _ => Err(WaitError::Cluster(ClusterError::not_found(format!(
                    "no matching resources found: no {} {}",
                    w.kind.plural,
                    match (w.selector, w.namespace) {
                        (Some(sel), Some(ns)) => format!("match {sel} in namespace {ns}"),
                        (Some(sel), None) => format!("match {sel} in any namespace"),
                        (None, Some(ns)) => format!("in namespace {ns}"),
                        (None, None) => "in any namespace".to_string(),
                    }
                )))),
            };
        }
        let mut list: Vec<Target> = objects
            .iter()
            .map(|o| {
                let (ns, name) = key_of(o);
                target(ns, name, o["metadata"]["uid"].as_str().map(str::to_string))
            })
            .collect();
        list.sort_by(|a, b| (&a.ns, &a.name).cmp(&(&b.ns, &b.name)));
        return Ok(Some(list));
    }
    let ns = w.namespace.unwrap_or_default().to_string();
    let mut list = Vec::new();
    for name in w.names {
        let found = objects.iter().find(|o| o["metadata"]["name"].as_str() == Some(name));
        match (found, first) {
            (Some(o), _) => list.push(target(ns.clone(), name.clone(), o["metadata"]["uid"].as_str().map(str::to_string))),
            // Gone already: kubectl says nothing of it.
            (None, For::Delete) => {}
            (None, For::Create) => list.push(target(ns.clone(), name.clone(), None)),
            (None, _) => {
                let in_ns = if w.kind.namespaced { format!(" in namespace {ns}") } else { String::new() };
                return Err(WaitError::Cluster(ClusterError::not_found(format!("{} \"{name}\" not found{in_ns}", w.kind.full_name()))));
            }
        }
    }
    Ok(Some(list))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn for_is_read_as_kubectl_reads_it() {
        assert_eq!(For::parse("condition=Available"), Ok(For::Condition { name: "Available".into(), status: "true".into() }));
        assert_eq!(For::parse("condition=Ready=false"), Ok(For::Condition { name: "Ready".into(), status: "false".into() }));
        assert_eq!(For::parse("Delete"), Ok(For::Delete));
        assert_eq!(For::parse("create"), Ok(For::Create));
        let phase = Ok(For::JsonPath { path: ".status.phase".into(), value: Some("Running".into()) });
        assert_eq!(For::parse("jsonpath={.status.phase}=Running"), phase);
        assert_eq!(For::parse("jsonpath=.status.phase=Running"), phase);
        assert_eq!(For::parse("jsonpath=status.phase='Running'"), phase);
        assert_eq!(
            For::parse("jsonpath={.status.loadBalancer.ingress}"),
            Ok(For::JsonPath { path: ".status.loadBalancer.ingress".into(), value: None })
        );
        assert!(For::parse("foo").unwrap_err().contains("is not a condition; use condition=NAME"));
        assert!(For::parse("condition=").unwrap_err().contains("names no condition"));
        assert!(For::parse("jsonpath={.status.phase}=").unwrap_err().contains("no value after '='"));
        assert!(For::parse("jsonpath={.status.phase=a=b").is_err());
        assert!(For::parse("jsonpath={.status.conditions[?(@.type==\"Ready\")].status}=True")
            .unwrap_err()
            .contains("--for=condition=NAME"));
    }

    fn deploy(available: &str, generation: i64, observed: i64) -> Value {
        json!({"metadata": {"name": "web", "uid": "u1", "generation": generation},
               "status": {"observedGeneration": observed, "phase": "Running", "replicas": 2,
                          "conditions": [{"type": "Progressing", "status": "True"},
                                         {"type": "Available", "status": available, "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."}]}})
    }

    #[test]
    fn conditions_are_judged_as_kubectl_judges_them() {
        let available = For::parse("condition=available").unwrap();
        assert_eq!(judge(&available, Some(&deploy("True", 2, 2)), None), Judged::Met, "names and values in any case");
        assert_eq!(
            judge(&available, Some(&deploy("False", 2, 2)), None),
            Judged::NotYet("Available=False (MinimumReplicasUnavailable: Deployment does not have minimum availability.)".into())
        );
        assert_eq!(
            judge(&available, Some(&deploy("True", 3, 2)), None),
            Judged::NotYet("Available=True, but for generation 2, not 3".into())
        );
        assert_eq!(judge(&For::parse("condition=Available=false").unwrap(), Some(&deploy("False", 1, 1)), None), Judged::Met);
        let ready = For::parse("condition=Ready").unwrap();
        assert_eq!(
            judge(&ready, Some(&deploy("True", 1, 1)), None),
            Judged::NotYet("no Ready condition (it has Progressing=True, Available=True)".into())
        );
        assert_eq!(judge(&ready, Some(&json!({"metadata": {}})), None), Judged::NotYet("no conditions yet".into()));
        assert_eq!(judge(&ready, None, None), Judged::NotYet("gone".into()));
    }

    #[test]
    fn jsonpath_delete_and_create() {
        let d = deploy("True", 1, 1);
        let j = |t: &str| For::parse(t).unwrap();
        assert_eq!(judge(&j("jsonpath={.status.phase}=Running"), Some(&d), None), Judged::Met);
        assert_eq!(judge(&j("jsonpath={.status.phase}=Pending"), Some(&d), None), Judged::NotYet("{.status.phase} is Running".into()));
        assert_eq!(judge(&j("jsonpath={.status.replicas}=2"), Some(&d), None), Judged::Met, "numbers compare as kubectl prints them");
        assert_eq!(judge(&j("jsonpath={.status.nothing}=2"), Some(&d), None), Judged::NotYet("{.status.nothing} is not set".into()));
        assert_eq!(judge(&j("jsonpath={.status.phase}"), Some(&d), None), Judged::Met, "any value");
        assert!(matches!(judge(&j("jsonpath={.status}=x"), Some(&d), None), Judged::Wrong(m) if m.contains("an object")));
        assert!(
            matches!(judge(&j("jsonpath={.status.conditions[*].type}=x"), Some(&d), None), Judged::Wrong(m) if m.contains("selects 2 values"))
        );
        assert_eq!(judge(&For::Delete, None, Some("u1")), Judged::Met);
        assert_eq!(judge(&For::Delete, Some(&d), Some("u1")), Judged::NotYet("still there".into()));
        assert_eq!(judge(&For::Delete, Some(&d), Some("u0")), Judged::Met, "a new object of the same name");
        let going = json!({"metadata": {"uid": "u1", "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["example.com/hold"]}});
        assert_eq!(
            judge(&For::Delete, Some(&going), Some("u1")),
            Judged::NotYet("being deleted, held by finalizers example.com/hold".into())
        );
        assert_eq!(judge(&For::Create, None, None), Judged::NotYet("not there yet".into()));
        assert_eq!(judge(&For::Create, Some(&d), None), Judged::Met);
    }
}
