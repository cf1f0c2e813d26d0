//! Cell output, shared by everything that writes to a notebook cell: the kernel's evaluator, the
//! magics, and programs running in pods. It knows nothing of Jupyter messages, sockets, Rust
//! evaluation or Kubernetes; the kernel turns what reaches a sink into iopub messages.

pub mod chart;
pub mod html;
pub mod limit;
pub mod markers;
pub mod sink;

pub use chart::with_chart;
pub use html::{escape_html, html_text};
pub use limit::OutputLimit;
pub use sink::{InputReader, MimeBundle, NoInput, OutputSink, RecordingSink, SinkEvent, StreamName};
