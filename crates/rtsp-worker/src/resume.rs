//! A stream's tracks as bytes ([`TrackSnapshot`]): taken from a running or ended stream and
//! handed to a new connection of the same camera ([`StreamOptions::resume_tracks`]), so that
//! its ids go on across a restart, an upgrade or a move to another worker.
//!
//! [`StreamOptions::resume_tracks`]: crate::StreamOptions::resume_tracks

use std::time::SystemTime;

use tracker::{Reporter, Reporting, Resume, Snapshot, Tracker, TrackerConfig};

use crate::Error;

const MAGIC: &[u8; 4] = b"RWST";
/// 2 added the zones' state; version 1 (without) is still read.
const VERSION: u16 = 2;

/// A stream's tracker and what its caller was shown, with the camera's frame size and
/// frame rate ([`StreamConnection::track_snapshot`](crate::StreamConnection::track_snapshot)).
/// Restored into a new connection of the same camera, the tracks alive at the snapshot go on
/// with their ids (if they are seen again within the tracker's `max_age`, counted in camera
/// frames by capture time), new tracks get ids after every id shown before, and tracks that
/// do not come back end as usual.
#[derive(Clone, PartialEq)]
pub struct TrackSnapshot {
    tracker: Snapshot,
    reporter: Vec<u8>,
    size: (u32, u32),
    fps: f64,
    /// The stream's zones and lines state ([`zones::Analyzer::save`]); empty without a scene.
    zones: Vec<u8>,
}

impl std::fmt::Debug for TrackSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackSnapshot")
            .field("tracks", &self.tracker.tracks())
            .field("last_frame", &self.tracker.last_frame())
            .field("captured", &self.tracker.captured())
            .field("size", &self.size)
            .field("fps", &self.fps)
            .finish()
    }
}

impl TrackSnapshot {
    pub(crate) fn take(
        tracker: &dyn Tracker,
        reporter: &Reporter,
        captured: SystemTime,
        size: (u32, u32),
        fps: f64,
        zones: Vec<u8>,
    ) -> Self {
        Self {
            tracker: tracker.snapshot(Some(captured)),
            reporter: reporter.save(),
            size,
            fps,
            zones,
        }
    }

    /// The encoded snapshot, to store (a fleet keeps it in a key-value bucket) or send.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.tracker.as_bytes().len() + self.reporter.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.size.0.to_le_bytes());
        out.extend_from_slice(&self.size.1.to_le_bytes());
        out.extend_from_slice(&self.fps.to_bits().to_le_bytes());
        for part in [self.tracker.as_bytes(), &self.reporter, &self.zones] {
            out.extend_from_slice(&(part.len() as u64).to_le_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    /// A snapshot from [`to_bytes`](Self::to_bytes), checked whole.
    ///
    /// # Errors
    ///
    /// [`Error::BadTrackSnapshot`] if the bytes are not a complete snapshot this build reads.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bad = |why: &str| Error::BadTrackSnapshot(why.to_owned());
        let mut rest = bytes;
        if take(&mut rest, 4)? != MAGIC {
            return Err(bad("not a track snapshot"));
        }
        let version = u16::from_le_bytes(take_n(&mut rest)?);
        if !(1..=VERSION).contains(&version) {
            return Err(bad(&format!(
                "version {version}, this build reads version {VERSION}"
            )));
        }
        let size = (
            u32::from_le_bytes(take_n(&mut rest)?),
            u32::from_le_bytes(take_n(&mut rest)?),
        );
        let fps = f64::from_bits(u64::from_le_bytes(take_n(&mut rest)?));
        let mut part = || -> Result<&[u8], Error> {
            let len = u64::from_le_bytes(take_n(&mut rest)?);
            take(
                &mut rest,
                usize::try_from(len).map_err(|_| bad("a part longer than memory"))?,
            )
        };
        let tracker =
            Snapshot::from_bytes(part()?).map_err(|e| Error::BadTrackSnapshot(e.to_string()))?;
        let reporter = part()?.to_vec();
        let zones = if version >= 2 {
            part()?.to_vec()
        } else {
            Vec::new()
        };
        if !rest.is_empty() {
            return Err(bad("bytes after its end"));
        }
        // The reporter's part must parse too (with any rule: the rule is not in it).
        Reporter::load(Reporting::default(), &reporter)
            .map_err(|e| Error::BadTrackSnapshot(e.to_string()))?;
        if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
            return Err(bad("its frame rate is not in (0, 1000]"));
        }
        Ok(Self {
            tracker,
            reporter,
            size,
            fps,
            zones,
        })
    }

    /// Live tracks in it (shown or not yet).
    pub fn tracks(&self) -> usize {
        self.tracker.tracks()
    }

    /// When the last frame it tracked was captured.
    pub fn captured(&self) -> Option<SystemTime> {
        self.tracker.captured()
    }

    /// The camera's frame size when it was taken (a connection whose frames differ starts
    /// new tracks).
    pub fn frame_size(&self) -> (u32, u32) {
        self.size
    }

    /// The zones' state in it (empty: the stream had no zones or lines).
    pub(crate) fn zones(&self) -> &[u8] {
        &self.zones
    }

    /// The tracker and reporter this snapshot restores, the new session's first frame
    /// (`frame`, captured at `captured`) placed after the snapshot's last by capture time.
    pub(crate) fn restore(
        &self,
        config: &TrackerConfig,
        frame: u64,
        captured: SystemTime,
    ) -> Result<(Box<dyn Tracker>, Reporter), Error> {
        let resume = Resume {
            frame,
            captured,
            fps: self.fps,
        };
        let wrap = |e: tracker::Error| Error::BadTrackSnapshot(e.to_string());
        let tracker = config.restore(&self.tracker, Some(&resume)).map_err(wrap)?;
        let reporter = Reporter::load(config.reporting, &self.reporter).map_err(wrap)?;
        Ok((tracker, reporter))
    }
}

/// The next `n` bytes of `rest`, which moves past them.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], Error> {
    let (head, tail) = rest
        .split_at_checked(n)
        .ok_or_else(|| Error::BadTrackSnapshot("it ends early".into()))?;
    *rest = tail;
    Ok(head)
}

/// The next `N` bytes of `rest` as an array.
fn take_n<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], Error> {
    Ok(take(rest, N)?.try_into().expect("N bytes"))
}
