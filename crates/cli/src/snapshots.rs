//! `--snapshots DIR --snapshot-every SECS`: every stream's latest annotated frame written to
//! `DIR/<stream>/<capture time in ms>.jpg` at most once per period (a frame already written is
//! not written again), the oldest beyond `--snapshot-keep` removed. Files appear whole (written
//! aside, then renamed). A stream's folder is named by its id as it is (ids are
//! `[A-Za-z0-9_.-]`, no leading dot: two ids never share a folder, none escapes `DIR`), and
//! is removed with the stream.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use tokio::task::JoinHandle;
use tracing::warn;

use crate::service::Service;

/// Starts the writer.
pub(crate) fn spawn(
    service: Arc<Service>,
    dir: PathBuf,
    every: Duration,
    keep: usize,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut written: HashMap<String, u64> = HashMap::new();
        let mut warned = false;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            for id in service.manager.stream_ids() {
                let Some(conn) = service.manager.stream(&id) else {
                    continue;
                };
                let (folder, last) = (dir.clone(), written.get(&id).copied());
                let id2 = id.clone();
                let done = tokio::task::spawn_blocking(move || -> std::io::Result<Option<u64>> {
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
                    write(&folder.join(&id2), &format!("{ms:013}.jpg"), &s.jpeg, keep)?;
                    Ok(Some(s.frame_number))
                })
                .await;
                match done {
                    Ok(Ok(Some(frame))) => {
                        written.insert(id, frame);
                        service
                            .metrics
                            .snapshots_written
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(e)) if !warned => {
                        warn!(dir = %dir.display(), error = %e, "cannot write snapshots");
                        warned = true;
                    }
                    _ => {}
                }
            }
            // Streams removed since: their folders go with them.
            let gone: Vec<String> = written
                .keys()
                .filter(|id| service.manager.stream(id).is_none())
                .cloned()
                .collect();
            for id in gone {
                written.remove(&id);
                let folder = dir.join(&id);
                let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(folder)).await;
            }
        }
    })
}

fn write(dir: &Path, name: &str, jpeg: &[u8], keep: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, jpeg)?;
    std::fs::rename(&tmp, dir.join(name))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    if files.len() > keep {
        files.sort();
        for old in &files[..files.len() - keep] {
            let _ = std::fs::remove_file(old);
        }
    }
    Ok(())
}
