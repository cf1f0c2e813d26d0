//! Names of registries and images, parsed without any I/O.
//!
//! The rules are Docker's: the first component of a name is a registry host when it has a dot or
//! a colon or is `localhost`; repositories are lowercase path components; a tag follows a colon,
//! a digest follows `@`. Unlike Docker, a name without a host is *not* sent to Docker Hub: it is
//! looked up on the registry the caller works with (the cluster's), so nothing reaches a public
//! host by accident.

use std::fmt;

use crate::Error;

/// A parsed image reference: `[host[:port]/]repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry host with its port, when the name had one.
    pub host: Option<String>,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `host/repo:tag`, `repo@sha256:…`, `repo` (tag `latest` is implied when neither a
    /// tag nor a digest is given; see [`ImageRef::tag_or_latest`]).
    pub fn parse(input: &str) -> Result<ImageRef, Error> {
        let invalid = |reason: &str| Error::InvalidReference {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(invalid("it is empty"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => {
                check_digest(digest).map_err(|r| invalid(&r))?;
                (rest, Some(digest.to_string()))
            }
            None => (s, None),
        };
        let (host, path) = split_host(rest);
        // A colon after the last slash starts the tag (a colon before it was the port).
        let (path, tag) = match path.rfind(':') {
            Some(i) if !path[i..].contains('/') => (&path[..i], Some(path[i + 1..].to_string())),
            _ => (path, None),
        };
        if let Some(tag) = &tag {
            check_tag(tag).map_err(|r| invalid(&r))?;
        }
        check_repository(path).map_err(|r| invalid(&r))?;
        if let Some(h) = host {
            check_host(h).map_err(|r| invalid(&r))?;
        }
        Ok(ImageRef {
            host: host.map(str::to_string),
            repository: path.to_string(),
            tag,
            digest,
        })
    }

    /// The tag, or `latest` when the reference named neither a tag nor a digest.
    pub fn tag_or_latest(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// What to ask the registry for: the digest when there is one (it is exact), else the tag.
    pub fn manifest_key(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(h) = &self.host {
            write!(f, "{h}/")?;
        }
        write!(f, "{}", self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Splits off the first component when it names a host (Docker's rule).
pub(crate) fn split_host(s: &str) -> (Option<&str>, &str) {
    match s.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), rest)
        }
        _ => (None, s),
    }
}

/// True for hosts that are this machine: loopback addresses and `localhost` names.
pub(crate) fn is_loopback(host_port: &str) -> bool {
    let host = host_name(host_port);
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host without its port (`[::1]:5000` gives `::1`).
pub(crate) fn host_name(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host_port.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host_port,
    }
}

pub(crate) fn check_host(host: &str) -> Result<(), String> {
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("{host:?} is not a registry host[:port]"))
    }
}

/// Repository names: lowercase components of `[a-z0-9]` joined by `.`, `_`, `__` or `-`,
/// separated by `/` (the distribution spec's grammar, checked loosely).
pub(crate) fn check_repository(repo: &str) -> Result<(), String> {
    if repo.is_empty() {
        return Err("the repository name is empty".into());
    }
    for comp in repo.split('/') {
        let ok = !comp.is_empty()
            && comp
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && comp.starts_with(|c: char| c.is_ascii_alphanumeric())
            && comp.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return Err(format!(
                "{comp:?} in {repo:?} is not a valid repository component \
                 (lowercase letters, digits and . _ - inside)"
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{tag:?} is not a valid tag (up to 128 letters, digits, . _ -; not starting with . or -)"
        ))
    }
}

pub(crate) fn check_digest(digest: &str) -> Result<(), String> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(())
        }
        _ => Err(format!("{digest:?} is not a sha256:<64 hex digits> digest")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:d03cade39a859f34e2116d75489cdb7bc136c44a1c80aa270347a832407550b3";

    #[test]
    fn host_port_repository_and_tag() {
        let r = ImageRef::parse("127.0.0.1:5000/library/debian:bookworm-slim").unwrap();
        assert_eq!(r.host.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(r.repository, "library/debian");
        assert_eq!(r.tag.as_deref(), Some("bookworm-slim"));
        assert_eq!(r.digest, None);
        assert_eq!(r.to_string(), "127.0.0.1:5000/library/debian:bookworm-slim");
    }

    #[test]
    fn a_name_without_host_stays_relative() {
        let r = ImageRef::parse("library/busybox").unwrap();
        assert_eq!(r.host, None);
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.tag_or_latest(), Some("latest"));
        assert_eq!(r.manifest_key(), "latest");
        // "debian" alone is a repository, not a host.
        assert_eq!(ImageRef::parse("debian:12").unwrap().host, None);
        // localhost is a host even without a dot or port.
        assert_eq!(
            ImageRef::parse("localhost/x").unwrap().host.as_deref(),
            Some("localhost")
        );
    }

    #[test]
    fn digest_references() {
        let r = ImageRef::parse(&format!("registry.example.com/team/app@{D}")).unwrap();
        assert_eq!(r.host.as_deref(), Some("registry.example.com"));
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.tag_or_latest(), None);
        assert_eq!(r.manifest_key(), D);
        let both = ImageRef::parse(&format!("localhost:5000/a:v1@{D}")).unwrap();
        assert_eq!(both.tag.as_deref(), Some("v1"));
        assert_eq!(both.manifest_key(), D, "the digest wins over the tag");
    }

    #[test]
    fn bad_references_say_why() {
        for (input, says) in [
            ("", "empty"),
            ("Library/Debian", "lowercase"),
            ("repo:-bad", "not a valid tag"),
            ("repo@sha256:abc", "64 hex"),
            ("a//b", "not a valid repository component"),
            ("127.0.0.1:5000/", "empty"),
        ] {
            let err = ImageRef::parse(input).unwrap_err().to_string();
            assert!(err.contains(says), "{input:?}: {err}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:5000",
            "[::1]:5000",
            "127.1.2.3",
            "reg.localhost:80",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "registry.example.com",
            "10.0.0.1:5000",
            "localhost.example.com",
            "my.local:5000",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
