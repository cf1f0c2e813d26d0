//! `get`: kubectl's tables for built-in kinds and custom resources, `-o wide|yaml|json|name`,
//! several kinds at once (`get deploy,svc`), and `-w`: the table kept up to date in place.

use super::flags::{split_kind_names, Parsed, UsageError};
use super::{plan, result, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::{api_for, fetch, kind_ref, server_table};
use crate::k8s::cluster::{Conn, Kind, Scope};
use crate::k8s::view::documents::{as_document, json_bundle, names_bundle, yaml_bundle};
use crate::k8s::cluster::objects::labels_text;
use crate::k8s::view::{from_server, human_duration, jsonpath, name_of, table, LiveLine, Table, OWN_COLUMNS};
use crate::k8s::watch::{Wake, Watch};
use chrono::Utc;
use kube::runtime::watcher::Config;
use output::{escape_html, MimeBundle, OutputSink};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub struct Get;

const ABOUT: About = About {
    name: "get",
    flags: &[
        "--namespace",
        "--all-namespaces",
        "--selector",
        "--field-selector",
        "--output",
        "--show-labels",
        "--label-columns",
        "--no-headers",
        "--sort-by",
        "--watch",
        "--timeout",
        "--into",
        "--context",
        "--kubeconfig",
    ],
    help: "  %k8s get KIND [NAME...] [-n NS | -A] [-l SELECTOR] [-o wide|yaml|json|name]
        a table with kubectl's columns; KIND is a name, a short name (po, deploy, svc, rs, ns,
        no, cm, sa, ing, job, ds, sts, ...) or a custom resource; KIND/NAME and KIND,KIND work too
  %k8s get KIND [NAME] -w [--timeout 5m]
        the table, updated in place as things change, until interrupted or the timeout
  %k8s get KIND [NAME...] --into VAR
        the objects as the notebook's variable VAR: a Vec (one object for one NAME) of
        serde_json::Value, or of k8s-openapi's type when the notebook has :dep k8s-openapi",
    body: None,
    takes_command: false,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Table,
    Wide,
    Yaml,
    Json,
    Name,
    /// `-o jsonpath=TEMPLATE`
    JsonPath(String),
    /// `-o custom-columns=HEADER:PATH,...`
    Columns(Vec<(String, String)>),
}

impl Output {
    pub fn of(p: &Parsed) -> Result<Output, UsageError> {
        let text = p.text("--output").unwrap_or_default();
        if let Some(template) = text.strip_prefix("jsonpath=") {
            return Ok(Output::JsonPath(template.trim_matches('\'').to_string()));
        }
        if let Some(spec) = text.strip_prefix("custom-columns=") {
            let columns: Option<Vec<(String, String)>> = spec
                .split(',')
                .map(|c| c.split_once(':').map(|(h, p)| (h.to_string(), p.to_string())))
                .collect();
            return match columns {
                Some(c) if !c.is_empty() => Ok(Output::Columns(c)),
                _ => Err(p.usage(format!("custom-columns={spec}: write HEADER:PATH,HEADER:PATH, e.g. NAME:.metadata.name"))),
            };
        }
        Ok(match text.as_str() {
            "wide" => Output::Wide,
            "yaml" => Output::Yaml,
            "json" => Output::Json,
            "name" => Output::Name,
            _ => Output::Table,
        })
    }

    fn is_table(&self) -> bool {
        matches!(self, Output::Table | Output::Wide | Output::Columns(_))
    }
}

/// The objects a `get` or `describe` names: a kind (or kinds, for get), names or a selector.
#[derive(Debug, Clone)]
pub struct Selection {
    pub kind: String,
    pub names: Vec<String>,
    pub selector: Option<String>,
    pub fields: Option<String>,
    pub all_namespaces: bool,
    pub scope: Scope,
}

