//! Reading fields of objects as JSON values the way kubectl prints them: names, ages, kubectl's
//! short durations, and "<none>" for what is missing.

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use crate::k8s::cluster::objects::labels_text;

/// kubectl's short human durations: 45s, 3m20s, 42m, 5h3m, 20h, 3d4h, 40d, 2y30d, 9y.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let m = s / 60;
    let h = s / 3600;
    let d = h / 24;
    let y = d / 365;
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 192 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if y < 8 {
        let rest = d % 365;
        if rest == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{rest}d")
        }
    } else {
        format!("{y}y")
    }
}

pub(crate) fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

/// Age of an object from its creationTimestamp, `<unknown>` without one.
pub fn age(obj: &Value, now: DateTime<Utc>) -> String {
    match parse_time(&obj["metadata"]["creationTimestamp"]) {
        Some(t) => human_duration((now - t).num_seconds()),
        None => "<unknown>".to_string(),
    }
}

pub(crate) fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(crate) fn or_none(text: String) -> String {
    if text.is_empty() {
        "<none>".to_string()
    } else {
        text
    }
}

pub(crate) fn num(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

pub(crate) fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

pub fn name_of(obj: &Value) -> String {
    s(&obj["metadata"]["name"])
}
