//! The in-band display markers: how a program whose stdout reaches a cell asks for rich output.
//! Rust cells print them (through evcxr's child) and so will programs running in pods; the
//! kernel's output pump decodes them. One codec, so that both sides always agree.
//!
//! ```text
//! KUBERNEL_BEGIN_CONTENT <mime> [display_id=<id>] [update]
//! ...content lines...
//! KUBERNEL_END_CONTENT
//! KUBERNEL_CLEAR_OUTPUT [wait]
//! ```

use serde_json::Value;

pub const BEGIN: &str = "KUBERNEL_BEGIN_CONTENT";
pub const END: &str = "KUBERNEL_END_CONTENT";
pub const CLEAR: &str = "KUBERNEL_CLEAR_OUTPUT";
/// One display in several representations at once (a chart as SVG and its text form, say): the
/// block's body is a JSON object from MIME type to content.
pub const BUNDLE: &str = "application/vnd.kubernel.bundle+json";

/// The body of a `BUNDLE` block: one line of JSON, so no line of it can read as the end marker.
pub fn bundle_body<B: AsRef<str>>(parts: &[(&str, B)]) -> String {
    let map: serde_json::Map<String, Value> = parts.iter().map(|(m, b)| (m.to_string(), Value::String(b.as_ref().to_string()))).collect();
    Value::Object(map).to_string()
}

/// What one line of output means, once decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An ordinary line of output, without its newline.
    Text(String),
    /// A finished content block: shown, or (with `update`) replacing the display of its id.
    Display { mime: String, display_id: Option<String>, update: bool, body: String },
    Clear { wait: bool },
}

/// A content block: shown once, or replacing an earlier one with the same id.
pub fn display(mime: &str, body: &str, display_id: Option<&str>) -> String {
    block(mime, body, display_id, false)
}

/// A content block that replaces the display `display_id` in place.
pub fn update(mime: &str, body: &str, display_id: &str) -> String {
    block(mime, body, Some(display_id), true)
}

/// Clears the cell's output; with `wait`, only when the next output arrives (no flicker).
pub fn clear(wait: bool) -> String {
    if wait { format!("{CLEAR} wait\n") } else { format!("{CLEAR}\n") }
}

fn block(mime: &str, body: &str, display_id: Option<&str>, update: bool) -> String {
    let mut out = format!("{BEGIN} {mime}");
    if let Some(id) = display_id {
        // An id is one word on the marker line.
        out.push_str(" display_id=");
        out.extend(id.chars().map(|c| if c.is_whitespace() { '_' } else { c }));
    }
    if update {
        out.push_str(" update");
    }
    out.push('\n');
    // A body line that reads like the end marker would end the block early.
    for line in body.trim_end_matches('\n').split('\n') {
        if line == END {
            out.push(' ');
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

struct Open {
    mime: String,
    display_id: Option<String>,
    update: bool,
    body: String,
}

/// Decodes output line by line; lines inside a content block are held until its end marker.
#[derive(Default)]
pub struct Decoder {
    open: Option<Open>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// One line without its newline; `None` while a content block is still being read.
    pub fn line(&mut self, line: &str) -> Option<Event> {
        if let Some(open) = &mut self.open {
            if line == END {
                let open = self.open.take().expect("checked");
                return Some(Event::Display { mime: open.mime, display_id: open.display_id, update: open.update, body: open.body });
            }
            if !open.body.is_empty() {
                open.body.push('\n');
            }
            open.body.push_str(line);
            return None;
        }
        if let Some(spec) = line.strip_prefix(BEGIN).and_then(|s| s.strip_prefix(' ')) {
            let mut words = spec.split_whitespace();
            let mime = words.next().unwrap_or("text/plain").to_string();
            let mut open = Open { mime, display_id: None, update: false, body: String::new() };
            for word in words {
                if let Some(id) = word.strip_prefix("display_id=") {
                    open.display_id = Some(id.to_string());
                } else if word == "update" {
                    open.update = true;
                }
            }
            self.open = Some(open);
            return None;
        }
        if let Some(rest) = line.strip_prefix(CLEAR) {
            return Some(Event::Clear { wait: rest.trim() == "wait" });
        }
        Some(Event::Text(line.to_string()))
    }

    /// Whether a content block has begun and not yet ended.
    pub fn in_content(&self) -> bool {
        self.open.is_some()
    }
}

/// JSON MIME types carry JSON values; everything else is text.
pub fn content_value(mime: &str, body: String) -> Value {
    if mime == "application/json" || mime.ends_with("+json") {
        if let Ok(value) = serde_json::from_str(&body) {
            return value;
        }
    }
    Value::String(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Vec<Event> {
        let mut d = Decoder::new();
        text.lines().filter_map(|l| d.line(l)).collect()
    }

    #[test]
    fn what_is_encoded_decodes_the_same() {
        let text = format!(
            "before\n{}{}{}after",
            display("text/html", "<b>1 of 3</b>\n<i>x</i>", Some("progress")),
            update("text/html", "<b>2 of 3</b>", "progress"),
            clear(true)
        );
        assert_eq!(
            decode(&text),
            vec![
                Event::Text("before".into()),
                Event::Display { mime: "text/html".into(), display_id: Some("progress".into()), update: false, body: "<b>1 of 3</b>\n<i>x</i>".into() },
                Event::Display { mime: "text/html".into(), display_id: Some("progress".into()), update: true, body: "<b>2 of 3</b>".into() },
                Event::Clear { wait: true },
                Event::Text("after".into()),
            ]
        );
    }

    #[test]
    fn hand_written_markers_as_the_readme_shows_them() {
        let events = decode("KUBERNEL_BEGIN_CONTENT text/plain\nhello\nKUBERNEL_END_CONTENT\nKUBERNEL_CLEAR_OUTPUT");
        assert_eq!(events[0], Event::Display { mime: "text/plain".into(), display_id: None, update: false, body: "hello".into() });
        assert_eq!(events[1], Event::Clear { wait: false });
    }

    #[test]
    fn a_body_line_like_the_end_marker_does_not_end_the_block() {
        let events = decode(&display("text/plain", "KUBERNEL_END_CONTENT\nmore", None));
        assert_eq!(events.len(), 1);
        assert!(matches!(&events[0], Event::Display { body, .. } if body == " KUBERNEL_END_CONTENT\nmore"), "{events:?}");
    }

    #[test]
    fn json_content_is_a_value() {
        assert_eq!(content_value("application/json", "{\"a\":1}".into()), serde_json::json!({"a": 1}));
        assert_eq!(content_value("application/json", "not json".into()), Value::String("not json".into()));
        assert_eq!(content_value("text/plain", "1".into()), Value::String("1".into()));
    }
}
