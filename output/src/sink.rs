//! Where cell output goes. The kernel implements this over iopub; tests implement it over a Vec.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamName {
    Stdout,
    Stderr,
}

impl StreamName {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamName::Stdout => "stdout",
            StreamName::Stderr => "stderr",
        }
    }
}

/// A MIME bundle: the same content in several representations, e.g. text/html and text/plain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MimeBundle {
    pub data: Map<String, Value>,
    pub metadata: Map<String, Value>,
}

impl MimeBundle {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn plain(text: impl Into<String>) -> Self {
        Self::new().with("text/plain", text.into())
    }

    /// Adds one representation; a later call for the same MIME type replaces it.
    pub fn with(mut self, mime: &str, value: impl Into<Value>) -> Self {
        self.data.insert(mime.to_string(), value.into());
        self
    }

    /// What a program showed as `mime` (through the display markers), with a text/plain form
    /// beside it, so that a terminal client still has something to read: Markdown as its
    /// source, HTML as its text, an image named.
    pub fn of_content(mime: &str, body: String) -> Self {
        if mime == crate::markers::BUNDLE {
            return Self::of_parts(&body);
        }
        Self::plain(plain_of(mime, &body)).with_content(mime, body)
    }

    /// A `BUNDLE` block: each representation as given, and a text/plain form of the first one
    /// where none was given.
    fn of_parts(body: &str) -> Self {
        let Ok(Value::Object(parts)) = serde_json::from_str::<Value>(body) else {
            return Self::plain("(a display that could not be read)");
        };
        let parts: Vec<(String, String)> = parts.into_iter().filter_map(|(m, v)| v.as_str().map(|b| (m, b.to_string()))).collect();
        let plain = match parts.iter().find(|(m, _)| m == "text/plain").or(parts.first()) {
            Some((mime, body)) => plain_of(mime, body),
            None => String::new(),
        };
        parts.into_iter().fold(Self::plain(plain), |bundle, (mime, body)| bundle.with_content(&mime, body))
    }

    /// Adds a representation a program showed. SVG gets a PNG beside it: JupyterLab does not
    /// show SVG in a notebook that is not trusted (one opened after it was run elsewhere), but
    /// it shows PNG.
    fn with_content(self, mime: &str, body: String) -> Self {
        if mime == "image/svg+xml" && !self.data.contains_key("image/png") {
            return crate::chart::with_chart(self, body);
        }
        self.with(mime, crate::markers::content_value(mime, body))
    }

    pub fn text(&self) -> Option<&str> {
        self.data.get("text/plain").and_then(Value::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The text/plain form of content shown as `mime`.
fn plain_of(mime: &str, body: &str) -> String {
    match mime {
        "text/plain" | "text/markdown" | "text/latex" => body.to_string(),
        "text/html" => crate::html::html_text(body),
        other if other.starts_with("image/") => format!("({other} image)"),
        other => format!("({other})"),
    }
}

/// The output side of a running cell.
pub trait OutputSink: Send + Sync {
    fn stream(&self, name: StreamName, text: &str);
    /// Shows a bundle; with a display id, later `update_display` calls replace it in place.
    fn display(&self, bundle: MimeBundle, display_id: Option<&str>);
    fn update_display(&self, bundle: MimeBundle, display_id: &str);
    fn clear_output(&self, wait: bool);
    /// The cap on a cell's output that this sink enforces, for `%output_limit` to read and
    /// change; None where output is not capped (tests, captures).
    fn output_limit(&self) -> Option<&crate::limit::OutputLimit> {
        None
    }
}

/// The input side of a running cell: reads a line through the frontend's input box. Blocking;
/// async callers run it on a blocking thread.
pub trait InputReader: Send + Sync {
    fn read_line(&self, prompt: &str, password: bool) -> Result<String, String>;
    /// Gives up a read that is still waiting (the command that wanted the input has ended).
    fn cancel(&self) {}
}

/// Input for places with no frontend (tests, user expressions): every read fails.
pub struct NoInput;

impl InputReader for NoInput {
    fn read_line(&self, _prompt: &str, _password: bool) -> Result<String, String> {
        Err("no input can be read here".into())
    }
}

/// A sink that remembers everything, for tests and for capturing output.
#[derive(Default)]
pub struct RecordingSink {
    pub events: std::sync::Mutex<Vec<SinkEvent>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SinkEvent {
    Stream(StreamName, String),
    Display(MimeBundle, Option<String>),
    Update(MimeBundle, String),
    Clear(bool),
}

impl RecordingSink {
    pub fn take(&self) -> Vec<SinkEvent> {
        std::mem::take(&mut self.events.lock().unwrap())
    }

    /// All stream text of one stream, concatenated.
    pub fn stream_text(&self, name: StreamName) -> String {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                SinkEvent::Stream(n, t) if *n == name => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }
}

impl OutputSink for RecordingSink {
    fn stream(&self, name: StreamName, text: &str) {
        self.events.lock().unwrap().push(SinkEvent::Stream(name, text.to_string()));
    }
    fn display(&self, bundle: MimeBundle, display_id: Option<&str>) {
        self.events
            .lock()
            .unwrap()
            .push(SinkEvent::Display(bundle, display_id.map(str::to_string)));
    }
    fn update_display(&self, bundle: MimeBundle, display_id: &str) {
        self.events.lock().unwrap().push(SinkEvent::Update(bundle, display_id.to_string()));
    }
    fn clear_output(&self, wait: bool) {
        self.events.lock().unwrap().push(SinkEvent::Clear(wait));
    }
}

#[cfg(test)]
mod content_tests {
    use super::*;

    #[test]
    fn shown_content_has_a_plain_form() {
        let md = MimeBundle::of_content("text/markdown", "| a |\n|---|".into());
        assert_eq!(md.text(), Some("| a |\n|---|"));
        assert!(md.data.contains_key("text/markdown"));
        assert_eq!(MimeBundle::of_content("text/html", "<b>3</b> of <i>4</i>".into()).text(), Some("3 of 4"));
        assert_eq!(MimeBundle::of_content("image/png", "AAAA".into()).text(), Some("(image/png image)"));
    }

    const SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"20\" height=\"10\"><rect width=\"5\" height=\"5\" fill=\"red\"/></svg>";

    #[test]
    fn svg_comes_with_a_png_for_notebooks_that_are_not_trusted() {
        let b = MimeBundle::of_content("image/svg+xml", SVG.into());
        assert_eq!(b.data["image/svg+xml"], SVG);
        assert!(b.data["image/png"].as_str().is_some_and(|p| p.starts_with("iVBOR")), "{:?}", b.data.keys());
        assert_eq!(b.text(), Some("(image/svg+xml image)"));
    }

    #[test]
    fn a_bundle_block_keeps_each_representation() {
        let body = crate::markers::bundle_body(&[("text/plain", "3 requests, 0 failed"), ("image/svg+xml", SVG)]);
        let b = MimeBundle::of_content(crate::markers::BUNDLE, body);
        assert_eq!(b.text(), Some("3 requests, 0 failed"));
        assert_eq!(b.data["image/svg+xml"], SVG);
        assert!(b.data.contains_key("image/png"));
        let html_only = MimeBundle::of_content(crate::markers::BUNDLE, crate::markers::bundle_body(&[("text/html", "<b>hi</b>")]));
        assert_eq!(html_only.text(), Some("hi"));
        assert_eq!(MimeBundle::of_content(crate::markers::BUNDLE, "not json".into()).text(), Some("(a display that could not be read)"));
    }
}
