//! Registry credentials from the user's Docker configuration (`~/.docker/config.json`, or
//! `$DOCKER_CONFIG/config.json`), the file `docker login` writes.
//!
//! Only the inline `auths.<host>.auth` (base64 of `user:password`) and `username`/`password`
//! entries are read. Credential helpers (`credsStore`, `credHelpers`) are external programs and
//! are not run; when one is named for a host, errors say so. Secrets never appear in `Debug`
//! output or in error messages.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// A user name and password for one registry host.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub(crate) password: String,
}

impl Credentials {
    /// A Docker config of one entry, `host` with these credentials: what an imagePullSecret
    /// of type kubernetes.io/dockerconfigjson holds.
    pub(crate) fn docker_config_json(&self, host: &str) -> String {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.username, self.password));
        serde_json::json!({ "auths": { host: { "auth": auth } } }).to_string()
    }

    /// Ten hex digits of SHA-256 of the user name and of `who` (whose machine: token
    /// registries give everyone the same user name, `AWS` or `oauth2accesstoken`), to name
    /// things per user. Never of the password.
    pub(crate) fn user_tag(&self, who: &str) -> String {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(format!("{}\n{who}", self.username).as_bytes()))[..10].to_string()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What was found for one host, and where it was looked for (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialSource {
    /// The config file consulted (it may not exist).
    pub path: PathBuf,
    pub credentials: Option<Credentials>,
    /// A credential helper the file names for this host (not run by kubernel).
    pub helper: Option<String>,
    /// Why the file could not be used, if it exists but is unreadable or malformed.
    pub problem: Option<String>,
}

impl CredentialSource {
    /// One line for an error message: where credentials were looked for and what was found.
    pub fn describe(&self, host: &str) -> String {
        let path = self.path.display();
        if let Some(p) = &self.problem {
            return format!("{path} could not be used: {p}");
        }
        match (&self.credentials, &self.helper) {
            (Some(c), _) => format!("used the credentials of user {:?} from {path}", c.username),
            (None, Some(h)) => format!(
                "{path} names the credential helper {h:?} for {host}, which kubernel does not \
                 run; put an `auths.\"{host}\".auth` entry in it instead"
            ),
            (None, None) if self.path.exists() => format!("{path} has no entry for {host}"),
            (None, None) => {
                format!("{path} does not exist (run `docker login {host}` or write it)")
            }
        }
    }
}

/// The config file to read: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".docker").join("config.json")
}

/// Looks up the credentials for `host` (`host[:port]`) in the file at `path`.
pub fn credentials_for(path: &Path, host: &str) -> CredentialSource {
    let mut source = CredentialSource {
        path: path.to_path_buf(),
        credentials: None,
        helper: None,
        problem: None,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return source,
        Err(e) => {
            source.problem = Some(e.to_string());
            return source;
        }
    };
    match parse_config(&text, host) {
        Ok((credentials, helper)) => {
            source.credentials = credentials;
            source.helper = helper;
        }
        Err(p) => source.problem = Some(p),
    }
    source
}

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Parses a config file's text and picks the entry for `host`. Errors never quote the secret.
pub(crate) fn parse_config(
    text: &str,
    host: &str,
) -> Result<(Option<Credentials>, Option<String>), String> {
    let config: DockerConfig =
        serde_json::from_str(text).map_err(|e| format!("it is not valid JSON ({e})"))?;
    let entry = config
        .auths
        .iter()
        .find(|(key, _)| key_matches(key, host))
        .map(|(_, e)| e);
    let helper = config
        .cred_helpers
        .get(host)
        .cloned()
        .or(config.creds_store.clone());
    let Some(entry) = entry else {
        return Ok((None, helper));
    };
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| format!("auths.\"{host}\".auth is not valid base64"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| format!("auths.\"{host}\".auth is not UTF-8 once decoded"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| format!("auths.\"{host}\".auth does not decode to user:password"))?;
        return Ok((
            Some(Credentials {
                username: user.to_string(),
                password: password.to_string(),
            }),
            None,
        ));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) => Ok((
            Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            }),
            None,
        )),
        _ => Ok((None, helper)),
    }
}

