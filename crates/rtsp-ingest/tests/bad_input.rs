//! Bad input for what this crate parses from outside: Annex B files and their parameter sets
//! (through [`rtsp_ingest::replay`], which reads the SPS for the picture size and frame rate),
//! and camera URLs (through [`rtsp_ingest::connect`]). Random bytes, cut and bit-flipped
//! heads of the real clips, and sequence parameter sets written field by field with extreme
//! values. Never a panic, every case under a time bound, and no error or redacted URL ever
//! shows a password. The same entry points as `fuzz/fuzz_targets/{parameter_sets,rtsp_url}.rs`.
//!
//! `cargo test -p rtsp-ingest --test bad_input -- --show-output` prints the cases tried
//! (`PROPTEST_CASES=N` runs N per property instead).

// The figures (cases tried, time) are the output: docs/RELIABILITY.md quotes them.
#![allow(clippy::print_stdout)]

mod common;

use testkit::harness;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use harness::{Damage, apply, check, damage, within};
use proptest::prelude::*;
use rtsp_ingest::{Credentials, Error, Event, ReplayOptions, SessionOptions};
use testkit::bits::Bits;

/// The longest one case may take.
const CASE_LIMIT: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------
// Annex B files and parameter sets

/// A `ue(v)` value: small, or anywhere in `u32` with the edges that overflow arithmetic.
fn ue() -> impl Strategy<Value = u32> {
    prop_oneof![
        6 => 0u32..64,
        1 => Just(u32::MAX),
        1 => Just(u32::MAX - 1),
        1 => Just(1 << 31),
        1 => Just((1 << 28) - 1),
        2 => any::<u32>(),
    ]
}

fn se() -> impl Strategy<Value = i32> {
    prop_oneof![
        4 => -8i32..8,
        1 => Just(i32::MAX),
        1 => Just(i32::MIN + 1),
        1 => any::<i32>(),
    ]
}

