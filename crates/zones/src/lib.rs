//! Zones and counting lines over tracked objects: which objects are in which polygon, who
//! crossed which line in which direction. Pure logic with no I/O and no clock (times are
//! passed in), like the batcher and the tracker, so that it can be used alone and tested by
//! property.
//!
//! It depends on no crate of the workspace (tidy's `LAYERS`).
//!
//! An object's position is the bottom centre of its box (where a person stands). A zone is a
//! polygon with an optional label filter; an object enters it after its point has been inside
//! for `inertia` updates in a row and leaves after as many outside (so that a box jittering on
//! the edge does not flicker in and out), and loiters once it has been inside `loiter_seconds`.
//! A line is directed, `from` → `to`: crossing it in the direction of `to − from` turned a
//! quarter turn clockwise on screen (image y pointing down) counts as **in**, the other way
//! **out**; a line drawn left to right counts downward crossings as in. A side only changes
//! once the point is more than `band` pixels away from the line, so that jitter along the line
//! does not count twice, and a crossing counts only between the segment's ends.
//!
//! ```
//! use zones::{Analyzer, Line, Object, Scene};
//!
//! let scene = Scene {
//!     zones: vec![],
//!     lines: vec![Line::new("door", (100.0, 0.0), (100.0, 480.0))],
//! };
//! let mut a = Analyzer::new(scene)?;
//! let walker = |x: f32| Object { track_id: 7, label: "person".into(), bbox: [x - 10.0, 200.0, x + 10.0, 300.0] };
//! for (i, x) in [50.0, 80.0, 120.0, 150.0].into_iter().enumerate() {
//!     a.update(i as f64 * 0.1, &[walker(x)], &[]);
//! }
//! // The line is drawn downwards, so in is leftwards: this walker went out.
//! assert_eq!(a.line_counts()["door"].out_of("person"), 1);
//! # Ok::<(), zones::Error>(())
//! ```
//!
//! # Crate features
//!
//! None.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod geometry;
mod saved;
mod scene;

pub use crate::geometry::{point_in_polygon, segments_cross, side_of};
pub use crate::scene::{
    Analyzer, Crossing, Direction, Error, Event, Line, LineCounts, MAX_COORDINATE, MAX_LABELS,
    MAX_LINES, MAX_NAME, MAX_POINTS, MAX_ZONES, Object, ObjectZones, Scene, Update, Zone,
};
