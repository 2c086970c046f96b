//! Camera URLs: parsing, credentials split off, and the redacted form that is the only one
//! ever shown.

use std::fmt;

use url::Url;

/// Username and password for a camera.
///
/// `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl Credentials {
    /// Credentials from a user name and a password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// A URL as it may appear in logs, errors, events and stats: any password replaced by `***`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedactedUrl(String);

impl RedactedUrl {
    /// The redacted text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Redacts a URL text that may not even parse: wherever an authority may start, the user
    /// info runs to the *last* `@` after it (so a password may hold any character, `/ ? # @
    /// :` included, as users type them), and whatever sits between its first `:` and that
    /// `@` is taken for a password and shown as `***` — unless the user name before that `:`
    /// holds a `/`, `?` or `#`, in which case the `@` is in a path or query. An authority
    /// starts after each `://` (and the slashes after it), and at the start of the text:
    /// after `scheme:` and a slash if it begins so, else at the very start (`rtsp:/user:pw@host`,
    /// `user:pw@host`, a stray character before the scheme, a scheme written twice). A
    /// password is hidden even in text that is not a URL at all. Like a URL parser, it first
    /// drops leading and trailing blanks and control characters, and tabs and newlines
    /// anywhere. Camera URLs are split by the same rule ([`split_credentials`]).
    pub fn from_text(text: &str) -> Self {
        let text: String = text
            .trim_matches(|c: char| c <= ' ')
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        let mut starts = vec![authority_start(&text)];
        starts.extend(text.match_indices("://").map(|(i, _)| {
            let after = &text[i + 3..];
            i + 3 + after.len() - after.trim_start_matches(['/', '\\']).len()
        }));
        // The password ranges, in order; they may overlap (two starts in one authority).
        let mut hidden: Vec<(usize, usize)> = starts
            .into_iter()
            .filter_map(|start| {
                let (user, password) = split_userinfo(&text[start..])?;
                let colon = start + user.len();
                Some((colon + 1, colon + 1 + password?.len()))
            })
            .collect();
        hidden.sort_unstable();
        let mut shown = String::with_capacity(text.len());
        let mut at = 0;
        for (from, to) in hidden {
            if to <= at {
                continue;
            }
            shown.push_str(&text[at..from.max(at)]);
            if from >= at {
                shown.push_str("***");
            }
            at = to;
        }
        shown.push_str(&text[at..]);
        Self(shown)
    }

    /// Redacts the URL of a server whose URLs have no path (NATS, MQTT): everything before
    /// the last `@` is secret (a token may hold any character), except a plain user name
    /// before a `:`, which is kept. Text with no `://` and an `@` is hidden whole.
    pub fn from_pathless_text(url: &str) -> Self {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Self(if url.contains('@') { "***" } else { url }.to_owned());
        };
        Self(match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) if !user.contains(['/', '?', '#', '@']) => {
                    format!("{scheme}://{user}:***@{host}")
                }
                _ => format!("{scheme}://***@{host}"),
            },
            None => url.to_owned(),
        })
    }
}

/// Splits the user info off a camera URL by the rule of [`RedactedUrl::from_text`] (it runs
/// to the last `@`): the URL without it, and the credentials it held, percent-decoded. Text
/// without `scheme://` comes back as it is.
pub fn split_credentials(text: &str) -> (String, Option<Credentials>) {
    let text = text.trim_matches(|c: char| c <= ' ');
    let Some((scheme, rest)) = text.split_once("://") else {
        return (text.to_owned(), None);
    };
    match (split_userinfo(rest), rest.rfind('@')) {
        (Some((user, password)), Some(at)) => (
            format!("{scheme}://{}", &rest[at + 1..]),
            Some(Credentials::new(
                percent_decode(user),
                percent_decode(password.unwrap_or("")),
            )),
        ),
        _ => (text.to_owned(), None),
    }
}

/// The user info at the start of `rest` (the text after `scheme://`): the user name and the
/// password, if any, as written. The user info runs to the last `@`; a user name holding `/`,
/// `?` or `#` means that `@` is in a path or query instead, and there is none.
fn split_userinfo(rest: &str) -> Option<(&str, Option<&str>)> {
    let userinfo = &rest[..rest.rfind('@')?];
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (userinfo, None),
    };
    (!user.contains(['/', '?', '#'])).then_some((user, password))
}

/// Where the authority of a URL text starts if the text begins with `scheme:` (RFC 3986
/// scheme characters) and one or more slashes: after them; else 0.
fn authority_start(text: &str) -> usize {
    let Some(colon) = text.find(':') else {
        return 0;
    };
    let scheme = &text[..colon];
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let after = &text[colon + 1..];
    let slashes = after.len() - after.trim_start_matches(['/', '\\']).len();
    if is_scheme && slashes > 0 {
        colon + 1 + slashes
    } else {
        0
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A parsed camera URL: what is sent to the server (no user info), the credentials, and the
/// redacted text.
#[derive(Clone)]
pub(crate) struct CameraUrl {
    pub(crate) url: Url,
    pub(crate) creds: Option<Credentials>,
    pub(crate) redacted: RedactedUrl,
}

impl fmt::Debug for CameraUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CameraUrl")
            .field("url", &self.redacted)
            .field("creds", &self.creds)
            .finish()
    }
}

