//! The cap on how much output one cell may send to the notebook, as ipykernel users know it from
//! `iopub_data_rate_limit`: a cell that prints 50 MB would otherwise send it all, and the browser
//! and the kernel would both hold it. Past the cap, output is counted but not sent, and a note
//! says how much was left out and how to raise the cap.
//!
//! The cap is shared: the kernel reads it for every piece of output, and `%output_limit` (a magic,
//! which only sees an [`OutputSink`](crate::OutputSink)) changes it through the sink.

use std::sync::atomic::{AtomicU64, Ordering};

/// 10 MB: a hundred thousand lines of text, far more than anyone reads in a cell, and little
/// enough for a browser to keep.
pub const DEFAULT_OUTPUT_LIMIT: u64 = 10_000_000;

/// Read once when the kernel starts.
pub const OUTPUT_LIMIT_ENV: &str = "KUBERNEL_OUTPUT_LIMIT";

/// The cap of every cell's output, in bytes; 0 means none. Shared by the kernel and the magic.
#[derive(Debug)]
pub struct OutputLimit {
    bytes: AtomicU64,
}

impl OutputLimit {
    pub fn new(bytes: u64) -> Self {
        Self { bytes: AtomicU64::new(bytes) }
    }

    /// The cap from `KUBERNEL_OUTPUT_LIMIT`, or the default; with a warning when the variable is
    /// set but is not a size.
    pub fn from_env() -> (Self, Option<String>) {
        match std::env::var(OUTPUT_LIMIT_ENV) {
            Err(_) => (Self::new(DEFAULT_OUTPUT_LIMIT), None),
            Ok(text) => match parse_size(&text) {
                Ok(bytes) => (Self::new(bytes), None),
                Err(why) => (
                    Self::new(DEFAULT_OUTPUT_LIMIT),
                    Some(format!("{OUTPUT_LIMIT_ENV}={text:?}: {why}; the cap is {}", format_size(DEFAULT_OUTPUT_LIMIT))),
                ),
            },
        }
    }

    /// The cap, or None when output is not capped.
    pub fn get(&self) -> Option<u64> {
        match self.bytes.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// 0 removes the cap.
    pub fn set(&self, bytes: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
    }

    /// "10 MB", or "none".
    pub fn describe(&self) -> String {
        match self.get() {
            Some(n) => format_size(n),
            None => "none".to_string(),
        }
    }
}

/// Reads a size as people write it: `10MB`, `10 MB`, `1.5GB`, `500kB`, `2MiB`, `1048576` (bytes).
/// kB, MB and GB are powers of 1000, KiB, MiB and GiB powers of 1024; case does not matter.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim();
    if number.is_empty() {
        return Err(format!("{text:?} is not a size; write it as 10MB, 500kB or 1GB"));
    }
    let value: f64 = number.parse().map_err(|_| format!("{number:?} is not a number"))?;
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(format!("{unit:?} is not a unit of size; use B, kB, MB, GB, KiB, MiB or GiB")),
    };
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    Ok(bytes.round() as u64)
}

/// A size for a person: "512 bytes", "1.5 kB", "10 MB", "40.2 MB", "1.2 GB".
pub fn format_size(bytes: u64) -> String {
    if bytes < 1_000 {
        return if bytes == 1 { "1 byte".to_string() } else { format!("{bytes} bytes") };
    }
    let (value, unit) = match bytes {
        b if b < 1_000_000 => (b as f64 / 1e3, "kB"),
        b if b < 1_000_000_000 => (b as f64 / 1e6, "MB"),
        b => (b as f64 / 1e9, "GB"),
    };
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {unit}")
}

/// A cap that would let `total` bytes through, rounded up to 1, 2 or 5 times a power of ten
/// (in MB at least), as a person would type it: 50.2 MB gives "100MB".
pub fn suggested_limit(total: u64) -> String {
    let mut step: u64 = 1_000_000;
    loop {
        for m in [1, 2, 5] {
            let candidate = step.saturating_mul(m);
            if candidate > total || candidate == u64::MAX {
                return format_size(candidate).replace(' ', "");
            }
        }
        step = step.saturating_mul(10);
    }
}

