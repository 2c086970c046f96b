//! Bad input for the CPU decoder: random bytes, cut, bit-flipped and spliced access units of
//! the real clips, keyframes whose parameter sets (SPS, PPS, VPS) are damaged, in H.264 and
//! H.265, and keyframes that declare pictures of any size. Every `decode` returns `Ok` or a
//! typed error, never panics, and every case stays under a time bound; the counters add up
//! after every packet, frame buffers stay within their pool; and afterwards the same decoder
//! still decodes the real clip from its keyframe. The same entry points as
//! `fuzz/fuzz_targets/{decode_h264,decode_h265}.rs`.
//!
//! `cargo test -p gpu-decode --test bad_input -- --show-output` prints the cases tried
//! (`PROPTEST_CASES=N` runs N per property instead).

// The figures (cases tried, time) are the output: docs/RELIABILITY.md quotes them.
#![allow(clippy::print_stdout)]

mod support;

use testkit::bits::Bits;
use testkit::harness;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use gpu_decode::{Codec, CodecConfig, CpuDecoder, CpuDecoderOptions, Decoder, Error, Packet};
use harness::{Damage, apply, check, damage, within};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

/// The longest one case may take: a dozen packets of at most 720p, most of them rejected, or
/// a keyframe of the largest picture taken (about 0.2 s in a debug build).
const CASE_LIMIT: Duration = Duration::from_secs(2);

/// The first access units of a clip (its first keyframe and what follows), as owned bytes
/// with their keyframe flags.
fn clip(codec: Codec) -> &'static [(Vec<u8>, bool)] {
    static H264: OnceLock<Vec<(Vec<u8>, bool)>> = OnceLock::new();
    static H265: OnceLock<Vec<(Vec<u8>, bool)>> = OnceLock::new();
    let (cell, file) = match codec {
        Codec::H264 => (&H264, "vtest_576p10.h264"),
        Codec::H265 => (&H265, "h265_720p25.h265"),
    };
    cell.get_or_init(|| {
        let aus = support::units(file);
        assert!(aus[0].keyframe, "{file} starts with a keyframe");
        aus.iter()
            .take(8)
            .map(|au| (au.data.to_vec(), au.keyframe))
            .collect()
    })
}

/// Units decoded after the garbage to show the decoder still works.
const RECOVERY_UNITS: usize = 3;

/// One packet of garbage.
#[derive(Debug, Clone)]
enum Unit {
    /// Any bytes.
    Random(Vec<u8>),
    /// Any bytes after a start code.
    Nal(Vec<u8>),
    /// A real unit, damaged (anywhere, or in its first bytes, where its headers are).
    Real(Index, Vec<Damage>, bool),
    /// The head of one real unit and the tail of another.
    Splice(Index, Index, Index),
}

fn unit() -> impl Strategy<Value = Unit> {
    prop_oneof![
        2 => proptest::collection::vec(any::<u8>(), 0..2048).prop_map(Unit::Random),
        2 => proptest::collection::vec(any::<u8>(), 0..256).prop_map(Unit::Nal),
        5 => (
            any::<Index>(),
            proptest::collection::vec(damage(16, 64), 1..4),
            any::<bool>()
        )
            .prop_map(|(i, d, head)| Unit::Real(i, d, head)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(a, b, at)| Unit::Splice(a, b, at)),
    ]
}

fn bytes_of(unit: &Unit, units: &[(Vec<u8>, bool)]) -> Vec<u8> {
    match unit {
        Unit::Random(b) => b.clone(),
        Unit::Nal(b) => [&[0, 0, 0, 1][..], b].concat(),
        Unit::Real(i, damage, head) => {
            let mut data = i.get(units).0.clone();
            let focus = if *head { 128 } else { data.len() };
            apply(&mut data, damage, focus);
            data
        }
        Unit::Splice(a, b, at) => {
            let (a, b) = (&a.get(units).0, &b.get(units).0);
            let cut = at.index(a.len().min(b.len()) + 1);
            [&a[..cut], &b[cut..]].concat()
        }
    }
}

/// How the decoder is set up: as by default (full-size packed RGB), or as the pipeline does
/// (scaled YUV for the letterbox, short queues), with one or two frame threads.
#[derive(Debug, Clone, Copy)]
struct Setup {
    pipeline: bool,
    threads: usize,
}

fn setup() -> impl Strategy<Value = Setup> {
    (any::<bool>(), 1usize..=2).prop_map(|(pipeline, threads)| Setup { pipeline, threads })
}