/// An H.264 SPS written field by field (7.3.2.1.1), values from anywhere.
fn h264_sps() -> impl Strategy<Value = Vec<u8>> {
    let profile = prop_oneof![
        Just(66u8),
        Just(77),
        Just(100),
        Just(110),
        Just(122),
        Just(244),
        Just(44),
        Just(83),
        Just(118),
        Just(128),
        Just(138),
        Just(139),
        Just(134),
        Just(135),
        any::<u8>()
    ];
    let high = (
        prop_oneof![0u32..4, ue()],
        any::<bool>(),
        (ue(), ue()),
        any::<bool>(),
        proptest::option::of(proptest::collection::vec(
            proptest::option::of(proptest::collection::vec(se(), 0..70)),
            12,
        )),
    );
    let order = (
        prop_oneof![0u32..3, ue()],
        ue(),
        (any::<bool>(), se(), se()),
        ue(),
        proptest::collection::vec(se(), 0..6),
    );
    let size = (ue(), ue(), ue(), any::<bool>(), any::<bool>());
    let crop = proptest::option::of((ue(), ue(), ue(), ue()));
    let vui = proptest::option::of((
        proptest::option::of(any::<u8>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(proptest::option::of(any::<u32>())),
        proptest::option::of((ue(), ue())),
        proptest::option::of((any::<u32>(), any::<u32>())),
    ));
    (profile, any::<u16>(), ue(), high, order, size, crop, vui).prop_map(
        |(profile, level, id, high, order, size, crop, vui)| {
            let mut w = Bits::default();
            w.bits(u64::from(profile), 8);
            w.bits(u64::from(level), 16);
            w.ue(id);
            if matches!(
                profile,
                100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
            ) {
                let (chroma, separate, (depth_l, depth_c), bypass, scaling) = high;
                w.ue(chroma);
                if chroma == 3 {
                    w.bit(separate);
                }
                w.ue(depth_l);
                w.ue(depth_c);
                w.bit(bypass);
                w.bit(scaling.is_some());
                for list in scaling.iter().flatten() {
                    w.bit(list.is_some());
                    for &d in list.iter().flatten() {
                        w.se(d);
                    }
                }
            }
            let (frame_num, poc_type, (delta_zero, off_a, off_b), cycle, offsets) = order;
            w.ue(frame_num);
            w.ue(poc_type);
            match poc_type {
                0 => w.ue(cycle),
                1 => {
                    w.bit(delta_zero);
                    w.se(off_a);
                    w.se(off_b);
                    w.ue(cycle);
                    for &o in &offsets {
                        w.se(o);
                    }
                }
                _ => {}
            }
            let (refs, width_mbs, height_units, frame_mbs_only, gaps) = size;
            w.ue(refs);
            w.bit(gaps);
            w.ue(width_mbs);
            w.ue(height_units);
            w.bit(frame_mbs_only);
            if !frame_mbs_only {
                w.bit(gaps);
            }
            w.bit(true); // direct_8x8_inference_flag
            w.bit(crop.is_some());
            if let Some((l, r, t, b)) = crop {
                for v in [l, r, t, b] {
                    w.ue(v);
                }
            }
            w.bit(vui.is_some());
            if let Some((aspect, overscan, signal, chroma_loc, timing)) = vui {
                w.bit(aspect.is_some());
                if let Some(idc) = aspect {
                    w.bits(u64::from(idc), 8);
                    if idc == 255 {
                        w.bits(0x0001_0001, 32);
                    }
                }
                w.bit(overscan.is_some());
                if let Some(o) = overscan {
                    w.bit(o);
                }
                w.bit(signal.is_some());
                if let Some(colour) = signal {
                    w.bits(0b0101, 4);
                    w.bit(colour.is_some());
                    if let Some(c) = colour {
                        w.bits(u64::from(c), 24);
                    }
                }
                w.bit(chroma_loc.is_some());
                if let Some((a, b)) = chroma_loc {
                    w.ue(a);
                    w.ue(b);
                }
                w.bit(timing.is_some());
                if let Some((units, scale)) = timing {
                    w.bits(u64::from(units), 32);
                    w.bits(u64::from(scale), 32);
                    w.bit(true); // fixed_frame_rate_flag
                }
            }
            w.nal(&[0x67])
        },
    )
}

/// An H.265 SPS written field by field (7.3.2.2.1) as far as the conformance window.
fn h265_sps() -> impl Strategy<Value = Vec<u8>> {
    (
        0u64..16,
        0u32..8,
        proptest::collection::vec(any::<u8>(), 12),
        proptest::collection::vec((any::<bool>(), any::<bool>()), 7),
        (ue(), prop_oneof![0u32..4, ue()], any::<bool>()),
        (ue(), ue()),
        proptest::option::of((ue(), ue(), ue(), ue())),
        proptest::collection::vec(any::<u8>(), 0..24),
    )
        .prop_map(
            |(vps, sub_layers, ptl, present, (id, chroma, separate), (w_, h), window, rest)| {
                let mut w = Bits::default();
                w.bits(vps, 4);
                w.bits(u64::from(sub_layers), 3);
                w.bit(true);
                for b in &ptl {
                    w.bits(u64::from(*b), 8);
                }
                for &(p, l) in &present[..sub_layers as usize] {
                    w.bit(p);
                    w.bit(l);
                }
                if sub_layers > 0 {
                    for _ in sub_layers..8 {
                        w.bits(0, 2);
                    }
                }
                for &(p, l) in &present[..sub_layers as usize] {
                    if p {
                        w.bits(0x5a5a_5a5a_5a5a, 44);
                        w.bits(0x0a5a_5a5a_5a5a, 44);
                    }
                    if l {
                        w.bits(0x5d, 8);
                    }
                }
                w.ue(id);
                w.ue(chroma);
                if chroma == 3 {
                    w.bit(separate);
                }
                w.ue(w_);
                w.ue(h);
                w.bit(window.is_some());
                if let Some((l, r, t, b)) = window {
                    for v in [l, r, t, b] {
                        w.ue(v);
                    }
                }
                for b in rest {
                    w.bits(u64::from(b), 8);
                }
                w.nal(&[0x42, 0x01])
            },
        )
}

const H264_PPS: &[u8] = &[0, 0, 0, 1, 0x68, 0xce, 0x38, 0x80];
const H264_IDR: &[u8] = &[0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33, 0xff];
const H265_VPS: &[u8] = &[
    0, 0, 0, 1, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0, 0, 3, 0, 0x90, 0, 0, 3, 0, 0, 3,
    0, 0x5d, 0xba, 0x02, 0x40,
];
const H265_PPS: &[u8] = &[0, 0, 0, 1, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40];
const H265_IDR: &[u8] = &[0, 0, 0, 1, 0x26, 0x01, 0xaf, 0x06, 0xb8, 0x63, 0xef];

/// The first bytes of a real clip (its parameter sets and the start of its first keyframe).
fn head(file: &str) -> &'static [u8] {
    static HEADS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    let heads = HEADS.get_or_init(|| {
        ["vtest_576p10.h264", "h265_720p25.h265"]
            .iter()
            .map(|f| {
                let data = std::fs::read(common::clips().join(f)).expect("read a clip");
                (f.to_string(), data[..data.len().min(16 * 1024)].to_vec())
            })
            .collect()
    });
    &heads
        .iter()
        .find(|(f, _)| f == file)
        .expect("a known clip")
        .1
}

