//! Errors that say what went wrong in a user's terms: which registry, what was asked, and what
//! to do about it. oci-client's errors (HTTP details, OCI error envelopes) are mapped here.

use oci_client::errors::{OciDistributionError, OciErrorCode};

/// Everything that can go wrong while building, pushing, listing or inspecting images.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No connection could be made (refused, timed out, DNS, TLS).
    #[error("cannot reach the registry {host}: {cause} (tried {url})")]
    Unreachable {
        host: String,
        url: String,
        cause: String,
    },
    /// The registry asked for credentials, or refused the ones given.
    #[error("the registry {host} refused access to {what} (HTTP {status}); {credentials}")]
    Unauthorized {
        host: String,
        what: String,
        status: u16,
        /// Where credentials were looked for and what was found (never the secret).
        credentials: String,
    },
    #[error("the registry {host} has no repository {repository}")]
    RepositoryNotFound { host: String, repository: String },
    /// The repository exists but not the tag or digest.
    #[error("the registry {host} has no {repository}:{reference}{}", tags_hint(.available))]
    ImageNotFound {
        host: String,
        repository: String,
        reference: String,
        /// Tags the repository does have (a few), to help spot a typo.
        available: Vec<String>,
    },
    #[error("the base image {reference} is not on the registry {host}: {reason}")]
    BaseNotFound {
        host: String,
        reference: String,
        reason: String,
    },
    /// An image index without a linux/amd64 entry.
    #[error("{reference} has no linux/amd64 image (it has: {available})")]
    NoPlatform {
        reference: String,
        available: String,
    },
    /// The registry answered, but not as the distribution spec says it should.
    #[error("unexpected answer from the registry {host} to {what}: {}", status_text(*.status, .body))]
    Unexpected {
        host: String,
        what: String,
        status: Option<u16>,
        body: String,
    },
    #[error("invalid image reference {input:?}: {reason}")]
    InvalidReference { input: String, reason: String },
    #[error("invalid layer: {0}")]
    InvalidLayer(String),
    /// A manifest or config that cannot be understood, or a config value that cannot be used.
    #[error("invalid image: {0}")]
    InvalidImage(String),
}

fn tags_hint(available: &[String]) -> String {
    if available.is_empty() {
        " (the repository has no tags)".to_string()
    } else {
        format!(" (its tags: {})", available.join(", "))
    }
}

fn status_text(status: Option<u16>, body: &str) -> String {
    match status {
        Some(s) if body.is_empty() => format!("HTTP {s}"),
        Some(s) => format!("HTTP {s}: {body}"),
        None => body.to_string(),
    }
}

/// A body cut to one short line, for messages.
pub(crate) fn short(body: &str) -> String {
    let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 {
        format!("{}…", line.chars().take(200).collect::<String>())
    } else {
        line
    }
}

/// What a request was, for mapping its failure.
pub(crate) struct Call<'a> {
    pub host: &'a str,
    /// What was asked, in words: "the manifest of kubernel/job-x:abc".
    pub what: String,
    /// The URL (or the first one) the request went to.
    pub url: String,
    /// Where credentials came from, for an Unauthorized error.
    pub credentials: &'a str,
    /// True when the registry is reached over HTTPS (a plain-HTTP server then fails the
    /// handshake, which deserves a hint).
    pub https: bool,
}

