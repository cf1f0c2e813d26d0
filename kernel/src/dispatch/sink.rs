//! The output sink of one request: turns stream text and displays into iopub messages whose
//! parent is that request (or drops them, for a silent request). It also enforces the cap on a
//! cell's output (`output::limit`): past it, output is counted and left out, and notes on stderr
//! say so, where it stopped and at the end of the cell.

use super::Replier;
use crate::transport::Message;
use output::limit::{bundle_bytes, final_note, stop_note, Meter};
use output::{MimeBundle, OutputLimit, OutputSink, StreamName};
use serde_json::json;
use std::sync::{Arc, Mutex};

pub struct IopubSink {
    replier: Replier,
    parent: Message,
    limit: Arc<OutputLimit>,
    meter: Mutex<Meter>,
}

impl IopubSink {
    pub fn new(replier: Replier, parent: &Message, limit: Arc<OutputLimit>) -> Self {
        // Only the header matters for children; drop the request's content and buffers.
        let parent = Message { content: json!({}), buffers: Vec::new(), ..parent.clone() };
        Self { replier, parent, limit, meter: Mutex::new(Meter::new()) }
    }

    /// The cell has ended: says how much was left out, if anything. Returns how many bytes of
    /// output the cell made, sent or not.
    pub fn finish(&self) -> u64 {
        let (sent, left_out) = {
            let meter = self.meter.lock().unwrap();
            (meter.sent(), meter.left_out())
        };
        if left_out > 0 {
            self.publish_stream(StreamName::Stderr, &final_note(self.limit.get(), sent, left_out));
        }
        sent + left_out
    }

    fn publish_stream(&self, name: StreamName, text: &str) {
        self.replier.publish(&self.parent, "stream", json!({ "name": name.as_str(), "text": text }));
    }

    fn note_stop(&self, after: &str) {
        let cap = self.limit.get().unwrap_or_default();
        // The note starts a line even when the cut fell inside one (a terminal shows both
        // streams in one flow).
        let lead = if after.is_empty() || after.ends_with('\n') { "" } else { "\n" };
        self.publish_stream(StreamName::Stderr, &format!("{lead}{}", stop_note(cap)));
    }
}

impl OutputSink for IopubSink {
    fn stream(&self, name: StreamName, text: &str) {
        if text.is_empty() {
            return;
        }
        let admitted = self.meter.lock().unwrap().admit(text, self.limit.get());
        if !admitted.text.is_empty() {
            self.publish_stream(name, admitted.text);
        }
        if admitted.stopped_here {
            self.note_stop(admitted.text);
        }
    }

    fn display(&self, bundle: MimeBundle, display_id: Option<&str>) {
        // A display stays in the notebook as a stream does, so it counts against the cap too.
        let whole = self.meter.lock().unwrap().admit_whole(bundle_bytes(&bundle), self.limit.get());
        if whole.send {
            let transient = match display_id {
                Some(id) => json!({ "display_id": id }),
                None => json!({}),
            };
            self.replier.publish(
                &self.parent,
                "display_data",
                json!({ "data": bundle.data, "metadata": bundle.metadata, "transient": transient }),
            );
        }
        if whole.stopped_here {
            self.note_stop("");
        }
    }

    // An update replaces a display in place, so it adds nothing to what the notebook holds: it
    // is not counted, and live progress (`get -w`, rollouts) goes on however long it runs.
    fn update_display(&self, bundle: MimeBundle, display_id: &str) {
        self.replier.publish(
            &self.parent,
            "update_display_data",
            json!({ "data": bundle.data, "metadata": bundle.metadata, "transient": { "display_id": display_id } }),
        );
    }

    fn clear_output(&self, wait: bool) {
        // What the cell shows starts again from nothing, so does its count.
        self.meter.lock().unwrap().cleared();
        self.replier.publish(&self.parent, "clear_output", json!({ "wait": wait }));
    }

    fn output_limit(&self) -> Option<&OutputLimit> {
        Some(&self.limit)
    }
}

/// The sink of a silent execute: its output is dropped. It still carries the cap, so that
/// `%output_limit` works from a frontend's silent request too.
pub struct SilentSink {
    limit: Arc<OutputLimit>,
}

impl SilentSink {
    pub fn new(limit: Arc<OutputLimit>) -> Self {
        Self { limit }
    }
}

impl OutputSink for SilentSink {
    fn stream(&self, _name: StreamName, _text: &str) {}
    fn display(&self, _bundle: MimeBundle, _display_id: Option<&str>) {}
    fn update_display(&self, _bundle: MimeBundle, _display_id: &str) {}
    fn clear_output(&self, _wait: bool) {}
    fn output_limit(&self) -> Option<&OutputLimit> {
        Some(&self.limit)
    }
}
