//! A tracker's whole state as bytes: taken between any two updates, restored exactly, and
//! moved to another session's frame numbers by capture time.
//!
//! The format is this crate's own, little-endian and versioned ([`Snapshot::VERSION`]):
//! floats are stored as their bits, so restoring and going on gives the very updates the
//! tracker would have given had it never stopped. Settings are not in it: a snapshot is
//! restored with a [`TrackerConfig`](crate::TrackerConfig) of the same kind, normally the same
//! configuration that made it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Error;

const MAGIC: &[u8; 4] = b"RWTS";

/// A tracker's state at one moment ([`Tracker::snapshot`](crate::Tracker::snapshot)), with
/// the frame number and capture time of the last frame it saw.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot {
    bytes: Vec<u8>,
    header: Header,
}

/// What a snapshot says of itself without restoring it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    kind: u8,
    last_frame: Option<u64>,
    captured_us: Option<i64>,
    tracks: u32,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("kind", &self.header.kind)
            .field("last_frame", &self.header.last_frame)
            .field("captured", &self.captured())
            .field("tracks", &self.header.tracks)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Where a restored tracker's time starts: the first frame the new session will pass to
/// `update`, when it was captured, and the camera's frame rate. With it, the restored
/// tracker counts the frames between the snapshot's last frame and this one by capture time
/// (a restart loses the frames in between; a new session numbers frames from anywhere).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resume {
    /// The frame number of the new session's first update.
    pub frame: u64,
    /// When that frame was captured.
    pub captured: SystemTime,
    /// Camera frames per second (finite, above 0).
    pub fps: f64,
}

impl Snapshot {
    /// The format's version; [`Snapshot::from_bytes`] refuses others.
    pub const VERSION: u16 = 1;

    /// The encoded state, to store or send.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The snapshot in `bytes` and a reader of its body (the crate root checks the body
    /// against its kind: [`Snapshot::from_bytes`]).
    pub(crate) fn parse(bytes: &[u8]) -> Result<(Self, Reader<'_>), Error> {
        let mut r = Reader::new(bytes);
        let header = r.header()?;
        Ok((
            Self {
                bytes: bytes.to_vec(),
                header,
            },
            r,
        ))
    }

    /// The frame number of the last update before it was taken (`None`: no update yet).
    pub fn last_frame(&self) -> Option<u64> {
        self.header.last_frame
    }

    /// When that frame was captured, if the taker said.
    pub fn captured(&self) -> Option<SystemTime> {
        self.header.captured_us.map(from_micros)
    }

    /// Live tracks in it.
    pub fn tracks(&self) -> usize {
        self.header.tracks as usize
    }

    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        let header = Reader::new(&bytes)
            .header()
            .expect("a snapshot this crate wrote has a header");
        Self { bytes, header }
    }

    pub(crate) fn kind(&self) -> u8 {
        self.header.kind
    }

    /// The body, after the header.
    pub(crate) fn body(&self) -> Reader<'_> {
        let mut r = Reader::new(&self.bytes);
        r.header().expect("checked when made");
        r
    }

    /// The offset from a session's frame numbers to the tracker's own that makes `resume`'s
    /// first frame come as many frames after the snapshot's last frame as its capture time
    /// says; `None` without a time base on both sides.
    pub(crate) fn offset_for(&self, resume: &Resume, internal_last: u64) -> Result<i64, Error> {
        let (Some(_), Some(taken_us)) = (self.header.last_frame, self.header.captured_us) else {
            return Err(Error::BadSnapshot(
                "it has no capture time to map frames by (taken before any update or without one)"
                    .into(),
            ));
        };
        if !(resume.fps.is_finite() && resume.fps > 0.0 && resume.fps <= 1000.0) {
            return Err(Error::BadSnapshot(format!(
                "frame rate {} is not in (0, 1000]",
                resume.fps
            )));
        }
        let elapsed_us = i128::from(to_micros(resume.captured)) - i128::from(taken_us);
        // At least one frame later: the resumed session's first frame is a new frame.
        let frames = ((elapsed_us as f64 / 1e6) * resume.fps).round().max(1.0);
        if frames > 1e12 {
            return Err(Error::BadSnapshot("the resume time is absurdly far".into()));
        }
        // The new session's first frame is `internal_last + frames` in the tracker's time.
        let internal_first = i128::from(internal_last) + frames as i128;
        i64::try_from(internal_first - i128::from(resume.frame))
            .map_err(|_| Error::BadSnapshot("frame numbers out of range".into()))
    }
}