impl Selection {
    /// Reads KIND [NAME...] | KIND/NAME... with -l, -A and -n; the checks get and describe share.
    pub fn read(p: &mut Parsed) -> Result<Selection, UsageError> {
        split_kind_names(p)?;
        let Some(kind) = p.positional.first().cloned() else {
            return Err(p.usage("which kind? e.g. pods, deployments, services, nodes"));
        };
        let selector = p.text("--selector");
        if selector.is_some() && p.positional.len() > 1 {
            return Err(p.usage("give names or -l, not both"));
        }
        Ok(Selection {
            kind,
            names: p.positional[1..].to_vec(),
            selector,
            fields: p.text("--field-selector"),
            all_namespaces: p.has("--all-namespaces"),
            scope: p.scope(),
        })
    }

    pub async fn fetch(&self, conn: &Conn, ns: &str, kind: &str) -> Result<(Kind, Vec<Value>), MagicError> {
        Ok(fetch(conn, ns, kind, &self.names, self.selector.as_deref(), self.fields.as_deref(), self.all_namespaces).await?)
    }

    /// kubectl's words for an empty answer.
    pub fn nothing_found(&self, kind: &Kind, ns: &str) -> MimeBundle {
        let text = if kind.namespaced && !self.all_namespaces {
            format!("No resources found in {ns} namespace.")
        } else {
            "No resources found.".to_string()
        };
        MimeBundle::plain(text.clone()).with("text/html", format!("<i>{}</i>", escape_html(&text)))
    }
}

#[derive(Debug)]
pub struct Options {
    pub what: Selection,
    pub output: Output,
    pub watch: bool,
    pub timeout: Option<Duration>,
    pub show_labels: bool,
    /// `-L KEY`: a column per label key.
    pub label_columns: Vec<String>,
    pub no_headers: bool,
    pub sort_by: Option<String>,
    /// `--into VAR`: bind the objects as a notebook variable instead of showing them.
    pub into: Option<String>,
}

impl Verb for Get {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        plan(Options::read(&mut p)?)
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(cx.kind_then_names())
    }
}

impl Options {
    pub fn read(p: &mut Parsed) -> Result<Options, UsageError> {
        let what = Selection::read(p)?;
        let (output, watch, timeout) = (Output::of(p)?, p.has("--watch"), p.duration("--timeout"));
        if watch && !output.is_table() {
            return Err(p.usage("-w shows a live table; it does not go with -o yaml, json or name"));
        }
        if watch && (what.names.len() > 1 || what.kind.contains(',')) {
            return Err(p.usage("-w watches one kind, and at most one name"));
        }
        if timeout.is_some() && !watch {
            return Err(p.usage("--timeout goes with -w"));
        }
        let into = p.text("--into");
        if into.is_some() && (watch || p.has("--output")) {
            return Err(p.usage("--into puts the objects in a variable; it does not go with -w or -o"));
        }
        let label_columns = p.texts("--label-columns").iter().flat_map(|l| l.split(',').map(str::to_string)).collect();
        Ok(Options {
            what,
            output,
            watch,
            timeout,
            show_labels: p.has("--show-labels"),
            label_columns,
            no_headers: p.has("--no-headers"),
            sort_by: p.text("--sort-by"),
            into,
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.what.scope).await?;
        if self.watch {
            return self.watch(&conn, &ns, cx.sink).await;
        }
        let mut kinds: Vec<String> = self.what.kind.split(',').filter(|k| !k.is_empty()).map(str::to_string).collect();
        // `all` is a category the server declares (pods, services, deployments ...).
        if kinds.iter().any(|k| k == "all") {
            let catalog = conn.catalog().await?;
            let all: Vec<String> = catalog.category("all").iter().map(|k| k.full_name()).collect();
            kinds = kinds.into_iter().flat_map(|k| if k == "all" { all.clone() } else { vec![k] }).collect();
        }
        if kinds.len() > 1 || self.what.kind.split(',').any(|k| k == "all") {
            let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
            return self.several(cx, &conn, &ns, &kinds).await;
        }
        let (kind, mut objects) = self.what.fetch(&conn, &ns, &self.what.kind).await?;
        self.sort(&mut objects)?;
        let single = self.what.names.len() == 1;
        if let Some(var) = &self.into {
            return bind(cx, var, Some(&kind), objects, single, &ns).await;
        }
        if objects.is_empty() && matches!(self.output, Output::Table | Output::Wide | Output::Name | Output::Columns(_)) {
            return result(self.what.nothing_found(&kind, &ns));
        }
        let bundle = match &self.output {
            Output::Table | Output::Wide => {
                let with_ns = self.what.all_namespaces && kind.namespaced;
                self.table_of(&conn, &ns, &kind, &objects, with_ns).await.bundle()
            }
            Output::Yaml => yaml_bundle(&as_document(objects, single)),
            Output::Json => json_bundle(&as_document(objects, single)),
            Output::Name => names_bundle(&kind.kind, &kind.group, &objects),
            Output::JsonPath(template) => jsonpath_bundle(template, &as_document(objects, single))?,
            Output::Columns(columns) => self.columns(columns, &objects)?.bundle(),
        };
        result(bundle)
    }
}

impl Options {
    /// kubectl's columns: ours for the common kinds, the server's own printing for the others
    /// (jobs, cronjobs, statefulsets, custom resources ...), as kubectl asks for it.
    async fn table_of(&self, conn: &Conn, ns: &str, kind: &Kind, objects: &[Value], with_ns: bool) -> Table {
        let mut t = self.columns_of(conn, ns, kind, objects, with_ns).await;
        self.decorate(&mut t, objects, with_ns);
        t
    }

