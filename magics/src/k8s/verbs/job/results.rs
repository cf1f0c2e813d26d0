//! What the notebook gets when a job ends: every rank's value kept for
//! `kubernel::last_results()`, the values in a notebook variable (`--into`: a `Vec` in rank
//! order, or the master's value for a connected job), or the failures named, a panic at the
//! cell's own line.

use super::follow::Row;
use super::{Options, Cx};
use crate::framework::registry::{MagicError, MagicOutput};
use kubernel::protocol;
use output::{escape_html, MimeBundle, StreamName};
use serde_json::Value;

/// After the job: the results into the notebook, or the failures named.
pub(super) async fn finish(
    cx: &Cx<'_>,
    o: &Options,
    ns: &str,
    rows: Vec<Row>,
    on_cell: &(dyn Fn(&str) -> Option<(usize, usize)> + Sync),
) -> Result<MagicOutput, MagicError> {
    let type_name = rows.iter().find_map(|r| r.result.as_ref().map(|(_, t)| notebook_type(t)));
    let values: Vec<Value> = rows.iter().map(|r| r.result.as_ref().map(|(v, _)| v.clone()).unwrap_or(Value::Null)).collect();
    // Kept for kubernel::last_results() in a later cell, failed indexes as null.
    let kept = protocol::last_results_path(std::process::id());
    if let Some(dir) = kept.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(&kept, Value::Array(values.clone()).to_string());
    // In a connected job only the master's value counts; a worker that failed cost its
    // items in flight, which others took over.
    let counted: Vec<usize> = if o.connected { vec![0] } else { (0..rows.len()).collect() };
    let failed: Vec<(usize, &(String, String))> = counted.iter().filter_map(|&i| rows[i].failure.as_ref().map(|f| (i, f))).collect();
    let (one, many) = if o.procs > 1 { ("rank", "ranks") } else { ("index", "indexes") };
    if o.connected {
        let lost: Vec<String> = rows.iter().enumerate().skip(1).filter(|(_, r)| r.failure.is_some()).map(|(i, _)| i.to_string()).collect();
        if failed.is_empty() && !lost.is_empty() {
            cx.sink.stream(StreamName::Stderr, &format!("note: worker {many} {} failed; the master's result is whole (pmap gives a lost worker's items to others)\n", lost.join(", ")));
        }
    }
    if !failed.is_empty() {
        let cause = failed[0].1 .0.clone();
        let mut message = if o.connected {
            format!("job {}: the master (rank 0) failed, and its workers were stopped", o.name)
        } else {
            format!(
                "job {}: {} of {} {many} failed ({})",
                o.name,
                failed.len(),
                rows.len(),
                failed.iter().map(|(i, _)| i.to_string()).collect::<Vec<_>>().join(", ")
            )
        };
        for (i, (why, detail)) in &failed {
            let line = match panic_message(detail) {
                Some((location, text)) => {
                    let at = match on_cell(&location) {
                        Some((line, column)) => format!("cell line {line}, column {column}"),
                        None => location,
                    };
                    format!("panic at {at}: {}", text.replace('\n', "\n    "))
                }
                None => format!("{why}: {}", detail.trim().replace('\n', "\n    ")),
            };
            message.push_str(&format!("\n  {one} {i}: {line}"));
        }
        let ok = rows.len() - failed.len();
        if ok > 0 && !o.connected {
            message.push_str(&format!("\nthe {ok} other results are in the table above and in kubernel::last_results()"));
        }
        message.push_str(&format!("\n(%k8s logs job/{} -n {ns} shows all; %k8s delete job/{} removes it)", o.name, o.name));
        return Err(MagicError::new(&cause, message));
    }
    let Some(var) = &o.into else { return Ok(MagicOutput::None) };
    let item = type_name.unwrap_or_else(|| "serde_json::Value".to_string());
    let (json, typed) = if o.connected {
        (values[0].to_string(), item.clone())
    } else {
        (Value::Array(values).to_string(), format!("Vec<{item}>"))
    };
    let bound = match cx.notebook.bind(var, &typed, json.clone()).await {
        Ok(()) => typed,
        // A type the notebook cannot name (from a crate it lacks): still the values.
        Err(why) if item != "serde_json::Value" => {
            cx.sink.stream(StreamName::Stderr, &format!("note: {why}; {var} holds them as serde_json::Value instead\n"));
            let fallback = if o.connected { "serde_json::Value" } else { "Vec<serde_json::Value>" }.to_string();
            cx.notebook.bind(var, &fallback, json).await.map_err(|e| MagicError::new("BindError", e))?;
            fallback
        }
        Err(why) => return Err(MagicError::new("BindError", why)),
    };
    let line = if o.connected {
        format!("{var}: {bound} = the master's result of job {} ({} ranks)", o.name, rows.len())
    } else {
        format!("{var}: {bound} = {} results of job {}", rows.len(), o.name)
    };
    Ok(MagicOutput::Result(MimeBundle::plain(line.clone()).with("text/html", format!("<code>{}</code>", escape_html(&line)))))
}

