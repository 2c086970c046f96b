//! Test support shared by this crate's test binaries: the setup's clips as access units
//! (through rtsp-ingest's replay source), and this crate's packet types made from them.

#![allow(dead_code)] // each test binary uses a different part of this module

#[path = "../../../rtsp-ingest/tests/common/mod.rs"]
pub(crate) mod common;

use gpu_decode::{Codec, CodecConfig, Packet};
use rtsp_ingest::{AccessUnit, Event, ReplayOptions};

/// Every access unit of a clip, via the replay source played as fast as it goes.
pub(crate) fn units(file: &str) -> Vec<AccessUnit> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let opts = ReplayOptions::default()
            .looping(false)
            .fps(Some(1e6))
            .queue_frames(100_000);
        let mut cam = rtsp_ingest::replay(common::clips().join(file), opts).unwrap();
        let mut out = Vec::new();
        while let Some(e) = cam.next().await {
            if let Event::Frame(au) = e {
                out.push(au);
            }
        }
        out
    })
}

/// The decoder configuration for a unit's stream.
pub(crate) fn config(au: &AccessUnit) -> CodecConfig {
    CodecConfig {
        codec: match au.params.codec {
            rtsp_ingest::Codec::H264 => Codec::H264,
            rtsp_ingest::Codec::H265 => Codec::H265,
        },
        width: au.params.width,
        height: au.params.height,
    }
}

/// A unit as a packet, its frame number as the timestamp.
pub(crate) fn packet(au: &AccessUnit) -> Packet<'_> {
    Packet {
        data: &au.data,
        pts: au.frame_number as i64,
        keyframe: au.keyframe,
    }
}

/// A copy of `aus[i]` with the second half of its payload replaced by noise.
pub(crate) fn damage(aus: &mut [AccessUnit], i: usize) {
    let data = aus[i].data.to_vec();
    let mut bad = data[..data.len() / 2].to_vec();
    bad.extend((0..data.len() / 2).map(|i| (i * 131 % 251) as u8));
    aus[i].data = bad.into();
}
