//! Test support shared by this crate's test binaries: the setup's clips as access units
//! (through rtsp-ingest's replay source), and this crate's packet types made from them.

#![allow(dead_code)] // each test binary uses a different part of this module

pub(crate) use testkit as common;

use gpu_decode::{Codec, CodecConfig, Decoder, Error, Frame, Packet};
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

// What every `Decoder` backend must do, checked the same way for each (the CPU decoder in
// tests/decode.rs, NVDEC on its stand-in in tests/nvdec.rs).

/// Decodes every unit, handing each frame to `look` as soon as it is out, then flushes.
pub(crate) fn decode_each(dec: &mut dyn Decoder, aus: &[AccessUnit], mut look: impl FnMut(Frame)) {
    for au in aus {
        dec.decode(&packet(au)).unwrap();
        while let Some(f) = dec.next_frame() {
            look(f);
        }
    }
    dec.flush().unwrap();
    while let Some(f) = dec.next_frame() {
        look(f);
    }
}

/// A fresh decoder for a clip's stream; the checks below make one per scenario.
pub(crate) type Make<'a> = &'a mut dyn FnMut(&AccessUnit) -> Box<dyn Decoder>;

/// Frame 60 of the H.264 clip (a P-frame) damaged: an error or a counted drop, nothing from
/// 61 to the next keyframe (100), everything after it. Then garbage flagged as keyframes:
/// errors or skips, never a panic, and a good keyframe still decodes.
pub(crate) fn corrupt_input_recovers_at_the_next_keyframe(make: Make<'_>) {
    let mut aus = units("h264_720p25.h264");
    damage(&mut aus, 60);
    let mut dec = make(&aus[0]);
    let mut errors = 0;
    let mut pts = Vec::new();
    for au in &aus {
        match dec.decode(&packet(au)) {
            Ok(()) => {}
            Err(Error::Corrupt { .. }) => errors += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
        pts.extend(std::iter::from_fn(|| dec.next_frame()).map(|f| f.pts));
    }
    dec.flush().unwrap();
    pts.extend(std::iter::from_fn(|| dec.next_frame()).map(|f| f.pts));
    let s = dec.stats();
    assert!(
        s.corrupt >= 1 || errors >= 1,
        "the damage was noticed: {s:?}"
    );
    assert!(pts.contains(&59));
    assert!(pts.iter().all(|&p| p <= 60 || p >= 100), "{pts:?}");
    assert_eq!(
        pts.iter().filter(|&&p| p >= 100).count(),
        150,
        "recovered at the keyframe"
    );
    assert_eq!(s.packets, 250);

    let mut dec = make(&aus[0]);
    for (i, junk) in [
        vec![0u8; 0],
        vec![0, 0, 1],
        vec![0, 0, 0, 1, 0x65, 0xff, 0xff],
        (0..5000).map(|i| (i % 256) as u8).collect(),
    ]
    .iter()
    .enumerate()
    {
        let _ = dec.decode(&Packet {
            data: junk,
            pts: i as i64,
            keyframe: true,
        });
    }
    dec.decode(&packet(&aus[0])).unwrap();
    dec.flush().unwrap();
    assert!(
        dec.next_frame().is_some(),
        "a good keyframe still decodes after garbage"
    );
}

/// A decoder with a 4-frame queue whose consumer does not keep up: the newest frames win,
/// and a consumer holding every buffer makes new frames drop, counted. Returns the frames
/// held, for the caller to check memory against.
pub(crate) fn a_slow_consumer_loses_old_frames(dec: &mut dyn Decoder) -> Vec<Frame> {
    let aus = units("h264_720p25.h264");
    for au in &aus[..60] {
        dec.decode(&packet(au)).unwrap();
    }
    let s = dec.stats();
    assert_eq!((s.frames, s.queued, s.dropped_queue_full), (60, 4, 56));
    let newest: Vec<i64> = std::iter::from_fn(|| dec.next_frame())
        .map(|f| f.pts)
        .collect();
    assert_eq!(newest, vec![56, 57, 58, 59], "the newest frames win");
    let mut held = Vec::new();
    for au in &aus[60..100] {
        dec.decode(&packet(au)).unwrap();
        if let Some(f) = dec.next_frame() {
            held.push(f);
        }
    }
    let s = dec.stats();
    assert!(s.dropped_no_buffer > 0, "{s:?}");
    assert_eq!(
        s.frames,
        s.delivered + s.dropped_queue_full + s.dropped_no_buffer + s.queued
    );
    held
}

/// `reset` 30 frames into the H.265 clip: the 20 packets before the next keyframe (50) are
/// skipped, counted, and decoding goes on from it.
pub(crate) fn reset_waits_for_a_keyframe(make: Make<'_>) -> Box<dyn Decoder> {
    let aus = units("h265_720p25.h265");
    let mut dec = make(&aus[0]);
    for au in &aus[..30] {
        dec.decode(&packet(au)).unwrap();
    }
    dec.reset();
    let mut pts = Vec::new();
    decode_each(&mut *dec, &aus[30..120], |f| pts.push(f.pts));
    assert_eq!(pts, (50..120).collect::<Vec<_>>());
    assert_eq!(dec.stats().skipped_until_keyframe, 20);
    assert_eq!(dec.stats().resets, 1);
    dec
}
