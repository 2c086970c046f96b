//! Results as Python objects: the seed's `TrackingResult` fields over the facade's result,
//! converted when read, and its picture as a NumPy array only when asked.

use std::borrow::Cow;
use std::os::raw::c_int;

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// One tracked object (the seed's `TrackedObject`).
#[pyclass(module = "rtsp_worker", frozen, get_all)]
pub(crate) struct TrackedObject {
    /// Per stream from 1, never reused while the stream lives.
    track_id: u64,
    class_id: u32,
    class_name: String,
    /// The score of its last detection.
    confidence: f32,
    /// `(x1, y1, x2, y2)` in camera pixels.
    bbox: (f32, f32, f32, f32),
    /// Centre velocity in camera pixels per camera frame.
    velocity: (f32, f32),
    /// `"tentative"`, `"confirmed"`, `"lost"` (predicted box) or `"ended"`.
    state: &'static str,
    /// Camera frames since it started.
    age: u32,
    /// Detections matched to it.
    hits: u32,
    /// The zones it is in.
    zones: Vec<String>,
}

impl From<&rtsp_worker::TrackedObject> for TrackedObject {
    fn from(t: &rtsp_worker::TrackedObject) -> Self {
        let [x1, y1, x2, y2] = t.bbox;
        Self {
            track_id: t.track_id,
            class_id: t.class_id,
            class_name: t.class_name.clone(),
            confidence: t.confidence,
            bbox: (x1, y1, x2, y2),
            velocity: (t.velocity[0], t.velocity[1]),
            state: match t.state {
                rtsp_worker::TrackState::Tentative => "tentative",
                rtsp_worker::TrackState::Confirmed => "confirmed",
                rtsp_worker::TrackState::Lost => "lost",
                rtsp_worker::TrackState::Ended => "ended",
            },
            age: t.age,
            hits: t.hits,
            zones: t.zones.clone(),
        }
    }
}

#[pymethods]
impl TrackedObject {
    fn __repr__(&self) -> String {
        let (x1, y1, x2, y2) = self.bbox;
        format!(
            "TrackedObject(track_id={}, class_id={}, class_name={:?}, confidence={:.2}, \
             bbox=({x1:.1}, {y1:.1}, {x2:.1}, {y2:.1}), state={:?})",
            self.track_id, self.class_id, self.class_name, self.confidence, self.state
        )
    }
}

/// One raw detection (the seed's `detections`).
#[pyclass(module = "rtsp_worker", frozen, get_all)]
pub(crate) struct Detection {
    class_id: u32,
    class_name: String,
    confidence: f32,
    /// `(x1, y1, x2, y2)` in camera pixels.
    bbox: (f32, f32, f32, f32),
}

#[pymethods]
impl Detection {
    fn __repr__(&self) -> String {
        let (x1, y1, x2, y2) = self.bbox;
        format!(
            "Detection(class_id={}, class_name={:?}, confidence={:.2}, bbox=({x1:.1}, {y1:.1}, \
             {x2:.1}, {y2:.1}))",
            self.class_id, self.class_name, self.confidence
        )
    }
}

/// The outcome of one processed frame (the seed's `TrackingResult`, plus ours: wall clock,
/// latency, the stream's accounting, the frame on request).
#[pyclass(module = "rtsp_worker", frozen)]
pub(crate) struct TrackingResult {
    r: rtsp_worker::TrackingResult,
    stream: rtsp_worker::StreamConnection,
    keep_frames: bool,
}

impl TrackingResult {
    pub(crate) fn new(
        r: rtsp_worker::TrackingResult,
        stream: rtsp_worker::StreamConnection,
        keep_frames: bool,
    ) -> Self {
        Self {
            r,
            stream,
            keep_frames,
        }
    }
}

#[pymethods]
impl TrackingResult {
    #[getter]
    fn stream_id(&self) -> &str {
        &self.r.stream_id
    }

    /// Capture time, seconds since the Unix epoch (the camera's clock once it sent a sender
    /// report, else arrival).
    #[getter]
    fn timestamp(&self) -> f64 {
        self.r.timestamp
    }

    /// The camera's frame number (counts every frame received; gaps are frames not
    /// processed, counted in the stream's accounting).
    #[getter]
    fn frame_number(&self) -> u64 {
        self.r.frame_number
    }