    /// `--show-labels`, `-L KEY` and `--no-headers`, on any table of objects.
    fn decorate(&self, t: &mut Table, objects: &[Value], with_ns: bool) {
        if !self.label_columns.is_empty() || self.show_labels {
            let name_col = usize::from(with_ns);
            let by_name: std::collections::HashMap<(String, String), &Value> = objects
                .iter()
                .map(|o| ((o["metadata"]["namespace"].as_str().unwrap_or_default().to_string(), name_of(o)), o))
                .collect();
            for key in &self.label_columns {
                t.headers.push(key.rsplit('/').next().unwrap_or(key).to_uppercase());
            }
            if self.show_labels {
                t.headers.push("LABELS".into());
            }
            for row in &mut t.rows {
                let ns = if with_ns { row[0].clone() } else { String::new() };
                let o = by_name
                    .get(&(ns.clone(), row[name_col].clone()))
                    .or_else(|| by_name.iter().find(|((_, n), _)| *n == row[name_col]).map(|(_, o)| o));
                let labels = o.map(|o| &o["metadata"]["labels"]);
                for key in &self.label_columns {
                    row.push(labels.and_then(|l| l[key.as_str()].as_str()).unwrap_or_default().to_string());
                }
                if self.show_labels {
                    let text = labels.map(labels_text).unwrap_or_default();
                    row.push(if text.is_empty() { "<none>".into() } else { text });
                }
            }
        }
        t.no_headers = self.no_headers;
    }

    /// `--sort-by PATH`: numbers as numbers, everything else as text, missing values first.
    fn sort(&self, objects: &mut [Value]) -> Result<(), MagicError> {
        let Some(path) = &self.sort_by else { return Ok(()) };
        let key = |o: &Value| -> Result<(Option<f64>, String), MagicError> {
            let found = jsonpath::select(o, path).map_err(|e| MagicError::usage(format!("%k8s get: --sort-by: {e}")))?;
            let v = found.first().copied();
            Ok((v.and_then(Value::as_f64), v.map(jsonpath::text_of).unwrap_or_default()))
        };
        let mut keyed: Vec<((Option<f64>, String), Value)> =
            objects.iter().map(|o| key(o).map(|k| (k, o.clone()))).collect::<Result<_, _>>()?;
        // Numbers before text, each in its own order: a total order whatever the values are.
        keyed.sort_by(|(a, _), (b, _)| match (a.0, b.0) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.1.cmp(&b.1),
        });
        for (slot, (_, o)) in objects.iter_mut().zip(keyed) {
            *slot = o;
        }
        Ok(())
    }

