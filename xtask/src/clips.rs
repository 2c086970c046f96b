//! Test clips made with Debian's ffmpeg: synthetic H.264/H.265 at 720p and 1080p, a clip of
//! moving boxes with ground truth, and real pedestrian footage from Debian's `opencv-doc`.
//!
//! Every clip comes as MP4 (timestamps; what the RTSP test server and the replay source read)
//! and as raw Annex B (what decoders are fed). Fixed GOP, parameter sets repeated before every
//! keyframe, so a receiver can join anywhere; no B-frames except in the two clips made to have
//! them.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::run;

/// Bump when a recipe changes: the cached clips are then made again.
const RECIPE: &str = "clips-v6";
/// The people clip's own recipe (remade alone when it changes).
const PEOPLE_RECIPE: &str = "people-v3";
/// The B-frame clips' own recipe.
const BFRAMES_RECIPE: &str = "bframes-v1";

const X264: &[&str] = &[
    "-c:v",
    "libx264",
    "-profile:v",
    "main",
    "-pix_fmt",
    "yuv420p",
    "-preset",
    "veryfast",
    "-bf",
    "0",
    "-sc_threshold",
    "0",
    "-x264-params",
    "repeat-headers=1",
];

fn x265_params(gop: u32) -> String {
    format!(
        "keyint={gop}:min-keyint={gop}:bframes=0:open-gop=0:repeat-headers=1:scenecut=0:log-level=error"
    )
}

/// The moving-boxes clip: 1280x720, 25 fps, 10 s, grey background.
pub(crate) const BOX_W: usize = 1280;
pub(crate) const BOX_H: usize = 720;
pub(crate) const BOX_FRAMES: usize = 250;

/// One box: id, colour, size, and a straight path from `from` to `to` (top-left corners) over
/// the clip. Boxes 1 and 2 cross mid-clip, overlapping by half their height; box 3 climbs
/// slowly up and right through box 1 a quarter of the way in. Drawn in order, 3 on top.
pub(crate) struct Track {
    pub(crate) id: u32,
    pub(crate) rgb: [u8; 3],
    pub(crate) size: (usize, usize),
    pub(crate) from: (usize, usize),
    pub(crate) to: (usize, usize),
}

pub(crate) const TRACKS: [Track; 3] = [
    track(1, [220, 40, 40], 120, (40, 300), (1120, 300)),
    track(2, [40, 200, 60], 120, (1120, 360), (40, 360)),
    track(3, [50, 80, 230], 100, (250, 460), (490, 20)),
];

/// A square of `side` pixels moving from `from` to `to`.
const fn track(
    id: u32,
    rgb: [u8; 3],
    side: usize,
    from: (usize, usize),
    to: (usize, usize),
) -> Track {
    Track {
        id,
        rgb,
        size: (side, side),
        from,
        to,
    }
}

impl Track {
    /// Top-left corner in frame `f` (0-based).
    pub(crate) fn at(&self, f: usize) -> (usize, usize) {
        let lerp = |a: usize, b: usize| {
            let t = f as f64 / (BOX_FRAMES - 1) as f64;
            (a as f64 + (b as f64 - a as f64) * t).round() as usize
        };
        (lerp(self.from.0, self.to.0), lerp(self.from.1, self.to.1))
    }
}

/// Makes whatever is missing in `dir`; `work` holds temporary downloads; `images` has the
/// test photos (people are cut out of `bus.jpg`).
pub(crate) fn ensure(dir: &Path, work: &Path, images: &Path) -> Result<()> {
    let stamp = dir.join("RECIPE");
    let people_stamp = dir.join("people_720p25.recipe");
    if !fs::read_to_string(&people_stamp).is_ok_and(|s| s.trim() == PEOPLE_RECIPE) {
        fs::create_dir_all(dir)?;
        people(dir, images)?;
        fs::write(&people_stamp, PEOPLE_RECIPE)?;
    }
    let bframes_stamp = dir.join("bframes.recipe");
    if !fs::read_to_string(&bframes_stamp).is_ok_and(|s| s.trim() == BFRAMES_RECIPE) {
        fs::create_dir_all(dir)?;
        bframes(dir)?;
        fs::write(&bframes_stamp, BFRAMES_RECIPE)?;
    }
    if fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == RECIPE) {
        eprintln!("setup: test clips present");
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    fs::create_dir_all(work)?;
    let lavfi = |size: &str| format!("testsrc2=size={size}:rate=25");
    for (name, size) in [("720p25", "1280x720"), ("1080p25", "1920x1080")] {
        encode(
            dir,
            &format!("h264_{name}"),
            "h264",
            &["-f", "lavfi", "-i", &lavfi(size), "-t", "10"],
            50,
        )?;
        encode(
            dir,
            &format!("h265_{name}"),
            "hevc",
            &["-f", "lavfi", "-i", &lavfi(size), "-t", "10"],
            50,
        )?;
    }
    boxes(dir)?;
    vtest(dir, work)?;
    fs::write(dir.join("README.txt"), README)?;
    fs::write(&stamp, RECIPE)?;
    eprintln!("setup: test clips made in {}", dir.display());
    Ok(())
}

