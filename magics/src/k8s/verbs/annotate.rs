//! `annotate KIND NAME... KEY=VALUE... KEY-...`: as `label`, for annotations.

use super::flags::{Parsed, UsageError};
use super::label::{Field, Options};
use super::{plan, About, Completing, Planned, Verb};
use crate::framework::registry::MagicFuture;

pub struct Annotate;

const ABOUT: About = About {
    name: "annotate",
    flags: &["--namespace", "--selector", "--all", "--overwrite", "--context", "--kubeconfig"],
    help: "  %k8s annotate KIND NAME... KEY=VALUE... KEY-... [--overwrite]   the same for annotations",
    body: None,
    takes_command: false,
};

const ANNOTATIONS: Field = Field { verb: "annotate", key: "annotations", done: "annotated" };

impl Verb for Annotate {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        plan(Options::read(ANNOTATIONS, p)?)
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(cx.kind_then_names())
    }
}