    #[getter]
    fn tracked_objects<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.r.tracked_objects.iter().map(TrackedObject::from))
    }

    /// Tracks that ended on this frame.
    #[getter]
    fn ended_tracks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.r.ended_tracks.iter().map(TrackedObject::from))
    }

    /// `"model_changed"` or `"frame_size_changed"` when every track of the stream restarted
    /// on this frame (`ended_tracks` are them), else `None`.
    #[getter]
    fn tracks_restarted(&self) -> Option<&'static str> {
        self.r.tracks_restarted
    }

    #[getter]
    fn detections<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(
            py,
            self.r.detections.iter().map(|d| {
                let [x1, y1, x2, y2] = d.bbox;
                Detection {
                    class_id: d.class_id,
                    class_name: d.class_name.clone(),
                    confidence: d.confidence,
                    bbox: (x1, y1, x2, y2),
                }
            }),
        )
    }

    /// `(height, width, 3)` of the camera's frames.
    #[getter]
    fn frame_shape(&self) -> (u32, u32, u32) {
        (self.r.height, self.r.width, 3)
    }

    /// The seed's metadata: `frame_number`, `rtp_timestamp`, `wall_clock_synced`,
    /// `latency_ms`, `shape`.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("frame_number", self.r.frame_number)?;
        d.set_item("rtp_timestamp", self.r.rtp_timestamp)?;
        d.set_item("wall_clock_synced", self.r.wall_clock_synced)?;
        d.set_item("latency_ms", self.r.latency_ms)?;
        d.set_item("shape", self.frame_shape())?;
        Ok(d)
    }

    /// Capture time as an aware `datetime` (UTC).
    #[getter]
    fn wall_clock<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dt = py.import("datetime")?;
        let utc = dt.getattr("timezone")?.getattr("utc")?;
        dt.getattr("datetime")?
            .call_method1("fromtimestamp", (self.r.timestamp, utc))
    }

    #[getter]
    fn wall_clock_synced(&self) -> bool {
        self.r.wall_clock_synced
    }

    /// From the frame's arrival to this result, milliseconds.
    #[getter]
    fn latency_ms(&self) -> f64 {
        self.r.latency_ms
    }

    /// The stream's accounting now: `received`, `results`, `dropped` by reason,
    /// `in_pipeline`.
    #[getter]
    fn accounting<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stats = py.detach(|| self.stream.stats());
        crate::to_python(py, &stats.accounting)
    }

    /// Objects per zone, crossings per line and this frame's zone events (empty without a
    /// scene).
    #[getter]
    fn zones<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("counts", crate::to_python(py, &self.r.zone_counts)?)?;
        d.set_item("lines", crate::to_python(py, &self.r.line_counts)?)?;
        d.set_item("events", crate::to_python(py, &self.r.zone_events)?)?;
        Ok(d)
    }

    /// The frame as the detector saw it, `(height, width, 3)` RGB `uint8`, read-only, as a
    /// NumPy array (one conversion from the decoder's YUV, no further copy); with
    /// `annotated=True`, with tracks, ids, detections, zones and lines drawn. Needs
    /// `connect_stream(..., keep_frames=True)`; `None` for frames that stayed on a GPU.
    #[pyo3(signature = (annotated = false))]
    fn frame<'py>(&self, py: Python<'py>, annotated: bool) -> PyResult<Option<Bound<'py, PyAny>>> {
        if !self.keep_frames {
            return Err(crate::with_kind(
                crate::RtspWorkerError::new_err(
                    "frames are not kept for this stream: connect it with keep_frames=True",
                ),
                "invalid_config",
            ));
        }
        let Some(image) = self.r.frame.clone() else {
            return Ok(None);
        };
        let (w, h) = (image.width() as usize, image.height() as usize);
        let pixels = py.detach(|| {
            if annotated {
                Pixels::Owned(image.annotated(&self.r))
            } else {
                match image.rgb() {
                    Cow::Borrowed(_) => Pixels::Shared(image.clone()),
                    Cow::Owned(v) => Pixels::Owned(v),
                }
            }
        });
        let buffer = Bound::new(py, FrameBuffer { pixels })?;
        let np = py.import("numpy")?;
        let array = np.call_method1("frombuffer", (buffer, "uint8"))?;
        Ok(Some(array.call_method1("reshape", ((h, w, 3),))?))
    }

    /// Everything as plain Python objects (the JSON shape of docs/RESULTS.md).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::to_python(py, &self.r)
    }

    fn __repr__(&self) -> String {
        format!(
            "TrackingResult(stream_id={:?}, frame_number={}, tracked_objects={}, detections={}, \
             latency_ms={:.1})",
            self.r.stream_id,
            self.r.frame_number,
            self.r.tracked_objects.len(),
            self.r.detections.len(),
            self.r.latency_ms
        )
    }
}

/// Pixels owned by a NumPy array: shared with the result when the decoder's layout is RGB
/// already, else the one converted copy.
enum Pixels {
    Shared(rtsp_worker::FrameImage),
    Owned(Vec<u8>),
}

/// A read-only byte buffer (the buffer protocol) that NumPy wraps without copying.
#[pyclass(module = "rtsp_worker", frozen)]
struct FrameBuffer {
    pixels: Pixels,
}

#[pymethods]
impl FrameBuffer {
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("frames are read-only"));
        }
        let this = slf.get();
        let bytes: &[u8] = match &this.pixels {
            Pixels::Owned(v) => v,
            Pixels::Shared(image) => match image.rgb() {
                // Borrowed from the shared picture, which this object keeps alive.
                Cow::Borrowed(b) => unsafe { std::slice::from_raw_parts(b.as_ptr(), b.len()) },
                Cow::Owned(_) => return Err(PyBufferError::new_err("no shared pixels")),
            },
        };
        // SAFETY: `view` comes from the interpreter; the bytes live as long as `slf`, which
        // the view holds a reference to (PyBuffer_FillInfo takes one).
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                bytes.as_ptr() as *mut std::os::raw::c_void,
                bytes.len() as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(PyErr::fetch(slf.py()))
        }
    }
}
