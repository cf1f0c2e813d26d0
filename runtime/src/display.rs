//! Rich output from notebook code, without typing marker lines by hand: HTML, Markdown, SVG
//! and PNG, a display updated in place, and clearing the cell. In a cell the kernel shows them;
//! in a job's pod they reach the job's cell, each pod's displays apart.

#[path = "../../output/src/markers.rs"]
#[allow(dead_code)]
mod markers;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// One display in the cell, which can be replaced in place.
#[derive(Debug, Clone)]
pub struct Display {
    id: String,
}

impl Display {
    /// Shows `body` of MIME type `mime` (text/html, text/markdown, image/svg+xml, image/png as
    /// base64, text/plain ...) as a new display.
    pub fn new(mime: &str, body: &str) -> Display {
        let d = Display { id: new_id() };
        emit(&markers::display(mime, body, Some(&d.id)));
        d
    }

    pub fn html(body: impl AsRef<str>) -> Display {
        Display::new("text/html", body.as_ref())
    }

    /// One display in several forms at once, as (MIME type, body): a chart as SVG with its text
    /// form for terminal clients, say. The kernel adds a PNG of an SVG.
    pub fn bundle<B: AsRef<str>>(parts: &[(&str, B)]) -> Display {
        Display::new(markers::BUNDLE, &markers::bundle_body(parts))
    }

    /// Replaces what this display shows with several forms (see [`Display::bundle`]).
    pub fn update_bundle<B: AsRef<str>>(&self, parts: &[(&str, B)]) {
        self.update(markers::BUNDLE, &markers::bundle_body(parts));
    }

    /// Replaces what this display shows.
    pub fn update(&self, mime: &str, body: &str) {
        emit(&markers::update(mime, body, &self.id));
    }

    pub fn update_html(&self, body: impl AsRef<str>) {
        self.update("text/html", body.as_ref());
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

pub fn html(body: impl AsRef<str>) {
    show("text/html", body.as_ref());
}

pub fn markdown(body: impl AsRef<str>) {
    show("text/markdown", body.as_ref());
}

pub fn svg(body: impl AsRef<str>) {
    show("image/svg+xml", body.as_ref());
}

/// A PNG image from its bytes.
pub fn png(bytes: &[u8]) {
    show("image/png", &base64(bytes));
}

/// Shows `body` as MIME type `mime`, once.
pub fn show(mime: &str, body: &str) {
    emit(&markers::display(mime, body, None));
}

/// Clears the cell's output; with `wait`, only when the next output comes (no flicker).
pub fn clear(wait: bool) {
    emit(&markers::clear(wait));
}

/// The progress bar of a notebook cell (see [`crate::progress`]): one per process.
pub(crate) fn progress_bar(fraction: f64) {
    static BAR: OnceLock<Display> = OnceLock::new();
    let percent = fraction * 100.0;
    let body = format!(
        "<div style=\"font-family:monospace\"><progress value=\"{fraction:.4}\" max=\"1\" style=\"width:20em\"></progress> {percent:.0}%</div>"
    );
    match BAR.get() {
        Some(bar) => bar.update_html(&body),
        None => {
            let _ = BAR.set(Display::html(&body));
        }
    }
}

fn emit(block: &str) {
    // One write, so that a block is not split by other threads' output.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(block.as_bytes());
    let _ = out.flush();
}

fn new_id() -> String {
    // In a notebook every cell is a library of its own with its own copy of this crate, so the
    // counter starts again in each: the clock keeps ids of different cells apart (an id met
    // twice would redraw an older cell's display).
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let rank = std::env::var(crate::protocol::RANK_ENV).unwrap_or_default();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("kubernel-{}-{rank}-{nanos:x}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() { ABC[(n >> shift & 63) as usize] as char } else { '=' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_the_standard_says() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn ids_differ_even_when_the_counter_starts_again() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        // The part before the counter, as a copy of this crate in another cell would make it.
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert_ne!(a.rsplit_once('-').unwrap().0, new_id().rsplit_once('-').unwrap().0);
    }

    #[test]
    fn a_display_decodes_as_the_kernel_reads_it() {
        let block = markers::update("text/html", "<b>x</b>", "kubernel-1-0");
        let mut d = markers::Decoder::new();
        let events: Vec<_> = block.lines().filter_map(|l| d.line(l)).collect();
        assert_eq!(
            events,
            vec![markers::Event::Display { mime: "text/html".into(), display_id: Some("kubernel-1-0".into()), update: true, body: "<b>x</b>".into() }]
        );
    }
}