/// A stream for the replay source: what it starts with decides the codec.
#[derive(Debug, Clone)]
enum Stream {
    /// Any bytes, named `.h264` or `.h265`.
    Random(Vec<u8>, bool),
    /// A head of a real clip (`true`: the H.265 one), damaged.
    Real(bool, Vec<Damage>),
    /// A written SPS with a PPS and a keyframe slice after it, then damaged.
    Written(bool, Vec<u8>, Vec<Damage>),
}

fn stream() -> impl Strategy<Value = Stream> {
    let damages = || proptest::collection::vec(damage(8, 32), 0..3);
    prop_oneof![
        2 => (proptest::collection::vec(any::<u8>(), 0..512), any::<bool>())
            .prop_map(|(b, h265)| Stream::Random(b, h265)),
        // Random bytes after a start code and a parameter set's header.
        1 => (proptest::collection::vec(any::<u8>(), 0..64), any::<bool>()).prop_map(
            |(b, h265)| {
                let header: &[u8] = if h265 { &[0, 0, 1, 0x42, 0x01] } else { &[0, 0, 1, 0x67] };
                let idr = if h265 { H265_IDR } else { H264_IDR };
                Stream::Random([header, &b, idr].concat(), h265)
            }
        ),
        3 => (any::<bool>(), damages()).prop_map(|(h265, d)| Stream::Real(h265, d)),
        4 => (h264_sps(), damages()).prop_map(|(sps, d)| Stream::Written(false, sps, d)),
        3 => (h265_sps(), damages()).prop_map(|(sps, d)| Stream::Written(true, sps, d)),
    ]
}

fn bytes_of(s: &Stream) -> (Vec<u8>, bool) {
    match s {
        Stream::Random(b, h265) => (b.clone(), *h265),
        Stream::Real(h265, damage) => {
            let mut data = head(if *h265 {
                "h265_720p25.h265"
            } else {
                "vtest_576p10.h264"
            })
            .to_vec();
            apply(&mut data, damage, 160);
            (data, *h265)
        }
        Stream::Written(h265, sps, damage) => {
            let mut data = if *h265 {
                [H265_VPS, sps, H265_PPS, H265_IDR].concat()
            } else {
                [sps, H264_PPS, H264_IDR].concat()
            };
            let focus = data.len();
            apply(&mut data, damage, focus);
            (data, *h265)
        }
    }
}

fn scratch_file(h265: bool) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad-input-rtsp-ingest");
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let n = N.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{n}.{}", if h265 { "h265" } else { "h264" }))
}

