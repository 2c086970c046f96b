//! Cameras added and removed at run time leak nothing: every socket a session opened is closed
//! once its handle is dropped. Alone in its test binary, since it counts the process's open
//! file descriptors.

mod common;

use std::time::Duration;

use common::{Server, clip, frames};
use rtsp_ingest::SessionOptions;

const SECS: Duration = Duration::from_secs(1);

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cameras_added_and_removed_leak_no_sockets() {
    let server = Server::start(&[format!("/cam={}", clip("h264_720p25.h264"))], None, None);
    // One round first, so that lazily created runtime resources exist before the baseline.
    let mut warm = rtsp_ingest::connect(&server.url("/cam"), SessionOptions::default()).unwrap();
    frames(&mut warm, 2).await;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline = open_fds();
    for round in 0..5 {
        let mut cams: Vec<_> = (0..4)
            .map(|_| rtsp_ingest::connect(&server.url("/cam"), SessionOptions::default()).unwrap())
            .collect();
        for cam in &mut cams {
            frames(cam, 2).await;
        }
        assert!(
            open_fds() > baseline,
            "round {round}: sessions hold sockets while playing"
        );
        drop(cams); // removal is dropping the handle
    }
    // Sessions end on their own tasks; give them a moment to close their sockets.
    let deadline = tokio::time::Instant::now() + 5 * SECS;
    while open_fds() > baseline && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        open_fds(),
        baseline,
        "file descriptors leaked by removed cameras"
    );
}