const README: &str = "\
Test clips made by `cargo xtask setup` (recipes in xtask/src/clips.rs). Each is an MP4 and the
same bitstream as raw Annex B (.h264/.h265): no B-frames, fixed GOP, SPS/PPS (and VPS) before
every keyframe.

h264_720p25, h265_720p25    1280x720 25 fps 10 s ffmpeg testsrc2, GOP 50, H.264 main / H.265
h264_1080p25, h265_1080p25  1920x1080, the same
boxes_720p25                1280x720 25 fps 10 s, three boxes moving on straight lines over grey;
                            ground truth in boxes_720p25.gt.txt (MOTChallenge: frame,id,x,y,w,h,
                            conf,-1,-1,-1; frames from 1). 1 red, 2 green (crosses 1 mid-clip),
                            3 blue (crosses 1 at a quarter).
people_720p25               1280x720 25 fps 20 s, three people cut out of bus.jpg walking on straight
                            lines over grey, never overlapping: 1 left to right along the top, 2
                            right to left along the bottom, 3 up the right edge; ground truth in
                            people_720p25.gt.txt. What the detector sees, with known paths (zones,
                            lines, events): the bottom centres of 1 and 2 cross x = 640 once each
                            (at 55% and 48% of the clip), 2 leaves and 1 enters x > 700 (at 41%
                            and 61%), 3 stays there.
vtest_576p10                768x576 10 fps pedestrians, OpenCV's vtest.avi (PETS 2009), GOP 20
vtest_720p25                the same scaled to 1280x720 at 25 fps (frames repeated), first 30 s,
                            GOP 50: a camera-like pedestrian stream for the end-to-end benchmark
vtest_1080p25               the same at 1920x1080 in H.265, first 10 s (mixed sizes and codecs)
bframes_h264_360p25,        640x360 25 fps 10 s testsrc2 WITH B-frames: 3 between references,
bframes_h265_360p25         the middle one a reference (pyramid), the other two not (H.264
                            nal_ref_idc 0, H.265 TRAIL_N): decode order differs from display
                            order, and half the pictures can be skipped. Serve the MP4 (it
                            keeps presentation times); GOP 50, closed
";

/// The B-frame clips (see the README).
fn bframes(dir: &Path) -> Result<()> {
    let input = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=25",
        "-t",
        "10",
        "-an",
    ];
    let h264 = dir.join("bframes_h264_360p25.mp4");
    run(ffmpeg()
        .args(input)
        .args([
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            "veryfast",
            "-bf",
            "3",
            "-x264-params",
            "b-pyramid=normal:b-adapt=0:scenecut=0:repeat-headers=1:keyint=50:min-keyint=50",
        ])
        .arg(&h264))?;
    annex_b(&h264, dir, "bframes_h264_360p25", "h264")?;
    let h265 = dir.join("bframes_h265_360p25.mp4");
    run(ffmpeg().args(input).args([
        "-c:v",
        "libx265",
        "-pix_fmt",
        "yuv420p",
        "-preset",
        "veryfast",
        "-x265-params",
        "keyint=50:min-keyint=50:bframes=3:b-pyramid=1:b-adapt=0:open-gop=0:repeat-headers=1:scenecut=0:log-level=error",
        "-tag:v",
        "hvc1",
    ])
    .arg(&h265))?;
    annex_b(&h265, dir, "bframes_h265_360p25", "hevc")
}

/// Encodes `input` (ffmpeg input arguments) to `<name>.mp4` and extracts `<name>.h264|h265`.
fn encode(dir: &Path, name: &str, codec: &str, input: &[&str], gop: u32) -> Result<()> {
    let mp4 = dir.join(format!("{name}.mp4"));
    let mut cmd = ffmpeg();
    cmd.args(input).arg("-an");
    codec_args(&mut cmd, codec, gop);
    run(cmd.arg(&mp4))?;
    annex_b(&mp4, dir, name, codec)
}

fn ffmpeg() -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"]);
    c
}

