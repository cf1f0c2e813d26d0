//! Waiting, visibly, until deleted objects are gone, as `kubectl delete` waits: one live line
//! naming what is left. A timeout is a note, not an error (the cluster finishes the deletions).

use super::{WaitError, Wake, Watch};
use crate::k8s::cluster::objects::{api_for, kind_ref};
use crate::k8s::cluster::{ClusterError, Conn, Kind};
use crate::k8s::view::{name_of, note, LiveLine};
use kube::runtime::watcher::Config;
use output::{MimeBundle, OutputSink, StreamName};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Waits until no object of `kinds` matching `selector` is left (in any namespace), for at most
/// `limit`; `deleted` is how many there were.
pub async fn until_gone(
    conn: &Arc<Conn>,
    kinds: &[Kind],
    selector: &str,
    deleted: usize,
    limit: Duration,
    sink: &Arc<dyn OutputSink>,
) -> Result<(), ClusterError> {
    let started = Instant::now();
    let mut watch = Watch::new(conn.clone()).until(Some(started + limit)).tick(Duration::from_millis(500));
    let sets: Vec<(usize, &Kind)> = kinds
        .iter()
        .map(|k| (watch.add_soft(&k.plural, api_for(conn, k, None), k.api_resource(), Config::default().labels(selector)), k))
        .collect();
    let line = |left: &[(String, String)], extra: &str| {
        let names: Vec<String> = left.iter().take(6).map(|(k, n)| format!("{k}/{n}")).collect();
        let more = if left.len() > 6 { format!(" and {} more", left.len() - 6) } else { String::new() };
        note(&format!("waiting for {} of {deleted} to be gone: {}{more}{extra}", left.len(), names.join(", ")))
    };
    let mut live: Option<LiveLine> = None;
    loop {
        let wake = watch.next().await?;
        let left: Vec<(String, String)> =
            sets.iter().flat_map(|(set, k)| watch.objects(*set).into_iter().map(|o| (kind_ref(k), name_of(o)))).collect();
        let secs = started.elapsed().as_secs_f64();
        if wake != Wake::Deadline && left.is_empty() {
            let done = format!("all {deleted} gone in {secs:.1} s");
            match live.as_mut() {
                Some(l) => l.finish(MimeBundle::plain(done.clone()).with("text/html", format!("<i>{done}</i>"))),
                None => sink.stream(StreamName::Stdout, &format!("{done}\n")),
            }
            return Ok(());
        }
        if wake == Wake::Deadline {
            if let Some(l) = live.as_mut() {
                l.finish(line(&left, " (still going; the cluster finishes it)"));
            }
            sink.stream(
                StreamName::Stderr,
                &format!(
                    "note: {} objects were still being deleted after {} s; %k8s owned shows them\n",
                    left.len(),
                    limit.as_secs()
                ),
            );
            return Ok(());
        }
        let view = line(&left, &format!(" ({secs:.0} s)"));
        match live.as_mut() {
            Some(l) => l.update(view),
            None => live = Some(LiveLine::new(sink, view)),
        }
    }
}

/// Waits, visibly, until the earlier object of this name is gone (at most a minute), so that a
/// new one can take the name: a cell run again replaces what it made the last time.
pub async fn until_name_gone(conn: &Arc<Conn>, kind: &Kind, ns: &str, name: &str, sink: &Arc<dyn OutputSink>) -> Result<(), WaitError> {
    let limit = Duration::from_secs(60);
    let what = format!("{}/{name}", kind_ref(kind));
    let mut watch = Watch::new(conn.clone()).until(Some(Instant::now() + limit)).tick(Duration::from_millis(500));
    let set = watch.add(&kind.plural, api_for(conn, kind, Some(ns)), kind.api_resource(), Config::default().fields(&format!("metadata.name={name}")));
    let mut live: Option<LiveLine> = None;
    loop {
        let wake = watch.next().await?;
        if watch.objects(set).is_empty() {
            if let Some(l) = live.as_mut() {
                l.finish(note(&format!("the earlier {what} is gone")));
            }
            return Ok(());
        }
        if wake == Wake::Deadline {
            return Err(WaitError::failed("Timeout", format!("{what} was still being deleted after 60 s")));
        }
        let line = note(&format!("waiting for the earlier {what} to be deleted"));
        match live.as_mut() {
            Some(l) => l.update(line),
            None => live = Some(LiveLine::new(sink, line)),
        }
    }
}