/// A URL that is not a camera's: `Error::InvalidUrl` once it leaves this module.
#[derive(Debug)]
pub(crate) struct InvalidUrl {
    pub(crate) url: RedactedUrl,
    pub(crate) reason: String,
}

impl CameraUrl {
    /// Parses `text`; credentials in it win over `creds` given separately.
    pub(crate) fn parse(text: &str, creds: Option<Credentials>) -> Result<Self, InvalidUrl> {
        let redacted = RedactedUrl::from_text(text);
        let invalid = |reason: &str| InvalidUrl {
            url: redacted.clone(),
            reason: reason.to_owned(),
        };
        // User info is split off by hand, to the last `@` (see `RedactedUrl::from_text`): a
        // password as users type it may hold `/ ? # @ :`, which a URL parser would take for
        // the end of the authority (`rtsp://admin:12/34@cam/` is host `admin`, port 12 to it).
        let text = text.trim_matches(|c: char| c <= ' ');
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| invalid("the scheme must be rtsp://"))?;
        if !scheme.eq_ignore_ascii_case("rtsp") {
            return Err(invalid("the scheme must be rtsp://"));
        }
        let (in_url, host_and_path) = match split_userinfo(rest) {
            Some((user, password)) => (
                Some(Credentials::new(
                    percent_decode(user),
                    percent_decode(password.unwrap_or("")),
                )),
                &rest[rest.rfind('@').map_or(0, |at| at + 1)..],
            ),
            None => (None, rest),
        };
        let url =
            Url::parse(&format!("rtsp://{host_and_path}")).map_err(|e| invalid(&e.to_string()))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        // The server gets the URL without user info; retina refuses it anyway.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("an `@` is left in the host part"));
        }
        let creds = in_url.or(creds);
        let redacted = RedactedUrl(match &creds {
            Some(c) if !c.password.is_empty() => {
                let mut shown = url.clone();
                let _ = shown.set_username(&c.username);
                let _ = shown.set_password(Some("***"));
                shown.to_string()
            }
            Some(c) => {
                let mut shown = url.clone();
                let _ = shown.set_username(&c.username);
                shown.to_string()
            }
            None => url.to_string(),
        });
        Ok(Self {
            url,
            creds,
            redacted,
        })
    }

    /// Replaces the password wherever it appears in a message from a lower layer.
    pub(crate) fn scrub(&self, message: &str) -> String {
        match &self.creds {
            Some(c) if c.password.len() >= 3 => message.replace(&c.password, "***"),
            _ => message.to_owned(),
        }
    }
}

