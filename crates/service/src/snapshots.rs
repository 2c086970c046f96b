//! `--snapshots DIR --snapshot-every SECS`: every stream's latest annotated frame written to
//! `DIR/<stream>/<capture time in ms>.jpg` at most once per period (a frame already written is
//! not written again), the oldest beyond `--snapshot-keep` removed. Files appear whole (written
//! aside, then renamed). A stream's folder is named by its id as it is (ids are
//! `[A-Za-z0-9_.-]`, no leading dot: none escapes `DIR`, and on a case-sensitive file system
//! two ids never share a folder). Only names of this form (`<13 digits>.jpg`) are ever
//! pruned or removed; a folder this run created is removed with its stream once it holds
//! nothing else, and a symbolic link or a file where the folder should be is refused.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use futures::future::BoxFuture;
use rtsp_worker::{StreamConnection, StreamEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::warn;

use crate::sink::{Sink, StreamSink};
use crate::support::lock;

/// Snapshots waiting for the writer at most; a stream whose snapshot finds it full tries
/// again with its next result.
const QUEUE: usize = 256;

/// What the writer is asked to do.
enum Job {
    /// Write the stream's latest snapshot, unless that frame was written already.
    Write { id: String, conn: StreamConnection },
    /// The stream was removed: its folder goes, if this run made it.
    Gone { id: String },
}

/// The snapshot writer, a sink: each stream asks for a snapshot when a result comes at
/// least `every` after its last one; one task writes them, in order.
#[derive(Debug)]
pub struct Snapshots {
    every: Duration,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    dropped: Arc<AtomicU64>,
}

impl Snapshots {
    /// Starts the writer into `dir`, keeping `keep` files per stream; `written` and
    /// `dropped` count the snapshots written and those the queue had no room for.
    pub fn start(
        dir: PathBuf,
        every: Duration,
        keep: usize,
        written: Arc<AtomicU64>,
        dropped: Arc<AtomicU64>,
    ) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        Self {
            every,
            jobs: Mutex::new(Some(jobs)),
            writer: Mutex::new(Some(tokio::spawn(writer(dir, keep, written, rx)))),
            dropped,
        }
    }
}

impl Sink for Snapshots {
    fn open(&self, conn: &StreamConnection, _lease: Option<u64>) -> Option<Box<dyn StreamSink>> {
        Some(Box::new(StreamSnapshots {
            id: conn.id().to_owned(),
            conn: conn.clone(),
            jobs: lock(&self.jobs).clone()?,
            every: self.every,
            last: None,
            dropped: self.dropped.clone(),
        }))
    }

    fn forget(&self, id: &str) {
        let jobs = lock(&self.jobs).clone();
        if let Some(jobs) = jobs
            && jobs.try_send(Job::Gone { id: id.to_owned() }).is_err()
        {
            // Its folder stays (the files in it are still pruned to `keep`).
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            // What is queued is written (for a second at most); the folders stay.
            drop(lock(&self.jobs).take());
            let writer = lock(&self.writer).take();
            if let Some(mut w) = writer
                && tokio::time::timeout(Duration::from_secs(1), &mut w)
                    .await
                    .is_err()
            {
                w.abort();
            }
        })
    }
}

/// One stream's requests.
struct StreamSnapshots {
    id: String,
    conn: StreamConnection,
    jobs: mpsc::Sender<Job>,
    every: Duration,
    last: Option<Instant>,
    dropped: Arc<AtomicU64>,
}