pub(crate) fn to_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |v| -v),
    }
}

fn from_micros(us: i64) -> SystemTime {
    if us >= 0 {
        UNIX_EPOCH + Duration::from_micros(us as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(us.unsigned_abs())
    }
}

/// Appends little-endian fields.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) bytes: Vec<u8>,
}

impl Writer {
    pub(crate) fn header(
        kind: u8,
        last_frame: Option<u64>,
        captured: Option<SystemTime>,
        tracks: usize,
    ) -> Self {
        let mut w = Self::default();
        w.bytes.extend_from_slice(MAGIC);
        w.u16(Snapshot::VERSION);
        w.u8(kind);
        w.opt_u64(last_frame);
        match captured {
            Some(t) => {
                w.u8(1);
                w.i64(to_micros(t));
            }
            None => w.u8(0),
        }
        w.u32(u32::try_from(tracks).unwrap_or(u32::MAX));
        w
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    pub(crate) fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.u64(v);
            }
            None => self.u8(0),
        }
    }
    pub(crate) fn f32(&mut self, v: f32) {
        self.u32(v.to_bits());
    }
    pub(crate) fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
}

/// Reads what [`Writer`] wrote; every read checks the length.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

fn short() -> Error {
    Error::BadSnapshot("it ends early".into())
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
    /// A magic number and this format's version.
    pub(crate) fn magic(&mut self, magic: &[u8; 4]) -> Result<(), Error> {
        if self.take::<4>()? != *magic {
            return Err(Error::BadSnapshot("not a tracker snapshot".into()));
        }
        let version = self.u16()?;
        if version != Snapshot::VERSION {
            return Err(Error::BadSnapshot(format!(
                "version {version}, this build reads version {}",
                Snapshot::VERSION
            )));
        }
        Ok(())
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let (head, rest) = self.bytes.split_first_chunk::<N>().ok_or_else(short)?;
        self.bytes = rest;
        Ok(*head)
    }
    fn header(&mut self) -> Result<Header, Error> {
        self.magic(MAGIC)?;
        let kind = self.u8()?;
        let last_frame = self.opt_u64()?;
        let captured_us = match self.u8()? {
            0 => None,
            1 => Some(self.i64()?),
            _ => return Err(Error::BadSnapshot("bad capture time".into())),
        };
        let tracks = self.u32()?;
        Ok(Header {
            kind,
            last_frame,
            captured_us,
            tracks,
        })
    }
    pub(crate) fn end(&self) -> Result<(), Error> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(Error::BadSnapshot(format!(
                "{} bytes after its end",
                self.bytes.len()
            )))
        }
    }
    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take::<1>()?[0])
    }
    pub(crate) fn bool(&mut self) -> Result<bool, Error> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(Error::BadSnapshot(format!("{v} is not a flag"))),
        }
    }
    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, Error> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    pub(crate) fn opt_u64(&mut self) -> Result<Option<u64>, Error> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u64()?)),
            v => Err(Error::BadSnapshot(format!("{v} is not an option tag"))),
        }
    }
    pub(crate) fn f32(&mut self) -> Result<f32, Error> {
        Ok(f32::from_bits(self.u32()?))
    }
    pub(crate) fn f64(&mut self) -> Result<f64, Error> {
        Ok(f64::from_bits(self.u64()?))
    }
}