    /// `-o custom-columns=HEADER:PATH,...`: several values of one path are joined by commas.
    fn columns(&self, columns: &[(String, String)], objects: &[Value]) -> Result<Table, MagicError> {
        let headers: Vec<&str> = columns.iter().map(|(h, _)| h.as_str()).collect();
        let mut t = Table::new(&headers);
        for o in objects {
            let mut row = Vec::new();
            for (_, path) in columns {
                let found = jsonpath::select(o, path).map_err(|e| MagicError::usage(format!("%k8s get: custom-columns: {e}")))?;
                let text = found.into_iter().map(jsonpath::text_of).collect::<Vec<_>>().join(",");
                row.push(if text.is_empty() { "<none>".into() } else { text });
            }
            t.rows.push(row);
        }
        t.no_headers = self.no_headers;
        Ok(t)
    }

    async fn columns_of(&self, conn: &Conn, ns: &str, kind: &Kind, objects: &[Value], with_ns: bool) -> Table {
        let wide = self.output == Output::Wide;
        let own = OWN_COLUMNS.contains(&kind.plural.as_str()) && matches!(kind.group.as_str(), "" | "apps" | "autoscaling");
        if !own {
            let scope = if self.what.all_namespaces || !kind.namespaced { None } else { Some(ns) };
            if let Ok(printed) = server_table(conn, kind, scope, self.what.selector.as_deref(), self.what.fields.as_deref()).await {
                let key = |o: &Value| (o["metadata"]["namespace"].as_str().map(str::to_string), name_of(o));
                let wanted: HashSet<_> = objects.iter().map(key).collect();
                let mut t = from_server(&printed, wide, with_ns, |o| wanted.contains(&key(o)));
                // The rows in the order of the objects (which --sort-by may have set).
                let name_col = usize::from(with_ns);
                let order: std::collections::HashMap<String, usize> =
                    objects.iter().enumerate().map(|(i, o)| (name_of(o), i)).collect();
                t.rows.sort_by_key(|r| order.get(&r[name_col]).copied().unwrap_or(usize::MAX));
                return t;
            }
        }
        // A server that cannot print a table gets NAME and AGE.
        table(&kind.plural, objects, wide, with_ns, Utc::now())
    }

    /// `get -w`: the table shown once and replaced in place as the cluster changes, at most
    /// every 250 ms, until `--timeout` or an interrupt.
    async fn watch(&self, conn: &Arc<Conn>, ns: &str, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
        let kind = conn.kind(&self.what.kind).await?;
        let all = self.what.all_namespaces;
        let api = api_for(conn, &kind, if all { None } else { Some(ns) });
        let mut config = Config::default();
        if let Some(sel) = &self.what.selector {
            config = config.labels(sel);
        }
        let fields: Vec<String> =
            self.what.names.first().map(|n| format!("metadata.name={n}")).into_iter().chain(self.what.fields.clone()).collect();
        if !fields.is_empty() {
            config = config.fields(&fields.join(","));
        }
        let with_ns = all && kind.namespaced;
        let where_ = if kind.namespaced && !all { format!(" in {ns}") } else { String::new() };
        let mut watch = Watch::new(conn.clone())
            .until(self.timeout.map(|t| Instant::now() + t))
            .tick(Duration::from_millis(250));
        let set = watch.add(&kind.plural, api, kind.api_resource(), config);
        let mut live: Option<LiveLine> = None;
        // Changes are drawn at most every 250 ms: a kind printed by the server costs a request.
        let mut drawn_at: Option<Instant> = None;
        let mut dirty = false;
        loop {
            let wake = watch.next().await?;
            dirty |= wake == Wake::Changed;
            let due = drawn_at.is_none_or(|t| t.elapsed() >= Duration::from_millis(250));
            if !(wake == Wake::Deadline || (dirty && due)) {
                continue;
            }
            let mut objects: Vec<Value> = watch.objects(set).into_iter().cloned().collect();
            self.sort(&mut objects)?;
            // The same table as without -w: kubectl's columns, -L, --show-labels, --no-headers.
            let t = match &self.output {
                Output::Columns(columns) => self.columns(columns, &objects)?,
                _ => self.table_of(conn, ns, &kind, &objects, with_ns).await,
            };
            let state = match wake {
                Wake::Deadline => self.timeout.map(|t| format!("stopped after {}", human_duration(t.as_secs() as i64))).unwrap_or_default(),
                _ => "live".to_string(),
            };
            let n = objects.len();
            let line = format!("watching {}{where_}: {n} {} ({state})", kind.plural, if n == 1 { "object" } else { "objects" });
            let view = MimeBundle::plain(format!("{}{line}\n", t.to_text()))
                .with("text/html", format!("{}<div><i>{}</i></div>", t.to_html(), escape_html(&line)));
            drawn_at = Some(Instant::now());
            dirty = false;
            match (live.as_mut(), wake) {
                (Some(l), Wake::Deadline) => {
                    l.finish(view);
                    return Ok(MagicOutput::None);
                }
                (None, Wake::Deadline) => {
                    sink.display(view, None);
                    return Ok(MagicOutput::None);
                }
                (Some(l), _) => l.show(view),
                (None, _) => live = Some(LiveLine::new(sink, view)),
            }
        }
    }