/// What playing a file gave: the parameters of its `Connected` event and the frames.
fn play(path: PathBuf) -> Option<(rtsp_ingest::CodecParameters, usize)> {
    // Paused time: the replay's pacing (the frame rate from the SPS, however odd) passes at
    // once.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let opts = ReplayOptions::default().looping(false);
        let mut cam = rtsp_ingest::replay(&path, opts).ok()?;
        let (mut params, mut frames) = (None, 0);
        while let Some(e) = cam.next().await {
            match e {
                Event::Connected { params: p, .. } => params = Some((*p).clone()),
                Event::Frame(_) => frames += 1,
                _ => {}
            }
        }
        Some((params?, frames))
    })
}

#[test]
fn annex_b_files_and_parameter_sets() {
    let parsed = AtomicU32::new(0);
    check(
        "parameter_sets (replay files)",
        1024,
        stream,
        |s| {
            let (data, h265) = bytes_of(&s);
            let path = scratch_file(h265);
            std::fs::write(&path, &data).expect("write a scratch file");
            // Outside a runtime, `replay` reads and parses the whole file, then stops.
            let p = path.clone();
            let r = within(CASE_LIMIT, move || {
                rtsp_ingest::replay(&p, ReplayOptions::default())
            });
            match r {
                Err(Error::NoRuntime) => {
                    parsed.fetch_add(1, Ordering::Relaxed);
                    let p = path.clone();
                    let played = within(CASE_LIMIT, move || play(p));
                    let (params, frames) = played.expect("a file that parses plays");
                    prop_assert!(frames >= 1, "{params:?}");
                    if let Some((n, d)) = params.frame_rate {
                        prop_assert!(n > 0 && d > 0, "{params:?}");
                    }
                }
                Err(Error::Replay { path: p, message }) => {
                    prop_assert_eq!(&p, &path);
                    prop_assert!(!message.is_empty());
                }
                Err(e) => prop_assert!(false, "unexpected error {e:?}"),
                Ok(_) => prop_assert!(false, "a camera outside a runtime"),
            }
            let _ = std::fs::remove_file(&path);
            Ok(())
        },
        || format!("{} parsed and played", parsed.load(Ordering::Relaxed)),
    );
}

// ---------------------------------------------------------------------------------------
// URLs

/// Every password in a URL starts and ends with these, and every password given apart with
/// the second pair (nothing else generated here holds capitals), so a leak of either end
/// shows.
const URL_PASSWORD: (&str, &str) = ("Pw7", "Q9z");
const SEPARATE_PASSWORD: (&str, &str) = ("Sp4", "K8x");

#[derive(Debug, Clone)]
struct UrlCase {
    text: String,
    /// False for `rtsp://rtsp://user:pw@host`: by RFC 3986 the host is `rtsp` and the rest is
    /// a path, so there is no password in the URL to hide.
    has_userinfo: bool,
    separate: Option<(String, String)>,
}