/// Decodes `%XX` escapes (user info in a URL is percent-encoded; `+` stays `+`).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_split_off_and_redacted() {
        let u = CameraUrl::parse("rtsp://alice:s3cr%40t@cam.local:8554/live?x=1", None).unwrap();
        assert_eq!(u.url.as_str(), "rtsp://cam.local:8554/live?x=1");
        let c = u.creds.clone().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("alice", "s3cr@t")
        );
        assert_eq!(
            u.redacted.as_str(),
            "rtsp://alice:***@cam.local:8554/live?x=1"
        );
        assert!(!format!("{u:?}").contains("s3cr"));
    }

    #[test]
    fn separate_credentials_are_redacted_too() {
        let u = CameraUrl::parse(
            "rtsp://10.0.0.9/s1",
            Some(Credentials::new("bob", "hunter22")),
        )
        .unwrap();
        assert_eq!(u.redacted.as_str(), "rtsp://bob:***@10.0.0.9/s1");
        assert_eq!(u.scrub("auth failed for hunter22"), "auth failed for ***");
    }

    #[test]
    fn malformed_urls_are_typed_errors_without_the_password() {
        for text in [
            "rtsp://eve:topsecret@[::1/x",
            "http://eve:topsecret@host/x",
            "rtsp://",
            "not a url",
        ] {
            match CameraUrl::parse(text, None) {
                Err(InvalidUrl { url, .. }) => {
                    assert!(!url.as_str().contains("topsecret"), "{url}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn passwords_with_any_character() {
        for password in [
            "pa/ss",
            "12/34",
            "p?ss",
            "p#ss",
            "p@ss",
            "p:ss",
            "100%",
            "%41%",
            "pä$$wörd☃",
            "a://b",
            "@",
            "/",
            "?#@:%",
            "é/?#@:%🙂",
        ] {
            for host_part in ["cam.local:554/live?x=1", "192.0.2.1/", "[::1]:8554/s"] {
                let text = format!("rtsp://admin:{password}@{host_part}");
                let u = CameraUrl::parse(&text, None).unwrap_or_else(|e| panic!("{text}: {e:?}"));
                let c = u.creds.clone().unwrap();
                assert_eq!(c.username, "admin", "{text}");
                // Written as typed (a `%XX` is an escape, as in any URL).
                let want = if password.contains('%') {
                    percent_decode(password)
                } else {
                    password.to_owned()
                };
                assert_eq!(c.password, want, "{text}");
                assert!(
                    u.redacted.as_str().starts_with("rtsp://admin:***@"),
                    "{text}"
                );
                let shown = RedactedUrl::from_text(&text);
                assert!(
                    shown.as_str().starts_with("rtsp://admin:***@"),
                    "{text} -> {shown}"
                );
                if password.len() >= 3 {
                    assert!(!u.url.as_str().contains(password), "{text} -> {}", u.url);
                    assert!(!shown.as_str().contains(password), "{text} -> {shown}");
                    assert!(!format!("{u:?}").contains(password));
                }
            }
        }
        // What used to parse as host `admin`, port 12.
        let u = CameraUrl::parse("rtsp://admin:12/34@cam/", None).unwrap();
        assert_eq!(u.url.host_str(), Some("cam"));
        assert_eq!(u.redacted.as_str(), "rtsp://admin:***@cam/");
        // An `@` in a path, with no user info before it, stays in the path.
        let u = CameraUrl::parse("rtsp://cam/a@b", None).unwrap();
        assert_eq!((u.url.host_str(), u.creds.is_none()), (Some("cam"), true));
        assert_eq!(
            RedactedUrl::from_text("rtsp://cam/a@b").as_str(),
            "rtsp://cam/a@b"
        );
        // Unparsable text with such a password never shows it either.
        for text in [
            "rtsp://u:pa/ss@[::1/x",
            "rtsp://u:p#ss@",
            "u:pa?ss@cam",
            "rtsp:/u:p/w@h",
        ] {
            let e = CameraUrl::parse(text, None).err();
            if let Some(InvalidUrl { url, .. }) = &e {
                assert!(
                    !url.as_str().contains("pa") && !url.as_str().contains("p/w"),
                    "{url}"
                );
            }
            let shown = RedactedUrl::from_text(text);
            assert!(
                !shown.as_str().contains("ss@") || !shown.as_str().contains("pa"),
                "{shown}"
            );
        }
    }

    #[test]
    fn redaction_of_pathless_urls() {
        let redact = |u: &str| RedactedUrl::from_pathless_text(u).as_str().to_owned();
        assert_eq!(redact("nats://u:pw@h:4222"), "nats://u:***@h:4222");
        assert_eq!(redact("nats://token@h:4222"), "nats://***@h:4222");
        assert_eq!(redact("nats://h:4222"), "nats://h:4222");
        // User info runs to the last `@`, whatever the password holds.
        assert_eq!(redact("rtsp://a:b@c/d@e"), "rtsp://a:***@e");
        assert_eq!(redact("nats://u:pa/ss@h:4222"), "nats://u:***@h:4222");
        assert_eq!(redact("tls://tok/en+=@h:4222"), "tls://***@h:4222");
        assert!(!redact("a:pw@h").contains("pw"));
    }

    #[test]
    fn redaction_of_unparsable_text() {
        assert_eq!(
            RedactedUrl::from_text("rtsp://u:p@ss@host/x").as_str(),
            "rtsp://u:***@host/x"
        );
        assert_eq!(
            RedactedUrl::from_text("rtsp://host/a@b").as_str(),
            "rtsp://host/a@b"
        );
        // Typos and missing schemes (found by tests/bad_input.rs).
        for (text, shown) in [
            (":pw@cam.local", ":***@cam.local"),
            ("u:pw@cam.local/x", "u:***@cam.local/x"),
            ("rtsp:/u:pw@cam.local", "rtsp:/u:***@cam.local"),
            ("rtsp:u:pw@cam.local", "rtsp:***@cam.local"),
            ("rtsp:///u:pw@cam.local", "rtsp:///u:***@cam.local"),
            (" rtsp://u:pw@[::1/x", "rtsp://u:***@[::1/x"),
            // Not a scheme: everything up to the last `@` may be the password.
            ("`rtsp://u:pw@[::1/x", "`rtsp:***@[::1/x"),
            ("'rtsp://u:pw@cam'", "'rtsp:***@cam'"),
            // A scheme written twice: everything up to the last `@` may be the password.
            ("rtsp://rtsp://u:pw@cam/x", "rtsp://rtsp:***@cam/x"),
            ("rtsp://u:pw@cam/x://y", "rtsp://u:***@cam/x://y"),
            (
                "rtsp://cam/x?next=http://v:pw2@other/",
                "rtsp://cam/x?next=http://v:***@other/",
            ),
            ("rt\tsp://u:p\nw@[::1", "rtsp://u:***@[::1"),
        ] {
            assert_eq!(RedactedUrl::from_text(text).as_str(), shown);
        }
    }
}