    /// `get deploy,svc,pods`: one table per kind (names as kind/name, as kubectl does), or one List.
    async fn several(&self, cx: &Cx<'_>, conn: &Conn, ns: &str, kinds: &[&str]) -> Result<MagicOutput, MagicError> {
        if !self.what.names.is_empty() {
            return Err(MagicError::usage("%k8s get: names go with one kind; write KIND NAME or KIND/NAME"));
        }
        let mut all = Vec::new();
        let mut text = String::new();
        let mut html = String::new();
        for typed in kinds {
            let (kind, objects) = self.what.fetch(conn, ns, typed).await?;
            if objects.is_empty() {
                continue;
            }
            match &self.output {
                _ if self.into.is_some() => all.extend(objects),
                Output::Table | Output::Wide => {
                    let with_ns = self.what.all_namespaces && kind.namespaced;
                    let mut t = self.table_of(conn, ns, &kind, &objects, with_ns).await;
                    let col = usize::from(with_ns);
                    for row in &mut t.rows {
                        row[col] = format!("{}/{}", kind_ref(&kind), row[col]);
                    }
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&t.to_text());
                    html.push_str(&t.to_html());
                }
                Output::Name => text.push_str(names_bundle(&kind.kind, &kind.group, &objects).text().unwrap_or_default()),
                Output::Yaml | Output::Json | Output::JsonPath(_) | Output::Columns(_) => all.extend(objects),
            }
        }
        if let Some(var) = &self.into {
            return bind(cx, var, None, all, false, ns).await;
        }
        match &self.output {
            Output::JsonPath(template) => result(jsonpath_bundle(template, &as_document(all, false))?),
            Output::Columns(columns) => result(self.columns(columns, &all)?.bundle()),
            Output::Yaml => result(yaml_bundle(&as_document(all, false))),
            Output::Json => result(json_bundle(&as_document(all, false))),
            _ if text.is_empty() => {
                let t = if self.what.all_namespaces {
                    "No resources found.".to_string()
                } else {
                    format!("No resources found in {ns} namespace.")
                };
                result(MimeBundle::plain(t))
            }
            Output::Name => result(MimeBundle::plain(text)),
            _ => result(MimeBundle::plain(text).with("text/html", html)),
        }
    }
}