fn codec_args(cmd: &mut Command, codec: &str, gop: u32) {
    if codec == "h264" {
        cmd.args(X264)
            .args(["-g", &gop.to_string(), "-keyint_min", &gop.to_string()]);
    } else {
        cmd.args([
            "-c:v", "libx265", "-pix_fmt", "yuv420p", "-preset", "veryfast",
        ])
        .args(["-x265-params", &x265_params(gop), "-tag:v", "hvc1"]);
    }
}

/// A synthetic clip whose frames went to `child` (ffmpeg, its stdin closed): the clip as
/// Annex B, and its ground truth beside it as `NAME.gt.txt`.
fn finish_synthetic(
    mut child: std::process::Child,
    mp4: &Path,
    dir: &Path,
    name: &str,
    gt: &str,
) -> Result<()> {
    let status = child.wait()?;
    if !status.success() {
        bail!("ffmpeg failed making {name}: {status}");
    }
    fs::write(dir.join(format!("{name}.gt.txt")), gt)?;
    annex_b(mp4, dir, name, "h264")
}

fn annex_b(mp4: &Path, dir: &Path, name: &str, codec: &str) -> Result<()> {
    let (bsf, format, ext) = match codec {
        "h264" => ("h264_mp4toannexb", "h264", "h264"),
        _ => ("hevc_mp4toannexb", "hevc", "h265"),
    };
    run(ffmpeg()
        .arg("-i")
        .arg(mp4)
        .args(["-c:v", "copy", "-bsf:v", bsf, "-f", format])
        .arg(dir.join(format!("{name}.{ext}"))))
}

/// FFmpeg encoding raw RGB frames of `w`×`h` at 25 fps from its stdin into `mp4` (H.264, GOP
/// 50): the process and its stdin.
fn rgb_encoder(
    mp4: &Path,
    w: usize,
    h: usize,
) -> Result<(std::process::Child, std::process::ChildStdin)> {
    let mut cmd = ffmpeg();
    cmd.args([
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        &format!("{w}x{h}"),
    ])
    .args(["-r", "25", "-i", "-"]);
    codec_args(&mut cmd, "h264", 50);
    let mut child = cmd
        .arg(mp4)
        .stdin(Stdio::piped())
        .spawn()
        .context("cannot start ffmpeg")?;
    let stdin = child.stdin.take().context("ffmpeg stdin")?;
    Ok((child, stdin))
}

/// Draws the boxes frame by frame into ffmpeg's stdin and writes the ground truth.
fn boxes(dir: &Path) -> Result<()> {
    let name = "boxes_720p25";
    let mp4 = dir.join(format!("{name}.mp4"));
    let (child, mut stdin) = rgb_encoder(&mp4, BOX_W, BOX_H)?;
    let mut gt = String::new();
    let mut frame = vec![0u8; BOX_W * BOX_H * 3];
    for f in 0..BOX_FRAMES {
        frame.fill(128);
        for t in &TRACKS {
            let (x, y) = t.at(f);
            let (w, h) = t.size;
            for row in y..(y + h).min(BOX_H) {
                for col in x..(x + w).min(BOX_W) {
                    let i = (row * BOX_W + col) * 3;
                    frame[i..i + 3].copy_from_slice(&t.rgb);
                }
            }
            gt.push_str(&format!("{},{},{x},{y},{w},{h},1,-1,-1,-1\n", f + 1, t.id));
        }
        stdin
            .write_all(&frame)
            .context("writing frames to ffmpeg")?;
    }
    drop(stdin);
    finish_synthetic(child, &mp4, dir, name, &gt)
}

/// A person of the `people` clip: where it is cut from `bus.jpg` ([x1, y1, x2, y2]), its
/// height in the clip, and its path (top-left corners) over the clip.
struct Walker {
    id: u32,
    crop: [usize; 4],
    height: usize,
    from: (f64, f64),
    to: (f64, f64),
}

pub(crate) const PEOPLE_W: usize = 1280;
pub(crate) const PEOPLE_H: usize = 720;
/// 20 s at 25 fps: slow enough walks that a detector at a few frames a second on a busy CPU
/// still sees each person overlap its last box.
const PEOPLE_FRAMES: usize = 500;

const WALKERS: [Walker; 3] = [
    walker(1, [46, 396, 248, 903], 300, (40.0, 40.0), (1020.0, 40.0)),
    walker(2, [671, 397, 810, 879], 320, (1060.0, 380.0), (80.0, 380.0)),
    walker(
        3,
        [220, 405, 344, 859],
        300,
        (1180.0, 400.0),
        (1180.0, 40.0),
    ),
];

