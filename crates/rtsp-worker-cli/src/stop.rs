//! When a run stops, and how it ends: signals (Ctrl-C and SIGTERM drain, a second Ctrl-C
//! quits at once, SIGHUP reloads the cameras file, and its model, and goes on), the duration, every stream
//! ended, stdout gone; then the service's final accounting on stderr.

use std::sync::Arc;
use std::time::Duration;

use service::Service;
use tracing::warn;

use crate::exit::{Exit, Failure};

/// Resolves when the run should stop; true if because every stream ended.
pub(crate) async fn wait(service: &Arc<Service>, duration: Option<Duration>) -> bool {
    let sleep = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let reloads = async {
        loop {
            hangup().await;
            match service.reload().await {
                Ok(r) => {
                    eprintln!(
                        "rtsp-worker: reloaded: added {:?}, removed {:?}, failed {:?}",
                        r.added, r.removed, r.failed
                    );
                    if let Some(m) = &r.model {
                        eprintln!(
                            "rtsp-worker: model swapped to {} ({}x{}, sha256 {}, generation {})",
                            m.path, m.input_width, m.input_height, m.sha256, m.generation
                        );
                    }
                }
                Err(e) => eprintln!("rtsp-worker: reload refused, nothing changed: {e}"),
            }
        }
    };
    let stopped_by_streams = tokio::select! {
        _ = tokio::signal::ctrl_c() => {
            eprintln!("rtsp-worker: interrupted; draining (Ctrl-C again to quit at once)");
            false
        }
        _ = terminate() => false,
        () = sleep => false,
        () = service.stdout_gone() => false,
        () = service.all_ended() => true,
        () = reloads => false,
    };
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(Exit::Interrupted as i32);
        }
    });
    stopped_by_streams
}

/// Drains and closes the service, prints the final accounting; fails if every camera ended
/// with an error.
pub(crate) async fn finish(
    service: &Arc<Service>,
    stopped_by_streams: bool,
) -> Result<service::Finished, Failure> {
    let finished = service.finish(stopped_by_streams).await;
    eprint!("{}", finished.report());
    match &finished.all_failed {
        Some(m) => Err(Failure::new(Exit::AllCamerasFailed, m.clone())),
        None => Ok(finished),
    }
}

async fn hangup() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGHUP; reload through the HTTP API");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await
}

async fn terminate() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await
}