/// `docker login` writes keys as a bare host or as a URL (`https://host/v1/`).
fn key_matches(key: &str, host: &str) -> bool {
    let bare = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let bare = bare.split('/').next().unwrap_or(bare);
    bare == host || (host == "docker.io" && bare == "index.docker.io")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn a_pull_secret_holds_one_entry_for_the_nodes_name_of_the_host() {
        let c = Credentials { username: "alice".into(), password: "s3cr:et".into() };
        let json: serde_json::Value = serde_json::from_str(&c.docker_config_json("reg.internal:5000")).unwrap();
        let (again, _) = parse_config(&json.to_string(), "reg.internal:5000").unwrap();
        assert_eq!(again, Some(c.clone()));
        assert_eq!(json["auths"].as_object().unwrap().len(), 1);
        // The tag names the user, not the password, and differs between users.
        let other = Credentials { username: "alice".into(), password: "changed".into() };
        assert_eq!(c.user_tag("1000@lab"), other.user_tag("1000@lab"));
        assert_ne!(c.user_tag("1000@lab"), Credentials { username: "bob".into(), password: "s3cr:et".into() }.user_tag("1000@lab"));
        assert_ne!(c.user_tag("1000@lab"), c.user_tag("1000@jupyter-bob"), "one token user name, two people");
        assert_eq!(c.user_tag("1000@lab").len(), 10);
    }

    #[test]
    fn reads_the_auth_entry_of_the_host() {
        let text = format!(
            r#"{{"auths": {{
                "other.example.com": {{"auth": "{}"}},
                "registry.example.com:5000": {{"auth": "{}"}}
            }}}}"#,
            b64("someone:else"),
            b64("alice:s3cr:et")
        );
        let (c, helper) = parse_config(&text, "registry.example.com:5000").unwrap();
        let c = c.unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password, "s3cr:et", "only the first colon splits");
        assert_eq!(helper, None);
        let (none, _) = parse_config(&text, "registry.example.com").unwrap();
        assert_eq!(none, None, "host without the port is another host");
    }

    #[test]
    fn url_keys_and_username_password_entries() {
        let text =
            r#"{"auths": {"https://reg.example.com/v1/": {"username": "bob", "password": "pw"}}}"#;
        let (c, _) = parse_config(text, "reg.example.com").unwrap();
        assert_eq!(c.unwrap().username, "bob");
    }

    #[test]
    fn a_credential_helper_is_named_not_run() {
        let text = r#"{"auths": {}, "credHelpers": {"gcr.example.com": "gcloud"}}"#;
        let (c, helper) = parse_config(text, "gcr.example.com").unwrap();
        assert_eq!(c, None);
        assert_eq!(helper.as_deref(), Some("gcloud"));
        let source = CredentialSource {
            path: "/x/config.json".into(),
            credentials: None,
            helper,
            problem: None,
        };
        assert!(source
            .describe("gcr.example.com")
            .contains("credential helper \"gcloud\""));
    }

    #[test]
    fn the_secret_is_never_shown() {
        let text = format!(
            r#"{{"auths": {{"h": {{"auth": "{}"}}}}}}"#,
            b64("alice:hunter2")
        );
        let (c, _) = parse_config(&text, "h").unwrap();
        let shown = format!("{c:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
        let bad = parse_config(r#"{"auths": {"h": {"auth": "hunter2!!"}}}"#, "h").unwrap_err();
        assert!(
            bad.contains("not valid base64") && !bad.contains("hunter2"),
            "{bad}"
        );
    }

    #[test]
    fn missing_and_malformed_files() {
        let dir = std::env::temp_dir().join(format!("images-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = credentials_for(&dir.join("nope.json"), "h");
        assert!(missing.credentials.is_none() && missing.problem.is_none());
        assert!(missing.describe("h").contains("does not exist"));
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{not json").unwrap();
        let src = credentials_for(&bad, "h");
        assert!(
            src.describe("h").contains("not valid JSON"),
            "{}",
            src.describe("h")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