/// Person `id`, cut out of the bus photo at `crop` and shown `height` pixels tall, walking
/// from `from` to `to`.
const fn walker(
    id: u32,
    crop: [usize; 4],
    height: usize,
    from: (f64, f64),
    to: (f64, f64),
) -> Walker {
    Walker {
        id,
        crop,
        height,
        from,
        to,
    }
}

/// Three people cut out of the bus photo walking over grey, with their ground truth.
fn people(dir: &Path, images: &Path) -> Result<()> {
    let name = "people_720p25";
    let size = fs::read_to_string(images.join("bus.size")).context("run the images step")?;
    let (bw, _) = size
        .trim()
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<usize>().ok()?, h.parse::<usize>().ok()?)))
        .context("bus.size")?;
    let bus = fs::read(images.join("bus.rgb"))?;
    // Each person scaled to its height (nearest neighbour).
    let sprites: Vec<(usize, usize, Vec<u8>)> = WALKERS
        .iter()
        .map(|w| {
            let [x1, y1, x2, y2] = w.crop;
            let (cw, ch) = (x2 - x1, y2 - y1);
            let h = w.height;
            let wdt = cw * h / ch;
            let mut px = vec![0u8; wdt * h * 3];
            for r in 0..h {
                for c in 0..wdt {
                    let (sx, sy) = (x1 + c * cw / wdt, y1 + r * ch / h);
                    let s = (sy * bw + sx) * 3;
                    px[(r * wdt + c) * 3..][..3].copy_from_slice(&bus[s..s + 3]);
                }
            }
            (wdt, h, px)
        })
        .collect();
    let mp4 = dir.join(format!("{name}.mp4"));
    let (child, mut stdin) = rgb_encoder(&mp4, PEOPLE_W, PEOPLE_H)?;
    let mut gt = String::new();
    let mut frame = vec![0u8; PEOPLE_W * PEOPLE_H * 3];
    for f in 0..PEOPLE_FRAMES {
        frame.fill(128);
        for (w, (sw, sh, px)) in WALKERS.iter().zip(&sprites) {
            let t = f as f64 / (PEOPLE_FRAMES - 1) as f64;
            let x = (w.from.0 + (w.to.0 - w.from.0) * t).round() as usize;
            let y = (w.from.1 + (w.to.1 - w.from.1) * t).round() as usize;
            for r in 0..*sh {
                let row = y + r;
                if row >= PEOPLE_H {
                    break;
                }
                for c in 0..*sw {
                    let col = x + c;
                    if col >= PEOPLE_W {
                        break;
                    }
                    let d = (row * PEOPLE_W + col) * 3;
                    frame[d..d + 3].copy_from_slice(&px[(r * sw + c) * 3..][..3]);
                }
            }
            gt.push_str(&format!(
                "{},{},{x},{y},{sw},{sh},1,-1,-1,-1\n",
                f + 1,
                w.id
            ));
        }
        stdin
            .write_all(&frame)
            .context("writing frames to ffmpeg")?;
    }
    drop(stdin);
    finish_synthetic(child, &mp4, dir, name, &gt)
}

/// OpenCV's vtest.avi from Debian's opencv-doc package, transcoded.
fn vtest(dir: &Path, work: &Path) -> Result<()> {
    let deb_dir = work.join("opencv-doc");
    fs::create_dir_all(&deb_dir)?;
    run(Command::new("apt-get")
        .args(["download", "-q", "opencv-doc"])
        .current_dir(&deb_dir))?;
    let deb = fs::read_dir(&deb_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download left no .deb")?;
    let avi = deb_dir.join("vtest.avi");
    run(Command::new("sh")
        .arg("-c")
        .arg("dpkg --fsys-tarfile \"$1\" | tar -xO ./usr/share/doc/opencv-doc/examples/data/vtest.avi > \"$2\"")
        .arg("sh")
        .arg(&deb)
        .arg(&avi))?;
    encode(
        dir,
        "vtest_576p10",
        "h264",
        &["-i", avi.to_str().context("path is not UTF-8")?, "-r", "10"],
        20,
    )?;
    encode(
        dir,
        "vtest_720p25",
        "h264",
        &[
            "-i",
            avi.to_str().context("path is not UTF-8")?,
            "-vf",
            "scale=1280:720,fps=25",
            "-t",
            "30",
        ],
        50,
    )?;
    encode(
        dir,
        "vtest_1080p25",
        "hevc",
        &[
            "-i",
            avi.to_str().context("path is not UTF-8")?,
            "-vf",
            "scale=1920:1080,fps=25",
            "-t",
            "10",
        ],
        50,
    )?;
    fs::remove_dir_all(&deb_dir)?;
    Ok(())
}