fn decoder(codec: Codec, setup: Setup) -> CpuDecoder {
    let options = CpuDecoderOptions::default().threads(setup.threads);
    let options = if setup.pipeline {
        options
            .output_size(Some((320, 180)))
            .yuv420(true)
            .queue_frames(2)
            .held_frames(2)
    } else {
        options
    };
    let config = CodecConfig {
        codec,
        width: 0,
        height: 0,
    };
    CpuDecoder::new(&config, options).expect("FFmpeg's decoder opens")
}

/// The counters' invariant (see `DecodeStats`).
fn counters_add_up(dec: &CpuDecoder) -> Result<(), String> {
    let s = dec.stats();
    if s.frames == s.delivered + s.dropped_queue_full + s.dropped_no_buffer + s.queued {
        Ok(())
    } else {
        Err(format!("counters do not add up: {s:?}"))
    }
}

/// Decodes one packet and drains the frames; `Err` for a panic-free failure of a property.
/// Returns the frames and whether `decode` refused the packet.
fn feed(
    dec: &mut CpuDecoder,
    data: &[u8],
    pts: i64,
    keyframe: bool,
) -> Result<(usize, bool), String> {
    let refused = match dec.decode(&Packet {
        data,
        pts,
        keyframe,
    }) {
        Ok(()) => false,
        Err(Error::Corrupt { .. } | Error::Backend { .. } | Error::InvalidInput(_)) => true,
        Err(e) => return Err(format!("an error of the wrong kind: {e:?}")),
    };
    counters_add_up(dec)?;
    let mut frames = 0;
    while let Some(f) = dec.next_frame() {
        if f.width == 0 || f.height == 0 {
            return Err(format!("an empty frame {}x{}", f.width, f.height));
        }
        frames += 1;
    }
    counters_add_up(dec)?;
    Ok((frames, refused))
}

/// Packets of garbage, and how many of them `decode` refused with an error (the rest were
/// skipped, or decoded to frames flagged as damaged and dropped, or to frames).
#[derive(Debug, Default)]
struct Tally {
    packets: AtomicU32,
    refused: AtomicU32,
}

impl Tally {
    fn add(&self, (packets, refused): (u32, u32)) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.refused.fetch_add(refused, Ordering::Relaxed);
    }

    fn note(&self) -> String {
        format!(
            "{} garbage packets, {} refused with an error, the real clip decoded after every case",
            self.packets.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed)
        )
    }
}

/// Feeds `garbage` (bytes, keyframe flag), then the clip's first units to the same decoder:
/// they must decode. Returns the garbage packets and how many were refused.
fn garbage_then_clip(
    codec: Codec,
    setup: Setup,
    garbage: Vec<(Vec<u8>, bool)>,
) -> Result<(u32, u32), String> {
    let mut dec = decoder(codec, setup);
    let mut refused = 0;
    for (i, (data, key)) in garbage.iter().enumerate() {
        refused += u32::from(feed(&mut dec, data, i as i64, *key)?.1);
    }
    let mut frames = 0;
    for (i, (data, key)) in clip(codec).iter().take(RECOVERY_UNITS).enumerate() {
        frames += feed(&mut dec, data, 1000 + i as i64, *key)
            .map_err(|e| format!("the real unit {i} after the garbage: {e}"))?
            .0;
    }
    if dec.flush().is_err() {
        // A flush may still report the garbage's damage: the frames are what counts.
    }
    while dec.next_frame().is_some() {
        frames += 1;
    }
    counters_add_up(&dec)?;
    // Frame buffers come from a bounded pool, whatever the garbage declared.
    let pool = dec.pool();
    if pool.outstanding() != 0 || pool.allocated() > 8 {
        return Err(format!(
            "{} buffers out, {} allocated",
            pool.outstanding(),
            pool.allocated()
        ));
    }
    if frames == 0 {
        return Err(format!(
            "no frame from the real clip after the garbage: {:?}",
            dec.stats()
        ));
    }
    Ok((garbage.len() as u32, refused))
}

fn packets(codec: Codec) -> impl Strategy<Value = (Setup, Vec<(Unit, bool)>)> {
    let _ = clip(codec); // load the clip before the first case's clock starts
    (
        setup(),
        proptest::collection::vec((unit(), prop::bool::weighted(0.7)), 1..8),
    )
}

