//! Camera passwords in the fleet's registry, sealed with the fleet key (`--fleet-key-file`):
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) with a random 24-byte nonce, the
//! camera's id, URL and user name as associated data. A reader of the `cameras` bucket
//! without the key learns nothing of the password; a writer without it cannot make a worker
//! send a sealed password anywhere else (moving it to another id, URL or user breaks the
//! seal).
//!
//! The key file holds one or more keys, one per line (64 hex digits, `#` comments allowed):
//! the first seals, every one opens, so keys rotate without a stop (add the new key first
//! on every worker, run `cameras rekey`, then drop the old one; docs/SECURITY.md).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// What a sealed password starts with (its format's version).
const PREFIX: &str = "xc20p1:";
const NONCE: usize = 24;

/// The fleet's keys; `Debug` shows how many, never them.
#[derive(Clone)]
pub struct FleetKey {
    keys: Vec<Key>,
}

impl std::fmt::Debug for FleetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FleetKey({} keys)", self.keys.len())
    }
}

/// What binds a sealed password to its camera: each part length-prefixed, so that no two
/// (id, URL, user) triples give the same bytes.
fn associated(id: &str, url: &str, username: &str) -> Vec<u8> {
    let mut aad = b"rtsp-worker camera v1".to_vec();
    for part in [id, url, username] {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

impl FleetKey {
    /// Reads a key file. Errors name the file and line, never a key.
    pub fn load(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("--fleet-key-file {shown}: {e}"))?;
        Self::parse(&text).map_err(|m| format!("--fleet-key-file {shown}: {m}"))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bytes = decode_hex(line).filter(|b| b.len() == 32).ok_or_else(|| {
                format!(
                    "line {}: a key is 64 hex digits (make one with `openssl rand -hex 32`)",
                    n + 1
                )
            })?;
            keys.push(*Key::from_slice(&bytes));
        }
        if keys.is_empty() {
            return Err("no key in it".into());
        }
        Ok(Self { keys })
    }

    /// Seals a password for the camera `id` at `url` as `username`.
    pub fn seal(&self, id: &str, url: &str, username: &str, password: &str) -> String {
        let cipher = XChaCha20Poly1305::new(&self.keys[0]);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated(id, url, username);
        // Encryption with a valid key and nonce does not fail.
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: password.as_bytes(),
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// Opens a sealed password with any of the keys, for exactly the camera it was sealed for.
    pub fn open(
        &self,
        id: &str,
        url: &str,
        username: &str,
        sealed: &str,
    ) -> Result<String, String> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .filter(|b| b.len() > NONCE)
            .ok_or("the sealed password is not in this version's format")?;
        let (nonce, body) = bytes.split_at(NONCE);
        let aad = associated(id, url, username);
        self.keys
            .iter()
            .find_map(|k| {
                XChaCha20Poly1305::new(k)
                    .decrypt(
                        XNonce::from_slice(nonce),
                        Payload {
                            msg: body,
                            aad: &aad,
                        },
                    )
                    .ok()
            })
            .and_then(|p| String::from_utf8(p).ok())
            .ok_or_else(|| {
                "the sealed password does not open with this worker's fleet key (another key, \
                 or an entry whose id, URL or user name changed since it was sealed)"
                    .into()
            })
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const K2: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    #[test]
    fn sealed_passwords_open_only_for_their_camera_and_key() {
        let key = FleetKey::parse(&format!("# the fleet's key\n{K1}\n")).unwrap();
        let s = key.seal("door", "rtsp://cam/1", "admin", "pa/ss@w:rd");
        assert!(s.starts_with(PREFIX) && !s.contains("pa/ss"));
        // Random nonces: the same password seals differently each time.
        assert_ne!(s, key.seal("door", "rtsp://cam/1", "admin", "pa/ss@w:rd"));
        assert_eq!(
            key.open("door", "rtsp://cam/1", "admin", &s).unwrap(),
            "pa/ss@w:rd"
        );
        for (id, url, user) in [
            ("gate", "rtsp://cam/1", "admin"),
            ("door", "rtsp://attacker.example/1", "admin"),
            ("door", "rtsp://cam/1", "root"),
            // The same bytes shifted between the URL and the user name.
            ("door", "rtsp://cam/1admin", ""),
            ("door", "rtsp://cam/", "1admin"),
        ] {
            assert!(key.open(id, url, user, &s).is_err(), "{id} {url} {user}");
        }
        let other = FleetKey::parse(K2).unwrap();
        assert!(other.open("door", "rtsp://cam/1", "admin", &s).is_err());
        // Rotation: the new key first seals, the old one still opens.
        let both = FleetKey::parse(&format!("{K2}\n{K1}")).unwrap();
        assert_eq!(
            both.open("door", "rtsp://cam/1", "admin", &s).unwrap(),
            "pa/ss@w:rd"
        );
        let resealed = both.seal("door", "rtsp://cam/1", "admin", "pa/ss@w:rd");
        assert!(
            key.open("door", "rtsp://cam/1", "admin", &resealed)
                .is_err()
        );
        assert!(
            other
                .open("door", "rtsp://cam/1", "admin", &resealed)
                .is_ok()
        );
        // Garbage is an error, not a panic.
        for junk in ["", PREFIX, "xc20p1:!!", "xc20p1:AAAA", "plain"] {
            assert!(key.open("door", "rtsp://cam/1", "admin", junk).is_err());
        }
        assert!(!format!("{key:?}").contains("0011"));
    }

    #[test]
    fn key_files() {
        assert!(FleetKey::parse("").is_err());
        assert!(FleetKey::parse("# nothing\n").is_err());
        let e = FleetKey::parse(&format!("{K1}\nnot-a-key-but-secret\n")).unwrap_err();
        assert!(e.contains("line 2") && !e.contains("secret"), "{e}");
        assert!(FleetKey::parse(&K1[..62]).is_err());
        assert_eq!(
            FleetKey::parse(&format!("{K1}\n{K2}")).unwrap().keys.len(),
            2
        );
    }
}
