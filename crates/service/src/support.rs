//! Helpers every part of the service (and the fleet) uses: a lock that a panic elsewhere does
//! not poison, the wall clock in seconds, the process's file descriptor limit, and the TLS
//! client settings of the outputs that reach out (MQTT, webhooks).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Locks a mutex; a panic elsewhere while it was held does not poison the service.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Cameras, their decoders and HTTP connections each take file descriptors: the soft limit
/// (often 1024) is raised to the hard one, as servers do.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer to an rlimit on the stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } == 0
        && limit.rlim_cur < limit.rlim_max
    {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: a valid pointer to an rlimit on the stack; failure leaves the limit as it was.
        let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
    }
}

/// A TLS client's settings (rustls on ring): roots from a PEM file, else the system's.
/// `flag` names the file's option in errors.
pub fn tls_client_config(
    ca_file: Option<&Path>,
    flag: &str,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            use rustls_pki_types::CertificateDer;
            use rustls_pki_types::pem::PemObject;
            let shown = path.display();
            let certs =
                CertificateDer::pem_file_iter(path).map_err(|e| format!("{flag} {shown}: {e}"))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("{flag} {shown}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{flag} {shown}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("{flag} {shown}: no certificate in it"));
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(format!(
                    "TLS: the system has no root certificates; give {flag}"
                ));
            }
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| format!("TLS: {e}"))
}