/// `--into VAR`: the objects become the notebook's variable, typed by k8s-openapi when the
/// notebook has that crate and the objects are of one built-in kind.
async fn bind(cx: &Cx<'_>, var: &str, kind: Option<&Kind>, objects: Vec<Value>, single: bool, ns: &str) -> Result<MagicOutput, MagicError> {
    let has_openapi = cx.notebook.snapshot().dependencies.iter().any(|d| d.name == "k8s-openapi" || d.name == "k8s_openapi");
    let item = kind.filter(|_| has_openapi).and_then(Kind::openapi_type).unwrap_or_else(|| "serde_json::Value".to_string());
    let count = objects.len();
    // One name asked for: the object itself; otherwise a Vec, even of one.
    let (type_name, json) = match objects.as_slice() {
        [one] if single => (item, one.to_string()),
        _ => (format!("Vec<{item}>"), Value::Array(objects).to_string()),
    };
    let type_name = match cx.notebook.bind(var, &type_name, json.clone()).await {
        Ok(()) => type_name,
        // A kind k8s-openapi has no type for (a group it does not carry): still the objects.
        Err(why) if !type_name.contains("serde_json::Value") => {
            cx.sink.stream(output::StreamName::Stderr, &format!("note: {why}; {var} holds them as serde_json::Value instead\n"));
            let plain = if type_name.starts_with("Vec<") { "Vec<serde_json::Value>" } else { "serde_json::Value" }.to_string();
            cx.notebook.bind(var, &plain, json).await.map_err(|e| MagicError::new("BindError", e))?;
            plain
        }
        Err(why) => return Err(MagicError::new("BindError", why)),
    };
    let what = match kind {
        Some(k) if count == 1 => k.singular.clone(),
        Some(k) => k.plural.clone(),
        None => "objects".to_string(),
    };
    let line = format!("{var}: {type_name} = {count} {what} from {ns}");
    result(MimeBundle::plain(line.clone()).with("text/html", format!("<code>{}</code>", escape_html(&line))))
}

/// `-o jsonpath=TEMPLATE` filled from the object or the List of them.
fn jsonpath_bundle(template: &str, doc: &Value) -> Result<MimeBundle, MagicError> {
    let text = jsonpath::render(template, doc).map_err(|e| MagicError::usage(format!("%k8s get: -o jsonpath: {e}")))?;
    Ok(MimeBundle::plain(text))
}

#[cfg(test)]
mod tests {
    use super::super::flags::parse;
    use super::*;

    fn p(line: &str) -> Result<Options, UsageError> {
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        Options::read(&mut parse("get", Get.flags(), false, &args)?)
    }

    #[test]
    fn get_with_flags() {
        let a = p("po -n kube-system -l app=web -o wide").unwrap();
        assert_eq!(a.what.kind, "po");
        assert_eq!(a.what.scope.namespace.as_deref(), Some("kube-system"));
        assert_eq!(a.what.selector.as_deref(), Some("app=web"));
        assert_eq!(a.output, Output::Wide);
        assert!(p("").unwrap_err().0.contains("which kind?"));
        assert!(p("pods -A").unwrap().what.all_namespaces);
    }

    #[test]
    fn watch_flags() {
        let a = p("pods -w --timeout 30s").unwrap();
        assert!(a.watch);
        assert_eq!(a.timeout, Some(Duration::from_secs(30)));
        assert_eq!(p("pods -w --timeout=1m30s").unwrap().timeout, Some(Duration::from_secs(90)));
        assert_eq!(p("pods -w --timeout 5").unwrap().timeout, Some(Duration::from_secs(5)));
        assert!(p("pods -w --timeout soon").unwrap_err().0.contains("not a duration"));
        assert!(p("pods -w -o yaml").unwrap_err().0.contains("live table"));
        assert!(p("pods --timeout 5s").unwrap_err().0.contains("goes with -w"));
        assert!(p("pods,svc -w").is_err());
    }

    #[test]
    fn kind_slash_name() {
        let a = p("deploy/web").unwrap();
        assert_eq!((a.what.kind.as_str(), a.what.names.as_slice()), ("deploy", &["web".to_string()][..]));
        let a = p("pod/a pod/b").unwrap();
        assert_eq!(a.what.names, ["a", "b"]);
        assert!(p("pod/a svc/b").is_err());
    }
}