/// A panic's location and message from the last lines a pod wrote:
/// `thread 'main' panicked at src/main.rs:9:1:` then the message, then the backtrace note.
pub(super) fn panic_message(tail: &str) -> Option<(String, String)> {
    let at = tail.find("panicked at ")?;
    let mut lines = tail[at + "panicked at ".len()..].lines();
    let location = lines.next()?.trim_end_matches(':').to_string();
    let text: Vec<&str> = lines.take_while(|l| !l.starts_with("note: run with `RUST_BACKTRACE")).take(4).collect();
    Some((location, text.join("\n")))
}

/// `std::any::type_name` as the notebook writes the type: the program's own items by their
/// names, std's types by their public paths.
pub fn notebook_type(type_name: &str) -> String {
    const PUBLIC: &[(&str, &str)] = &[
        ("alloc::string::String", "String"),
        ("alloc::vec::Vec", "Vec"),
        ("alloc::boxed::Box", "Box"),
        ("core::option::Option", "Option"),
        ("core::result::Result", "Result"),
        ("std::collections::hash::map::HashMap", "std::collections::HashMap"),
        ("std::collections::hash::set::HashSet", "std::collections::HashSet"),
        ("alloc::collections::btree::map::BTreeMap", "std::collections::BTreeMap"),
        ("alloc::collections::btree::set::BTreeSet", "std::collections::BTreeSet"),
        ("alloc::collections::vec_deque::VecDeque", "std::collections::VecDeque"),
        ("serde_json::value::Value", "serde_json::Value"),
    ];
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let w = word.strip_prefix(&format!("{}::", programs::CRATE)).unwrap_or(word);
        out.push_str(PUBLIC.iter().find(|(from, _)| *from == w).map_or(w, |(_, to)| to));
        word.clear();
    };
    for c in type_name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    // A borrowed str comes back owned.
    out.replace("&'static str", "String").replace("&str", "String")
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_as_the_notebook_writes_them() {
        assert_eq!(notebook_type("u64"), "u64");
        assert_eq!(notebook_type("alloc::vec::Vec<(u32, alloc::string::String)>"), "Vec<(u32, String)>");
        assert_eq!(notebook_type("kubernel_job::Point"), "Point");
        assert_eq!(notebook_type("core::option::Option<kubernel_job::Stats>"), "Option<Stats>");
        assert_eq!(notebook_type("std::collections::hash::map::HashMap<alloc::string::String, f64>"), "std::collections::HashMap<String, f64>");
        assert_eq!(notebook_type("&str"), "String");
        assert_eq!(notebook_type("()"), "()");
    }

    #[test]
    fn failed_indexes_and_panics() {
        let tail = "working\nthread 'main' panicked at src/main.rs:9:1:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace";
        assert_eq!(panic_message(tail).unwrap(), ("src/main.rs:9:1".to_string(), "boom".to_string()));
    }
}