fn access_units(codec: Codec, target: &str, cases: u32) {
    let tally = Tally::default();
    check(
        target,
        cases,
        || packets(codec),
        |(setup, units)| {
            let garbage: Vec<(Vec<u8>, bool)> = units
                .iter()
                .map(|(u, key)| (bytes_of(u, clip(codec)), *key))
                .collect();
            let r = within(CASE_LIMIT, move || garbage_then_clip(codec, setup, garbage));
            tally.add(r.map_err(TestCaseError::fail)?);
            Ok(())
        },
        || tally.note(),
    );
}

#[test]
fn h264_access_units() {
    access_units(Codec::H264, "decode_h264", 128);
}

#[test]
fn h265_access_units() {
    access_units(Codec::H265, "decode_h265", 96);
}

// ---------------------------------------------------------------------------------------
// Parameter sets

/// The NAL units of an Annex B unit, start codes included.
fn split_nals(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i..i + 3] == [0, 0, 1] {
            starts.push(if i > 0 && data[i - 1] == 0 { i - 1 } else { i });
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| &data[s..starts.get(k + 1).copied().unwrap_or(data.len())])
        .collect()
}

/// Whether a NAL unit (start code included) is a parameter set: SPS and PPS, and VPS in H.265.
fn is_parameter_set(codec: Codec, nal: &[u8]) -> bool {
    let header = nal.iter().position(|&b| b == 1).map(|p| p + 1);
    let Some(&b) = header.and_then(|h| nal.get(h)) else {
        return false;
    };
    match codec {
        Codec::H264 => matches!(b & 0x1f, 7 | 8),
        Codec::H265 => matches!((b >> 1) & 0x3f, 32..=34),
    }
}

/// How a keyframe's parameter sets are damaged.
#[derive(Debug, Clone)]
enum SetDamage {
    /// Each parameter set damaged (past its start code).
    Each(Vec<Damage>),
    /// One of them replaced by its header and random bytes.
    Replace(Index, Vec<u8>),
    /// One dropped.
    Drop(Index),
    /// One repeated, the copy damaged.
    Repeat(Index, Vec<Damage>),
}

fn set_damage() -> impl Strategy<Value = SetDamage> {
    let damages = || proptest::collection::vec(damage(16, 64), 1..4);
    prop_oneof![
        4 => damages().prop_map(SetDamage::Each),
        2 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 0..48))
            .prop_map(|(i, b)| SetDamage::Replace(i, b)),
        1 => any::<Index>().prop_map(SetDamage::Drop),
        1 => (any::<Index>(), damages()).prop_map(|(i, d)| SetDamage::Repeat(i, d)),
    ]
}

/// The clip's first keyframe with its parameter sets damaged.
fn damaged_keyframe(codec: Codec, how: &SetDamage) -> Vec<u8> {
    let key = &clip(codec)[0].0;
    let nals = split_nals(key);
    let sets: Vec<usize> = (0..nals.len())
        .filter(|&i| is_parameter_set(codec, nals[i]))
        .collect();
    assert!(!sets.is_empty(), "the keyframe carries its parameter sets");
    let header = match codec {
        Codec::H264 => 5, // start code (4) and one header byte
        Codec::H265 => 6,
    };
    let mut out: Vec<Vec<u8>> = nals.iter().map(|n| n.to_vec()).collect();
    let damaged = |nal: &[u8], damage: &[Damage]| {
        let cut = header.min(nal.len());
        let mut body = nal[cut..].to_vec();
        let focus = body.len();
        apply(&mut body, damage, focus);
        [&nal[..cut], &body].concat()
    };
    match how {
        SetDamage::Each(damage) => {
            for &i in &sets {
                out[i] = damaged(nals[i], damage);
            }
        }
        SetDamage::Replace(which, bytes) => {
            let i = *which.get(&sets);
            out[i] = [&nals[i][..header.min(nals[i].len())], bytes].concat();
        }
        SetDamage::Drop(which) => out[*which.get(&sets)].clear(),
        SetDamage::Repeat(which, damage) => {
            let i = *which.get(&sets);
            let copy = damaged(nals[i], damage);
            out[i].extend_from_slice(&copy);
        }
    }
    out.concat()
}

