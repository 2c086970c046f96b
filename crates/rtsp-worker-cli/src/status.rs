//! The status line on stderr.

use std::time::Duration;

use rtsp_worker::StreamConnectionManager;
use service::output;
use tokio::task::JoinHandle;

/// The status line on stderr every `every` seconds (0: none).
pub(crate) fn status_lines(
    manager: &StreamConnectionManager,
    every: f64,
) -> Option<JoinHandle<()>> {
    (every > 0.0).then(|| {
        let every = Duration::from_secs_f64(every);
        let manager = manager.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("{}", output::status_line(&manager.get_stats()));
            }
        })
    })
}
