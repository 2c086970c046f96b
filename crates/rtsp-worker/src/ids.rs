//! Stream ids and where a camera URL may point: the one definition of a valid id (so that no
//! label, topic, subject, key or folder built from one needs escaping) and of a local-file URL
//! (which only a trusted caller may use).

use crate::Error;

/// The longest stream id, in bytes.
pub const MAX_STREAM_ID: usize = 64;

/// Checks a stream id: 1 to [`MAX_STREAM_ID`] of `A–Z a–z 0–9 _ . -`, not starting with a
/// `.` (so that an id is never a hidden, current or parent folder). Every entry point (the
/// facade, the binary's command line, config file, HTTP API and fleet registry, the Python
/// package) applies this one rule, so an id can go into a Prometheus label, an MQTT topic, a
/// NATS subject or key, a URL path or a folder name as it is.
///
/// # Errors
///
/// [`Error::InvalidStreamId`], which quotes at most the first 64 characters, escaped.
pub fn check_stream_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= MAX_STREAM_ID
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidStreamId(
            id.chars().take(MAX_STREAM_ID).collect(),
        ))
    }
}

/// The id a stream given without one gets: `stream_N`, N counting from 0 in the order the
/// streams were named (the command line's URLs, the config file's entries).
pub fn numbered_stream_id(n: usize) -> String {
    format!("stream_{n}")
}

/// The first id of the form `stream_N` (N = `from`, `from + 1`, …) that `taken` says is free.
pub fn free_stream_id(from: usize, taken: impl Fn(&str) -> bool) -> String {
    (from..)
        .map(numbered_stream_id)
        .find(|id| !taken(id))
        .unwrap_or_else(|| "stream_overflow".to_owned())
}

/// Whether a camera URL names a local file (`file://…`, in any case, blanks around it
/// ignored). Such a URL plays an Annex B clip from this machine's disk: only a caller the
/// operator trusts may give one (see [`ManagerBuilder::allow_file_urls`]).
///
/// [`ManagerBuilder::allow_file_urls`]: crate::ManagerBuilder::allow_file_urls
pub fn is_file_url(url: &str) -> bool {
    let url = url.trim_matches(|c: char| c <= ' ');
    url.get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("file://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_a_safe_alphabet() {
        for good in ["door", "cam-1", "a.b_c", "X", &"a".repeat(64), "0"] {
            assert_eq!(check_stream_id(good), Ok(()), "{good}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "a b",
            "a\"b",
            "a\nb",
            "é",
            "a+b",
            "a#b",
            long.as_str(),
        ] {
            let e = check_stream_id(bad).unwrap_err();
            assert_eq!(e.kind(), "invalid_stream_id");
            assert!(e.to_string().len() < 300, "{e}");
        }
        // Every ASCII character but the allowed ones.
        for b in 0u8..128 {
            let id = format!("a{}", b as char);
            let allowed = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
            assert_eq!(check_stream_id(&id).is_ok(), allowed, "{b}");
        }
    }

    #[test]
    fn free_ids_skip_taken_ones() {
        let taken = ["stream_0", "stream_1", "stream_3"];
        assert_eq!(free_stream_id(0, |id| taken.contains(&id)), "stream_2");
        assert_eq!(free_stream_id(3, |id| taken.contains(&id)), "stream_4");
    }

    #[test]
    fn file_urls_in_any_case() {
        for url in ["file:///etc/shadow", "FILE:///x", " File://x", "file://"] {
            assert!(is_file_url(url), "{url}");
        }
        for url in ["rtsp://h/x", "fil://x", "", "file:/x", "rtsp://h/file://x"] {
            assert!(!is_file_url(url), "{url}");
        }
    }
}
