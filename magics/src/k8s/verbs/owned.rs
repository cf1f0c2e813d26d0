//! `owned [--all]`: what this session created (every kind, every namespace), or with `--all`
//! what any kubernel session created.

use super::flags::{no_positionals, Parsed, UsageError};
use super::{plan, About, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use super::result;
use crate::k8s::cluster::objects::{being_deleted, kind_ref, owned_objects, session_id};
use crate::k8s::cluster::Scope;
use crate::k8s::view::{age, name_of, Table};
use chrono::Utc;
use output::MimeBundle;

pub struct Owned;

const ABOUT: About = About {
    name: "owned",
    flags: &["--all", "--context", "--kubeconfig"],
    help: "  %k8s owned [--all]            what this session created (--all: any kubernel session), everywhere",
    body: None,
    takes_command: false,
};

/// Whose objects: this session's, or with `--all` any kubernel session's (cleanup too).
pub(super) struct Options {
    pub(super) all: bool,
    pub(super) scope: Scope,
}

impl Options {
    pub(super) fn read(p: &Parsed) -> Result<Options, UsageError> {
        no_positionals(p)?;
        Ok(Options { all: p.has("--all"), scope: p.scope() })
    }
}

impl Verb for Owned {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        plan(Options::read(&p)?)
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, _) = cx.session.for_call(&self.scope).await?;
        let (objects, going): (Vec<_>, Vec<_>) = owned_objects(&conn, self.all).await?.into_iter().partition(|(_, o)| !being_deleted(o));
        let whose = if self.all { "any kubernel session".to_string() } else { format!("this session ({})", session_id()) };
        let going_note = match going.len() {
            0 => String::new(),
            n => format!(" ({n} more {} being deleted)", if n == 1 { "is" } else { "are" }),
        };
        if objects.is_empty() {
            return result(MimeBundle::plain(format!("Nothing created by {whose}{going_note}.")));
        }
        let now = Utc::now();
        let mut t = Table::new(&["KIND", "NAMESPACE", "NAME", "AGE"]);
        for (kind, o) in &objects {
            t.rows.push(vec![
                kind_ref(kind),
                o["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
                name_of(o),
                age(o, now),
            ]);
        }
        let title = format!("{} objects created by {whose}{going_note}:\n", objects.len());
        result(
            MimeBundle::plain(format!("{title}{}", t.to_text()))
                .with("text/html", format!("<div>{}</div>{}", output::escape_html(&title), t.to_html())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn no_arguments() {
        assert_eq!(refused(&Owned, "", false), "");
        assert_ne!(refused(&Owned, "-n x", false), "");
    }
}
