//! The cameras file (`--config streams.toml`): one `[[stream]]` table per camera. Errors name
//! the file, line and column, and never quote the file (it may hold passwords).
//!
//! ```toml
//! [[stream]]
//! id = "door"                       # optional; stream_N otherwise
//! url = "rtsp://192.0.2.10/stream1"
//! username = "admin"                # optional
//! password_env = "DOOR_PASSWORD"    # or password = "..."
//! transport = "auto"                # auto (default), tcp or udp
//! ```

use std::collections::HashSet;
use std::path::Path;

use rtsp_worker::Transport;
use serde::Deserialize;

/// One camera to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Camera {
    pub(crate) id: Option<String>,
    pub(crate) url: String,
    pub(crate) credentials: Option<(String, String)>,
    pub(crate) transport: Option<Transport>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    stream: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: Option<String>,
    url: String,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    transport: Option<String>,
}

/// Parses a transport name.
pub(crate) fn transport(name: &str) -> Result<Transport, String> {
    match name.to_ascii_lowercase().as_str() {
        "auto" => Ok(Transport::Auto),
        "tcp" => Ok(Transport::Tcp),
        "udp" => Ok(Transport::Udp),
        other => Err(format!("transport {other:?} is not auto, tcp or udp")),
    }
}

/// Line and column (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Reads the cameras of a config file.
pub(crate) fn load(path: &Path) -> Result<Vec<Camera>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}:{e}", path.display()))
}

/// Parses a config file's text; errors start with `line:col: ` where the parser knows it.
pub(crate) fn parse(text: &str) -> Result<Vec<Camera>, String> {
    let file: File = toml::from_str(text).map_err(|e| {
        // The message alone: the error's Display quotes the offending line, which may hold
        // a password.
        let at = e
            .span()
            .map(|s| {
                let (l, c) = line_col(text, s.start);
                format!("{l}:{c}: ")
            })
            .unwrap_or_else(|| " ".into());
        format!("{at}{}", e.message().trim())
    })?;
    if file.stream.is_empty() {
        return Err(" no [[stream]] tables: nothing to watch".into());
    }
    let mut ids = HashSet::new();
    let mut out = Vec::new();
    for (n, e) in file.stream.into_iter().enumerate() {
        let which = match &e.id {
            Some(id) => format!(" stream {id:?}"),
            None => format!(" stream #{}", n + 1),
        };
        if let Some(id) = &e.id
            && !ids.insert(id.clone())
        {
            return Err(format!("{which}: the id is used twice"));
        }
        if !e
            .url
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("rtsp://")
        {
            return Err(format!("{which}: url must start with rtsp://"));
        }
        let password =
            match (e.password, e.password_env) {
                (Some(_), Some(_)) => {
                    return Err(format!("{which}: give password or password_env, not both"));
                }
                (Some(p), None) => Some(p),
                (None, Some(var)) => Some(std::env::var(&var).map_err(|_| {
                    format!("{which}: password_env names {var:?}, which is not set")
                })?),
                (None, None) => None,
            };
        let credentials = match (e.username, password) {
            (Some(u), Some(p)) => Some((u, p)),
            (Some(u), None) => Some((u, String::new())),
            (None, Some(_)) => return Err(format!("{which}: a password needs a username")),
            (None, None) => None,
        };
        let transport = e
            .transport
            .as_deref()
            .map(transport)
            .transpose()
            .map_err(|m| format!("{which}: {m}"))?;
        out.push(Camera {
            id: e.id,
            url: e.url,
            credentials,
            transport,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_file() {
        let cams = parse(
            r#"
            [[stream]]
            id = "door"
            url = "rtsp://192.0.2.10/a"
            username = "admin"
            password = "pw"
            transport = "udp"

            [[stream]]
            url = "rtsp://192.0.2.11/b"
            "#,
        )
        .unwrap();
        assert_eq!(cams.len(), 2);
        assert_eq!(cams[0].id.as_deref(), Some("door"));
        assert_eq!(
            cams[0].credentials,
            Some(("admin".to_owned(), "pw".to_owned()))
        );
        assert_eq!(cams[0].transport, Some(Transport::Udp));
        assert_eq!((cams[1].id.clone(), cams[1].transport), (None, None));
    }

    #[test]
    fn errors_say_where_and_never_quote_a_password() {
        let e = parse("[[stream]]\nurl = \"rtsp://a\"\npassword = \"s3cret\" oops\n").unwrap_err();
        assert!(e.starts_with("3:"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let e = parse("[[stream]]\nurll = \"rtsp://a\"\n").unwrap_err();
        assert!(e.contains("unknown field") && e.starts_with("2:"), "{e}");
        let e = parse("[[stream]]\nid = \"x\"\nurl = \"rtsp://a\"\n[[stream]]\nid = \"x\"\nurl = \"rtsp://b\"\n").unwrap_err();
        assert!(e.contains("used twice"), "{e}");
        assert!(
            parse("[[stream]]\nurl = \"http://a\"\n")
                .unwrap_err()
                .contains("rtsp://")
        );
        assert!(parse("").unwrap_err().contains("no [[stream]]"));
        let e = parse("[[stream]]\nurl = \"rtsp://a\"\ntransport = \"quic\"\n").unwrap_err();
        assert!(e.contains("quic"), "{e}");
    }
}