/// What one cell has sent and left out. Pure: the sink that owns it does the sending.
#[derive(Debug, Default)]
pub struct Meter {
    sent: u64,
    left_out: u64,
    /// The cap in force when output was first cut, while it stays cut.
    stopped_at: Option<u64>,
    /// Whether the note at the cut has been written (once per cell).
    noted: bool,
}

/// What may go out of one piece of stream text.
#[derive(Debug, PartialEq, Eq)]
pub struct Admitted<'a> {
    pub text: &'a str,
    /// Set on the piece at which output stops: the note belongs right after it.
    pub stopped_here: bool,
}

/// Whether a piece that cannot be cut may go out.
#[derive(Debug, PartialEq, Eq)]
pub struct Whole {
    pub send: bool,
    /// Set on the piece at which output stops: the note belongs here.
    pub stopped_here: bool,
}

impl Meter {
    pub fn new() -> Self {
        Self::default()
    }

    /// How much of `text` may go out under `cap`. A cut is made at the last line break that fits
    /// (or at a character boundary for a line longer than what is left), so that the note after
    /// it starts a line; once cut, nothing more goes out unless the cap is raised or removed.
    pub fn admit<'a>(&mut self, text: &'a str, cap: Option<u64>) -> Admitted<'a> {
        let len = text.len() as u64;
        self.resume_if_raised(cap);
        if self.stopped_at.is_some() {
            self.left_out += len;
            return Admitted { text: "", stopped_here: false };
        }
        let Some(cap) = cap else {
            self.sent += len;
            return Admitted { text, stopped_here: false };
        };
        let room = cap.saturating_sub(self.sent);
        if len <= room {
            self.sent += len;
            return Admitted { text, stopped_here: false };
        }
        let mut end = room as usize;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(newline) = text[..end].rfind('\n') {
            end = newline + 1;
        }
        self.sent += end as u64;
        self.left_out += len - end as u64;
        self.stopped_at = Some(cap);
        let stopped_here = !self.noted;
        self.noted = true;
        Admitted { text: &text[..end], stopped_here }
    }

    /// Whether a whole piece of `len` bytes (a display, which cannot be cut) may go out.
    pub fn admit_whole(&mut self, len: u64, cap: Option<u64>) -> Whole {
        self.resume_if_raised(cap);
        let fits = self.stopped_at.is_none() && cap.map_or(true, |cap| self.sent + len <= cap);
        if fits {
            self.sent += len;
            return Whole { send: true, stopped_here: false };
        }
        self.left_out += len;
        let stopped_here = !self.noted;
        self.noted = true;
        self.stopped_at = Some(cap.unwrap_or(u64::MAX));
        Whole { send: false, stopped_here }
    }

    /// The cell's output was cleared: what the notebook holds starts again from nothing.
    pub fn cleared(&mut self) {
        self.sent = 0;
        self.stopped_at = None;
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    pub fn left_out(&self) -> u64 {
        self.left_out
    }

    fn resume_if_raised(&mut self, cap: Option<u64>) {
        if let Some(at) = self.stopped_at {
            if cap.map_or(true, |cap| cap > at) {
                self.stopped_at = None;
            }
        }
    }
}

/// What a display costs against the cap: the text of each representation (a PNG is base64).
pub fn bundle_bytes(bundle: &crate::MimeBundle) -> u64 {
    bundle
        .data
        .values()
        .map(|v| match v {
            serde_json::Value::String(s) => s.len() as u64,
            other => other.to_string().len() as u64,
        })
        .sum()
}

/// The line written where output stops.
pub fn stop_note(cap: u64) -> String {
    format!(
        "kubernel: output of this cell reached the cap of {}; what follows is left out, and counted.\n",
        format_size(cap)
    )
}

