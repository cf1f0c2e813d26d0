//! The output sink of one request: turns stream text and displays into iopub messages whose
//! parent is that request (or drops them, for a silent request).

use super::Replier;
use crate::transport::Message;
use output::{MimeBundle, OutputSink, StreamName};
use serde_json::json;

pub struct IopubSink {
    replier: Replier,
    parent: Message,
}

impl IopubSink {
    pub fn new(replier: Replier, parent: &Message) -> Self {
        // Only the header matters for children; drop the request's content and buffers.
        let parent = Message { content: json!({}), buffers: Vec::new(), ..parent.clone() };
        Self { replier, parent }
    }
}

impl OutputSink for IopubSink {
    fn stream(&self, name: StreamName, text: &str) {
        if text.is_empty() {
            return;
        }
        self.replier.publish(&self.parent, "stream", json!({ "name": name.as_str(), "text": text }));
    }

    fn display(&self, bundle: MimeBundle, display_id: Option<&str>) {
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

    fn update_display(&self, bundle: MimeBundle, display_id: &str) {
        self.replier.publish(
            &self.parent,
            "update_display_data",
            json!({ "data": bundle.data, "metadata": bundle.metadata, "transient": { "display_id": display_id } }),
        );
    }

    fn clear_output(&self, wait: bool) {
        self.replier.publish(&self.parent, "clear_output", json!({ "wait": wait }));
    }
}

/// The sink of a silent execute: its output is dropped.
pub struct SilentSink;

impl OutputSink for SilentSink {
    fn stream(&self, _name: StreamName, _text: &str) {}
    fn display(&self, _bundle: MimeBundle, _display_id: Option<&str>) {}
    fn update_display(&self, _bundle: MimeBundle, _display_id: &str) {}
    fn clear_output(&self, _wait: bool) {}
}