#[test]
fn parameter_sets() {
    let tally = Tally::default();
    let codec = || prop_oneof![Just(Codec::H264), Just(Codec::H265)];
    check(
        "parameter_sets (decoder)",
        128,
        || {
            let _ = (clip(Codec::H264), clip(Codec::H265));
            (
                codec(),
                setup(),
                proptest::collection::vec(set_damage(), 1..4),
            )
        },
        |(codec, setup, damages)| {
            let garbage: Vec<(Vec<u8>, bool)> = damages
                .iter()
                .map(|d| (damaged_keyframe(codec, d), true))
                .collect();
            let r = within(CASE_LIMIT, move || garbage_then_clip(codec, setup, garbage));
            tally.add(r.map_err(TestCaseError::fail)?);
            Ok(())
        },
        || tally.note(),
    );
}

// ---------------------------------------------------------------------------------------
// Pictures too large to allocate

/// A baseline H.264 keyframe whose SPS declares `mbs` (width, height) macroblocks, with a
/// slice header that parses, so that a decoder sets up the whole picture before it meets the
/// noise of the slice data.
fn h264_keyframe_of(mbs: (u32, u32), noise: &[u8]) -> Vec<u8> {
    let mut sps = Bits::default();
    sps.bits(66, 8); // profile_idc: baseline
    sps.bits(0, 8); // constraint flags
    sps.bits(62, 8); // level_idc 6.2
    sps.ue(0); // seq_parameter_set_id
    sps.ue(0); // log2_max_frame_num_minus4
    sps.ue(2); // pic_order_cnt_type
    sps.ue(1); // max_num_ref_frames
    sps.bit(false); // gaps_in_frame_num_value_allowed_flag
    sps.ue(mbs.0 - 1);
    sps.ue(mbs.1 - 1);
    sps.bit(true); // frame_mbs_only_flag
    sps.bit(true); // direct_8x8_inference_flag
    sps.bit(false); // frame_cropping_flag
    sps.bit(false); // vui_parameters_present_flag
    let mut pps = Bits::default();
    pps.ue(0); // pic_parameter_set_id
    pps.ue(0); // seq_parameter_set_id
    pps.bit(false); // entropy_coding_mode_flag: CAVLC
    pps.bit(false); // bottom_field_pic_order_in_frame_present_flag
    pps.ue(0); // num_slice_groups_minus1
    pps.ue(0); // num_ref_idx_l0_default_active_minus1
    pps.ue(0); // num_ref_idx_l1_default_active_minus1
    pps.bit(false); // weighted_pred_flag
    pps.bits(0, 2); // weighted_bipred_idc
    pps.ue(0); // pic_init_qp_minus26 (se 0)
    pps.ue(0); // pic_init_qs_minus26
    pps.ue(0); // chroma_qp_index_offset
    pps.bit(false); // deblocking_filter_control_present_flag
    pps.bit(false); // constrained_intra_pred_flag
    pps.bit(false); // redundant_pic_cnt_present_flag
    let mut slice = Bits::default();
    slice.ue(0); // first_mb_in_slice
    slice.ue(7); // slice_type: I, all slices
    slice.ue(0); // pic_parameter_set_id
    slice.bits(0, 4); // frame_num
    slice.ue(0); // idr_pic_id
    slice.bit(false); // no_output_of_prior_pics_flag
    slice.bit(false); // long_term_reference_flag
    slice.ue(0); // slice_qp_delta (se 0)
    [sps.nal(&[0x67]), pps.nal(&[0x68]), {
        for &b in noise {
            slice.bits(u64::from(b), 8);
        }
        slice.nal(&[0x65])
    }]
    .concat()
}

/// Pictures from 16x16 up to far beyond anything a camera sends: a few are decoded, the
/// largest are refused, and none takes long or keeps the decoder from the real clip.
#[test]
fn declared_picture_sizes() {
    let tally = Tally::default();
    check(
        "decode_h264 (declared picture sizes)",
        24,
        || {
            let _ = clip(Codec::H264);
            (
                prop_oneof![
                    2 => (1u32..64, 1u32..64),
                    1 => (64u32..1024, 64u32..1024),
                    1 => (1024u32..65_536, 1u32..64),
                    1 => (1024u32..16_384, 1024u32..16_384),
                    // Near the largest picture taken (7680 x 4320).
                    2 => (400u32..=480, 200u32..=270),
                ],
                proptest::collection::vec(any::<u8>(), 0..256),
                setup(),
            )
        },
        |(mbs, noise, setup)| {
            let key = h264_keyframe_of(mbs, &noise);
            let garbage = vec![(key, true)];
            let r = within(CASE_LIMIT, move || {
                garbage_then_clip(Codec::H264, setup, garbage)
            });
            tally.add(r.map_err(TestCaseError::fail)?);
            Ok(())
        },
        || tally.note(),
    );
}
