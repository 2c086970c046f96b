//! The worker service around the facade (`rtsp-worker`): what the `rtsp-worker` binary runs,
//! as a library that its tests and the fuzz targets can use without compiling its sources a
//! second time.
//!
//! So far: the cameras file ([`config`]). Issue 25 moves the camera registry and its
//! sources, and the outputs, here in steps. It may depend on the facade, never on the binary
//! (`cli`) nor on the fleet; nothing below the facade knows it.

pub mod config;