fn url_case() -> impl Strategy<Value = UrlCase> {
    let scheme = prop_oneof![
        6 => Just("rtsp://"),
        1 => Just("RTSP://"),
        1 => Just("rtsp:/"),
        1 => Just("rtsp:"),
        1 => Just("rtsp:///"),
        1 => Just("rtsps://"),
        1 => Just("http://"),
        1 => Just(""),
        1 => Just("rtsp://rtsp://"),
        // What URL parsers drop: leading and trailing blanks, tabs and newlines anywhere.
        1 => Just(" rtsp://"),
        1 => Just("\u{0}\trtsp://"),
        1 => Just("rt\tsp://"),
        1 => Just("rtsp:/\n/"),
        // Pasted with quotes or a stray character.
        1 => Just("'rtsp://"),
        1 => Just("\"rtsp://"),
        1 => Just("`rtsp://"),
    ];
    let escape = prop_oneof![
        "%[0-9a-fA-F]{2}",
        Just("%".to_owned()),
        Just("%4".to_owned()),
        Just("%zz".to_owned()),
        Just("%40".to_owned()),
        Just("%3A".to_owned()),
    ];
    let user = proptest::collection::vec(prop_oneof!["[a-z0-9._~-]{1,4}", escape.clone()], 0..3)
        .prop_map(|p| p.concat());
    // No '/', '?' or '#' in a password: unescaped, they end the authority (RFC 3986), so
    // what follows is not a password any more but the path.
    let secret = |(head, tail): (&'static str, &'static str)| {
        proptest::collection::vec(
            prop_oneof!["[a-z0-9._~!$&'()*+,;=:@\\[\\]-]{1,4}", escape.clone()],
            0..4,
        )
        .prop_map(move |p| format!("{head}{}{tail}", p.concat()))
    };
    let userinfo = prop_oneof![
        2 => Just(String::new()),
        1 => user.clone().prop_map(|u| format!("{u}@")),
        4 => (user.clone(), secret(URL_PASSWORD)).prop_map(|(u, p)| format!("{u}:{p}@")),
        1 => secret(URL_PASSWORD).prop_map(|p| format!(":{p}@")),
        1 => (user.clone(), secret(URL_PASSWORD)).prop_map(|(u, p)| format!("{u}:{p}@@")),
    ];
    let host = prop_oneof![
        Just("cam.local".to_owned()),
        Just("192.0.2.10".to_owned()),
        Just("[::1]".to_owned()),
        Just("[fe80::1%25eth0]".to_owned()),
        Just("[2001:db8::7]".to_owned()),
        Just("[::1".to_owned()),
        Just("::1]".to_owned()),
        Just("[zz]".to_owned()),
        Just(String::new()),
        Just("999.1.1.1".to_owned()),
        Just("kamera.bücher".to_owned()),
        Just("xn--".to_owned()),
        Just("a b".to_owned()),
        "[a-z0-9.%-]{0,12}",
    ];
    let port = prop_oneof![
        3 => Just(String::new()),
        2 => (0u64..70_000).prop_map(|p| format!(":{p}")),
        1 => any::<u64>().prop_map(|p| format!(":{p}")),
        1 => Just(":".to_owned()),
        1 => "[:a-z0-9]{1,6}".prop_map(|p| format!(":{p}")),
    ];
    let path = prop_oneof![
        2 => Just(String::new()),
        4 => "(/[a-z0-9._~%@:=&?#-]{0,8}){1,3}",
        1 => "[ -~]{0,16}".prop_map(|p| p.to_lowercase()),
    ];
    let separate = proptest::option::of((user, secret(SEPARATE_PASSWORD)));
    (scheme, userinfo, host, port, path, separate).prop_map(
        |(scheme, userinfo, host, port, path, separate)| UrlCase {
            text: format!("{scheme}{userinfo}{host}{port}{path}"),
            has_userinfo: scheme != "rtsp://rtsp://",
            separate,
        },
    )
}

/// What a URL gives the outside world: the redacted URL of the camera, or the error.
fn shown(case: UrlCase) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // Inside the runtime but never driving it: the session task is created, never polled,
    // and dropped with the runtime, so no name is resolved and no connection made.
    let _inside = rt.enter();
    let options = SessionOptions::default().credentials(
        case.separate
            .map(|(user, password)| Credentials::new(user, password)),
    );
    match rtsp_ingest::connect(&case.text, options) {
        Ok(camera) => {
            let shown = format!("{} {:?}", camera.url(), camera.url());
            camera.stop();
            Ok(shown)
        }
        Err(e) => match e {
            Error::InvalidUrl { .. } => Err(format!("{e} {e:?}")),
            other => panic!("not an InvalidUrl error: {other:?}"),
        },
    }
}

#[test]
fn camera_urls() {
    let accepted = AtomicU32::new(0);
    check(
        "rtsp_url",
        1024,
        url_case,
        |case| {
            let c = case.clone();
            let out = within(CASE_LIMIT, move || shown(c));
            if out.is_ok() {
                accepted.fetch_add(1, Ordering::Relaxed);
            }
            let text = out.unwrap_or_else(|e| e);
            let mut secrets = vec![SEPARATE_PASSWORD];
            if case.has_userinfo {
                secrets.push(URL_PASSWORD);
            }
            for (head, tail) in secrets {
                prop_assert!(
                    !text.contains(head) && !text.contains(tail),
                    "{case:?} shows a password: {text}"
                );
            }
            Ok(())
        },
        || format!("{} accepted", accepted.load(Ordering::Relaxed)),
    );
}
