//! The view layer of `%k8s`: objects as tables (kubectl's columns), documents (`-o yaml|json|
//! name`), `describe`, the `connect` summary, access-log statistics, quantities, and live
//! displays replaced in place. Pure rendering on JSON values and a "now": tested without a
//! cluster.

pub mod access_log;
pub mod cluster_info;
pub mod describe;
pub mod documents;
pub mod explain;
pub mod fields;
pub mod hpa_chart;
pub mod job_table;
pub mod jsonpath;
pub mod live;
pub mod promql;
pub mod quantity;
pub mod table;

pub use fields::{age, human_duration, name_of};
pub use live::LiveLine;
pub use table::{from_server, pod_status, table, Table, OWN_COLUMNS};

/// A line in italics (HTML) and as itself (text).
pub fn note(text: &str) -> output::MimeBundle {
    output::MimeBundle::plain(text.to_string()).with("text/html", format!("<i>{}</i>", output::escape_html(text)))
}

#[cfg(test)]
mod tests;
