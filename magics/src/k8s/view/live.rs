//! Live displays: one output shown once and then replaced in place (update_display_data) as
//! things change, at most every 250 ms. If the cell stops (interrupted, or an error) before the
//! display's last word, the display says so instead of looking live for ever.

use output::{MimeBundle, OutputSink};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const MIN_INTERVAL: Duration = Duration::from_millis(250);

pub struct LiveLine {
    sink: Arc<dyn OutputSink>,
    id: String,
    last: Option<Instant>,
    /// The newest bundle not yet sent (updates come faster than MIN_INTERVAL).
    pending: Option<MimeBundle>,
    /// The bundle on screen.
    shown: MimeBundle,
    done: bool,
}

impl LiveLine {
    pub fn new(sink: &Arc<dyn OutputSink>, first: MimeBundle) -> Self {
        let id = format!("k8s-live-{}", uuid::Uuid::new_v4());
        sink.display(first.clone(), Some(&id));
        Self { sink: sink.clone(), id, last: Some(Instant::now()), pending: None, shown: first, done: false }
    }

    /// Replaces the display, or keeps the bundle for the next chance if it changed very lately.
    pub fn update(&mut self, bundle: MimeBundle) {
        if self.last.is_some_and(|t| t.elapsed() < MIN_INTERVAL) {
            self.pending = Some(bundle);
            return;
        }
        self.show(bundle);
    }

    /// Replaces the display at once.
    pub fn show(&mut self, bundle: MimeBundle) {
        self.sink.update_display(bundle.clone(), &self.id);
        self.last = Some(Instant::now());
        self.pending = None;
        self.shown = bundle;
    }

    /// The display's last state: what it says stays.
    pub fn finish(&mut self, bundle: MimeBundle) {
        self.show(bundle);
        self.done = true;
    }

    pub fn flush(&mut self) {
        if let Some(b) = self.pending.take() {
            self.show(b);
        }
    }
}

/// The bundle with a note added to each of its text forms.
pub fn with_note(bundle: &MimeBundle, note: &str) -> MimeBundle {
    let mut out = bundle.clone();
    if let Some(text) = bundle.data.get("text/plain").and_then(|v| v.as_str()) {
        out = out.with("text/plain", format!("{}\n({note})", text.trim_end()));
    }
    if let Some(html) = bundle.data.get("text/html").and_then(|v| v.as_str()) {
        out = out.with("text/html", format!("{html}<div><i>({})</i></div>", output::escape_html(note)));
    }
    out
}

impl Drop for LiveLine {
    fn drop(&mut self) {
        if !self.done {
            let last = self.pending.take().unwrap_or_else(|| self.shown.clone());
            self.sink.update_display(with_note(&last, "stopped"), &self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use output::{RecordingSink, SinkEvent};

    #[test]
    fn an_unfinished_display_says_it_was_stopped() {
        let rec = Arc::new(RecordingSink::default());
        let sink: Arc<dyn OutputSink> = rec.clone();
        {
            let mut live = LiveLine::new(&sink, MimeBundle::plain("1 of 3"));
            live.update(MimeBundle::plain("2 of 3")); // too soon: kept
        }
        let events = rec.take();
        let SinkEvent::Update(last, _) = events.last().unwrap() else { panic!("{events:?}") };
        assert_eq!(last.text(), Some("2 of 3\n(stopped)"));
        {
            let mut live = LiveLine::new(&sink, MimeBundle::plain("a"));
            live.finish(MimeBundle::plain("done"));
        }
        let events = rec.take();
        assert!(matches!(events.last(), Some(SinkEvent::Update(b, _)) if b.text() == Some("done")), "{events:?}");
    }
}