/// The line written when the cell ends, if anything was left out.
pub fn final_note(cap: Option<u64>, sent: u64, left_out: u64) -> String {
    let at = match cap {
        Some(cap) => format!("stopped at {}", format_size(cap)),
        None => format!("was cut after {}", format_size(sent)),
    };
    let raise = suggested_limit(sent + left_out);
    format!(
        "kubernel: output of this cell {at}; {} more {} left out. Raise the cap with %output_limit {raise} \
         (or {OUTPUT_LIMIT_ENV}={raise} before starting the kernel); %output_limit 0 removes it.\n",
        format_size(left_out),
        if left_out == 1 { "was" } else { "were" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_people_write_them() {
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size(" 10 mb "), Ok(10_000_000));
        assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("500kB"), Ok(500_000));
        assert_eq!(parse_size("500K"), Ok(500_000));
        assert_eq!(parse_size("2MiB"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("10 parsecs").unwrap_err().contains("not a unit"));
        assert!(parse_size("1.2.3MB").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("1e30GB").is_err());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(format_size(0), "0 bytes");
        assert_eq!(format_size(1), "1 byte");
        assert_eq!(format_size(999), "999 bytes");
        assert_eq!(format_size(1_500), "1.5 kB");
        assert_eq!(format_size(10_000_000), "10 MB");
        assert_eq!(format_size(40_243_000), "40.2 MB");
        assert_eq!(format_size(2_000_000_000), "2 GB");
        assert_eq!(suggested_limit(50_200_000), "100MB");
        assert_eq!(suggested_limit(30_000_000), "50MB");
        assert_eq!(suggested_limit(12), "1MB");
        assert_eq!(suggested_limit(u64::MAX), format_size(u64::MAX).replace(' ', ""));
    }

    #[test]
    fn text_past_the_cap_is_counted_not_sent() {
        let mut meter = Meter::new();
        let cap = Some(10);
        assert_eq!(meter.admit("abc\n", cap), Admitted { text: "abc\n", stopped_here: false });
        // 6 bytes of room: the cut falls at the line break, so the note starts a line.
        assert_eq!(meter.admit("de\nfghij\n", cap), Admitted { text: "de\n", stopped_here: true });
        assert_eq!(meter.admit("k\n", cap), Admitted { text: "", stopped_here: false });
        assert_eq!((meter.sent(), meter.left_out()), (7, 8));
    }

    #[test]
    fn a_long_line_is_cut_at_a_character_boundary() {
        let mut meter = Meter::new();
        // "é" is two bytes; the third byte would split it.
        let admitted = meter.admit("aéé", Some(4));
        assert_eq!(admitted.text, "aé");
        assert!(admitted.stopped_here);
        assert_eq!(meter.left_out(), 2);
    }

    #[test]
    fn no_cap_lets_everything_through() {
        let mut meter = Meter::new();
        for _ in 0..1000 {
            assert_eq!(meter.admit("0123456789", None).text, "0123456789");
        }
        assert_eq!((meter.sent(), meter.left_out()), (10_000, 0));
    }

    #[test]
    fn raising_the_cap_resumes_output_and_clearing_starts_again() {
        let mut meter = Meter::new();
        meter.admit("aaaa\nbbbb\n", Some(5));
        assert_eq!(meter.admit("c\n", Some(5)).text, "");
        assert_eq!(meter.admit("c\n", Some(100)).text, "c\n");
        let mut meter = Meter::new();
        meter.admit("aaaa\nbbbb\n", Some(5));
        meter.cleared();
        let again = meter.admit("dddd\n", Some(5));
        // Output after a clear goes out again, and the note is not repeated.
        assert_eq!(again, Admitted { text: "dddd\n", stopped_here: false });
        assert_eq!(meter.left_out(), 5);
    }

    #[test]
    fn displays_go_whole_or_not_at_all() {
        let mut meter = Meter::new();
        assert_eq!(meter.admit_whole(6, Some(10)), Whole { send: true, stopped_here: false });
        assert_eq!(meter.admit_whole(6, Some(10)), Whole { send: false, stopped_here: true });
        assert_eq!(meter.admit("x", Some(10)).text, "");
        assert_eq!((meter.sent(), meter.left_out()), (6, 7));
    }

    #[test]
    fn the_notes_say_how_much_and_how_to_raise_it() {
        assert_eq!(stop_note(10_000_000).lines().count(), 1);
        let note = final_note(Some(10_000_000), 10_000_000, 40_243_000);
        assert_eq!(
            note,
            "kubernel: output of this cell stopped at 10 MB; 40.2 MB more were left out. Raise the cap with \
             %output_limit 100MB (or KUBERNEL_OUTPUT_LIMIT=100MB before starting the kernel); %output_limit 0 removes it.\n"
        );
    }
}