impl StreamSink for StreamSnapshots {
    fn offer(&mut self, event: &StreamEvent) {
        if !matches!(event, StreamEvent::Result(_))
            || self.last.is_some_and(|t| t.elapsed() < self.every)
        {
            return;
        }
        let job = Job::Write {
            id: self.id.clone(),
            conn: self.conn.clone(),
        };
        match self.jobs.try_send(job) {
            Ok(()) => self.last = Some(Instant::now()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Writes what it is asked to, one job at a time (file I/O on the blocking pool).
async fn writer(
    dir: PathBuf,
    keep: usize,
    written_count: Arc<AtomicU64>,
    mut jobs: mpsc::Receiver<Job>,
) {
    // Per stream: the last frame written, and whether this run created its folder.
    let mut written: HashMap<String, (u64, bool)> = HashMap::new();
    let mut warned = false;
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Write { id, conn } => {
                let (folder, last) = (dir.join(&id), written.get(&id).map(|w| w.0));
                let done =
                    tokio::task::spawn_blocking(move || -> std::io::Result<Option<(u64, bool)>> {
                        let Some(s) = conn.snapshot() else {
                            return Ok(None);
                        };
                        if Some(s.frame_number) == last || s.jpeg.is_empty() {
                            return Ok(None);
                        }
                        let ms = s
                            .wall_clock
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis());
                        let created = write(&folder, &format!("{ms:013}.jpg"), &s.jpeg, keep)?;
                        Ok(Some((s.frame_number, created)))
                    })
                    .await;
                match done {
                    Ok(Ok(Some((frame, created)))) => {
                        let created = created || written.get(&id).is_some_and(|w| w.1);
                        written.insert(id, (frame, created));
                        written_count.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(e)) if !warned => {
                        warn!(dir = %dir.display(), error = %e, "cannot write snapshots");
                        warned = true;
                    }
                    _ => {}
                }
            }
            Job::Gone { id } => {
                if written.remove(&id).is_some_and(|w| w.1) {
                    let folder = dir.join(&id);
                    let _ = tokio::task::spawn_blocking(move || remove(&folder)).await;
                }
            }
        }
    }
}

/// Whether a file name is one this writer makes (`<13 digits>.jpg`).
fn ours(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| {
        n.strip_suffix(".jpg")
            .is_some_and(|ms| ms.len() == 13 && ms.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Writes one snapshot into `dir` (created if missing; a link or a file there is refused) and
/// prunes the oldest of ours beyond `keep`. Returns whether it created the folder.
fn write(dir: &Path, name: &str, jpeg: &[u8], keep: usize) -> std::io::Result<bool> {
    let created = match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => false,
        Ok(_) => {
            return Err(std::io::Error::other(format!(
                "{} is not a folder (a link or a file)",
                dir.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::create_dir(dir)?;
            true
        }
        Err(e) => return Err(e),
    };
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, jpeg)?;
    std::fs::rename(&tmp, dir.join(name))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| ours(&e.file_name()))
        .map(|e| e.path())
        .collect();
    if files.len() > keep {
        files.sort();
        for old in &files[..files.len() - keep] {
            let _ = std::fs::remove_file(old);
        }
    }
    Ok(created)
}

/// Removes our files from a folder this run created, then the folder if nothing else is in it.
fn remove(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name();
        let part = name
            .to_str()
            .is_some_and(|n| n.starts_with('.') && n.ends_with(".jpg.part"));
        if ours(&name) || part {
            let _ = std::fs::remove_file(e.path());
        }
    }
    std::fs::remove_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_files_and_folders_go() {
        let root = std::env::temp_dir().join(format!("rw-snapshots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        // A folder that was there before, with someone else's files.
        let theirs = root.join("models");
        std::fs::create_dir_all(&theirs).unwrap();
        std::fs::write(theirs.join("yolo.onnx"), b"x").unwrap();
        std::fs::write(theirs.join("photo.jpg"), b"x").unwrap();
        for n in 0..3 {
            let created = write(&theirs, &format!("{:013}.jpg", 1000 + n), b"jpeg", 2).unwrap();
            assert!(!created);
        }
        let mut left: Vec<String> = std::fs::read_dir(&theirs)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "0000000001001.jpg",
                "0000000001002.jpg",
                "photo.jpg",
                "yolo.onnx"
            ]
        );
        // A folder of ours goes with its stream; a link is refused.
        let mine = root.join("door");
        assert!(write(&mine, "0000000000001.jpg", b"jpeg", 5).unwrap());
        remove(&mine).unwrap();
        assert!(!mine.exists());
        std::os::unix::fs::symlink(&theirs, root.join("link")).unwrap();
        assert!(write(&root.join("link"), "0000000000001.jpg", b"jpeg", 5).is_err());
        let _ = std::fs::remove_dir_all(&root);
    }
}