/// How a failed request maps to an [`Error`]: a 404 (or an OCI "unknown" code) becomes what
/// `not_found` makes, because only the caller knows what was missing.
pub(crate) fn classify(
    e: OciDistributionError,
    call: &Call,
    not_found: impl FnOnce() -> Error,
) -> Error {
    match e {
        OciDistributionError::RequestError(re) => {
            if let Some(status) = re.status() {
                return by_status(call, status.as_u16(), String::new(), not_found);
            }
            let url = re
                .url()
                .map(|u| u.to_string())
                .unwrap_or_else(|| call.url.clone());
            let mut cause = error_chain(&re);
            if call.https
                && (cause.contains("InvalidContentType") || cause.contains("CorruptMessage"))
            {
                cause.push_str(
                    " — it was spoken to over HTTPS; if it serves plain HTTP, name it as http://HOST",
                );
            }
            if re.is_timeout() && !re.is_connect() {
                // Connected, then it stopped answering: still a reachability problem to a user.
                cause = format!("no answer in time ({cause})");
            }
            Error::Unreachable {
                host: call.host.to_string(),
                url,
                cause,
            }
        }
        OciDistributionError::UnauthorizedError { .. } => {
            by_status(call, 401, String::new(), not_found)
        }
        OciDistributionError::AuthenticationFailure(reason) => Error::Unauthorized {
            host: call.host.to_string(),
            what: format!("{} (token request: {})", call.what, short(&reason)),
            status: 401,
            credentials: call.credentials.to_string(),
        },
        OciDistributionError::ServerError { code, message, .. } => {
            by_status(call, code, message, not_found)
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            let text = envelope
                .errors
                .iter()
                .map(|e| format!("{:?}: {}", e.code, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                by_status(call, 401, text, not_found)
            } else if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                not_found()
            } else {
                Error::Unexpected {
                    host: call.host.to_string(),
                    what: call.what.clone(),
                    status: None,
                    body: short(&text),
                }
            }
        }
        other => Error::Unexpected {
            host: call.host.to_string(),
            what: call.what.clone(),
            status: None,
            body: short(&other.to_string()),
        },
    }
}

fn by_status(call: &Call, status: u16, body: String, not_found: impl FnOnce() -> Error) -> Error {
    match status {
        401 | 403 => Error::Unauthorized {
            host: call.host.to_string(),
            what: call.what.clone(),
            status,
            credentials: call.credentials.to_string(),
        },
        404 => not_found(),
        _ => Error::Unexpected {
            host: call.host.to_string(),
            what: call.what.clone(),
            status: Some(status),
            body: short(&body),
        },
    }
}

/// The innermost cause ("Connection refused (os error 111)", a TLS or DNS failure): reqwest's
/// own text is only "error sending request for url (…)", and the URL is named apart.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut innermost = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        innermost = s.to_string();
        source = s.source();
    }
    innermost
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call<'static> {
        Call {
            host: "reg.example.com",
            what: "the manifest of a/b:c".into(),
            url: "https://reg.example.com/v2/a/b/manifests/c".into(),
            credentials: "/root/.docker/config.json has no entry for reg.example.com",
            https: true,
        }
    }

    fn missing() -> Error {
        Error::RepositoryNotFound {
            host: "reg.example.com".into(),
            repository: "a/b".into(),
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        let e = classify(
            OciDistributionError::ServerError {
                code: 403,
                url: "u".into(),
                message: "denied".into(),
            },
            &call(),
            missing,
        );
        let text = e.to_string();
        assert!(
            matches!(e, Error::Unauthorized { status: 403, .. }),
            "{e:?}"
        );
        assert!(
            text.contains("reg.example.com") && text.contains("config.json"),
            "{text}"
        );

        let e = classify(
            OciDistributionError::ServerError {
                code: 404,
                url: "u".into(),
                message: String::new(),
            },
            &call(),
            missing,
        );
        assert!(matches!(e, Error::RepositoryNotFound { .. }), "{e:?}");

        let long = "x ".repeat(500);
        let e = classify(
            OciDistributionError::ServerError {
                code: 500,
                url: "u".into(),
                message: long,
            },
            &call(),
            missing,
        );
        let text = e.to_string();
        assert!(text.contains("HTTP 500"), "{text}");
        assert!(text.len() < 400, "the body is cut short: {}", text.len());
    }

    #[test]
    fn oci_envelopes_map_to_kinds() {
        let envelope = serde_json::from_str(
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        )
        .unwrap();
        let e = classify(
            OciDistributionError::RegistryError {
                envelope,
                url: "u".into(),
            },
            &call(),
            missing,
        );
        assert!(matches!(e, Error::RepositoryNotFound { .. }), "{e:?}");
        let envelope = serde_json::from_str(
            r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
        )
        .unwrap();
        let e = classify(
            OciDistributionError::RegistryError {
                envelope,
                url: "u".into(),
            },
            &call(),
            missing,
        );
        assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    }

    #[test]
    fn not_found_lists_the_tags_there_are() {
        let e = Error::ImageNotFound {
            host: "h".into(),
            repository: "library/debian".into(),
            reference: "bookwrom".into(),
            available: vec!["bookworm".into(), "12".into()],
        };
        assert_eq!(
            e.to_string(),
            "the registry h has no library/debian:bookwrom (its tags: bookworm, 12)"
        );
    }
}
