//! Camera URLs: parsing, credentials split off, and the redacted form that is the only one
//! ever shown.

use std::fmt;

use url::Url;

use crate::Error;

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

    /// Redacts a URL text that may not even parse: whatever sits between `://` and the last
    /// `@` before the host is treated as user info.
    pub fn from_text(text: &str) -> Self {
        let Some(scheme_end) = text.find("://") else {
            return Self(text.to_owned());
        };
        let rest = &text[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                let user = userinfo.split(':').next().unwrap_or("");
                let shown = if userinfo.contains(':') {
                    format!("{user}:***")
                } else {
                    user.to_owned()
                };
                Self(format!("{}{shown}{}", &text[..scheme_end + 3], &rest[at..]))
            }
            None => Self(text.to_owned()),
        }
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

impl CameraUrl {
    /// Parses `text`; credentials in it win over `creds` given separately.
    pub(crate) fn parse(text: &str, creds: Option<Credentials>) -> Result<Self, Error> {
        let redacted = RedactedUrl::from_text(text);
        let invalid = |reason: &str| Error::InvalidUrl {
            url: redacted.clone(),
            reason: reason.to_owned(),
        };
        let mut url = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        if url.scheme() != "rtsp" {
            return Err(invalid("the scheme must be rtsp://"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        let in_url = if !url.username().is_empty() || url.password().is_some() {
            Some(Credentials::new(
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or("")),
            ))
        } else {
            None
        };
        // The server gets the URL without user info; retina refuses it anyway.
        let _ = url.set_username("");
        let _ = url.set_password(None);
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
                Err(Error::InvalidUrl { url, .. }) => {
                    assert!(!url.as_str().contains("topsecret"), "{url}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
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
    }
}
