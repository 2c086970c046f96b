//! `cargo xtask soak [--ci-sized]`: the reliability suite (faults, bad input, overload, churn)
//! at length, or at the size CI runs it, with its figures rendered into docs/RELIABILITY.md.
//!
//! The tests write their figures as JSON under `target/tmp/reliability/` and print one line
//! per bad-input target; this collects both into Markdown tables between the document's
//! `<!-- soak:begin -->`/`<!-- soak:end -->` (or `ci:`) markers.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{cargo, project_root};

/// How long and how much: (overload seconds, overload streams, churn cycles, fault rounds,
/// property cases per bad-input property).
struct Sizes {
    overload_secs: u64,
    overload_streams: u64,
    churn_cycles: u64,
    fault_rounds: u64,
    cases: u64,
}

const CI: Sizes = Sizes {
    overload_secs: 45,
    overload_streams: 8,
    churn_cycles: 1000,
    fault_rounds: 1,
    cases: 0, // each property's own CI count
};

const SOAK: Sizes = Sizes {
    overload_secs: 600,
    overload_streams: 8,
    churn_cycles: 10_000,
    fault_rounds: 3,
    cases: 1_000,
};

pub(crate) fn main(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "--cluster") {
        return crate::fleet::soak(args);
    }
    let ci_sized = args.iter().any(|a| a == "--ci-sized");
    if args.iter().any(|a| a == "--render-ci") {
        // The figures `cargo xtask test` left (its suite is the CI-sized one).
        return write(true, 0.0);
    }
    let sizes = if ci_sized { CI } else { SOAK };
    let assets = crate::setup::setup()?;
    let root = project_root();
    let dir = root.join("target/tmp/reliability");
    let _ = fs::remove_dir_all(&dir);
    let started = std::time::Instant::now();
    let test = |package: &str, tests: &[&str], cases: u64| -> Result<String> {
        let mut cmd = cargo();
        cmd.envs(assets.env())
            .env("RTSP_WORKER_OVERLOAD_SECS", sizes.overload_secs.to_string())
            .env(
                "RTSP_WORKER_OVERLOAD_STREAMS",
                sizes.overload_streams.to_string(),
            )
            .env("RTSP_WORKER_CHURN_CYCLES", sizes.churn_cycles.to_string())
            .env("RTSP_WORKER_FAULT_ROUNDS", sizes.fault_rounds.to_string())
            .args(["test", "--locked", "-p", package]);
        if cases > 0 {
            cmd.env("PROPTEST_CASES", cases.to_string());
        }
        for t in tests {
            cmd.args(["--test", t]);
        }
        cmd.args(["--", "--test-threads", "1", "--nocapture"]);
        tee(&mut cmd)
    };
    for package in ["gpu-decode", "rtsp-ingest", "infer-trt", "rtsp-worker-cli"] {
        test(package, &["bad_input"], sizes.cases)?;
    }
    test("rtsp-worker", &["reliability", "faults"], 0)?;
    write(ci_sized, started.elapsed().as_secs_f64())
}

/// Renders the figures under `target/tmp/reliability/` into docs/RELIABILITY.md.
fn write(ci_sized: bool, secs: f64) -> Result<()> {
    let root = project_root();
    let dir = root.join("target/tmp/reliability");
    let mut bad_input: Vec<String> = fs::read_dir(dir.join("bad_input"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .collect();
    bad_input.sort();
    let md = render(&dir, &bad_input, ci_sized, secs)?;
    let doc = root.join("docs/RELIABILITY.md");
    let text = fs::read_to_string(&doc).context("reading docs/RELIABILITY.md")?;
    let which = if ci_sized { "ci" } else { "soak" };
    let (begin, end) = (
        format!("<!-- {which}:begin -->"),
        format!("<!-- {which}:end -->"),
    );
    match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) => {
            let updated = format!("{}{begin}\n{md}\n{}", &text[..b], &text[e..]);
            fs::write(&doc, updated)?;
        }
        _ => bail!("docs/RELIABILITY.md has no {begin} … {end} markers"),
    }
    fs::write(dir.join(format!("{which}.md")), &md)?;
    println!("{md}");
    Ok(())
}

/// Runs a command, echoing its output, and returns its stdout.
fn tee(cmd: &mut Command) -> Result<String> {
    eprintln!("$ {cmd:?}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .context("starting cargo")?;
    let mut out = String::new();
    for line in BufReader::new(child.stdout.take().context("stdout")?).lines() {
        let line = line?;
        println!("{line}");
        out.push_str(&line);
        out.push('\n');
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(out)
}

fn load(dir: &Path, name: &str) -> Option<Value> {
    let text = fs::read_to_string(dir.join(format!("{name}.json"))).ok()?;
    serde_json::from_str(&text).ok()
}

fn drops(v: &Value) -> String {
    let parts: Vec<String> = v
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, n)| n.as_u64().is_some_and(|n| n > 0))
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// The figures as Markdown.
fn render(dir: &Path, bad_input: &[String], ci_sized: bool, secs: f64) -> Result<String> {
    let sh = |cmd: &mut Command| {
        crate::output(cmd)
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into())
    };
    let mut md = format!(
        "{} · commit `{}` · {} CPUs{}\n\n```sh\n{}\n```\n",
        sh(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
        sh(Command::new("git").args(["rev-parse", "--short", "HEAD"])),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if secs > 0.0 {
            format!(" · {:.0} min", secs / 60.0)
        } else {
            String::new()
        },
        match (ci_sized, secs > 0.0) {
            (true, false) =>
                "cargo xtask test   # its suite, CI-sized; then `cargo xtask soak --render-ci`",
            (true, true) => "cargo xtask soak --ci-sized",
            _ => "cargo xtask soak",
        },
    );
    md.push_str(
        "\n#### Faults\n\n\
         | fault | how injected | recovered after | reconnects | frames dropped (counted, by reason) | other stream, results/s before → during |\n\
         |---|---|---|---|---|---|\n",
    );
    if let Some(v) = load(dir, "faults") {
        for row in v["faults"].as_array().into_iter().flatten() {
            md.push_str(&format!(
                "| {}{} | {} | {:.1} s | {} | {} | {:.2} → {:.2} |\n",
                row["fault"].as_str().unwrap_or("?"),
                match row["round"].as_u64() {
                    Some(r) if r > 0 => format!(" (round {})", r + 1),
                    _ => String::new(),
                },
                row["how"].as_str().unwrap_or(""),
                f(&row["recovered_after_s"]),
                row["reconnects"],
                drops(&row["counted_drops"]),
                f(&row["other_rate_before"]),
                f(&row["other_rate_during"]),
            ));
        }
    }
    if let Some(v) = load(dir, "server_restart") {
        md.push_str(&format!(
            "| RTSP server killed and restarted | SIGKILL, restarted on the same port after the \
             stream reports it lost | {:.1} s (from the kill) | {} | {} | {:.2} → {:.2} |\n",
            f(&v["recovered_after_s"]),
            v["reconnects"],
            drops(&v["counted_drops"]),
            f(&v["other_rate_before"]),
            f(&v["other_rate_during"]),
        ));
    }
    if let Some(v) = load(dir, "silent_server") {
        md.push_str(&format!(
            "| a server that accepts and never answers | a listener that holds connections \
             | ends after {:.1} s: `{}` ({}), {} connections for 3 tries | - | - | {:.2} → {:.2} |\n",
            f(&v["ended_after_s"]),
            v["reason"].as_str().unwrap_or("?"),
            v["error"].as_str().unwrap_or("?"),
            v["connections"],
            f(&v["other_rate_before"]),
            f(&v["other_rate_during"]),
        ));
    }
    if let Some(v) = load(dir, "resolution_change") {
        let sizes: Vec<String> = v["results_by_size"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, n)| format!("{k}: {n} results"))
            .collect();
        md.push_str(&format!(
            "| camera changes resolution mid-stream | one Annex B stream: 1280x720, then 768x576 \
             (new SPS/PPS + keyframe) | new size after {:.1} s, no reconnect ({}) | 0 | {} | - |\n",
            f(&v["changed_after_s"]),
            sizes.join(", "),
            drops(&v["counted_drops"]),
        ));
    }
    md.push_str(
        "\n(Drops by reason are the facade's counters: `superseded` = a newer frame of the same \
         camera took the place of one waiting for the detector — the newest-frame-wins rule, not \
         a loss caused by the fault. Frames a camera never delivered while cut off cannot be \
         counted by the receiver; the recovery time bounds them.)\n",
    );
    md.push_str(
        "\n#### Bad input\n\n| target | inputs tried | panics | time, slowest case, what happened |\n\
         |---|---|---|---|\n",
    );
    for line in bad_input {
        // "bad-input <target>: N cases, 0 panics (…)"
        let rest = line.trim().trim_start_matches("bad-input ");
        if let Some((target, figures)) = rest.split_once(": ") {
            let cases = figures.split(" cases").next().unwrap_or("?");
            let note = figures
                .split_once('(')
                .map_or("", |(_, n)| n.trim_end_matches(')'));
            md.push_str(&format!("| {target} | {cases} | 0 | {note} |\n"));
        }
    }
    if let Some(v) = load(dir, "overload") {
        let per: Vec<String> = v["results_per_stream_fps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| format!("{:.2}", f(r)))
            .collect();
        let rss: Vec<f64> = v["rss_mb"]
            .as_array()
            .into_iter()
            .flatten()
            .map(f)
            .collect();
        md.push_str(&format!(
            "\n#### Overload\n\n\
             | streams × offered | duration | frames received | results/s per stream | counted drops | RSS after warm-up (first → last) | RSS slope | worst p99 latency |\n\
             |---|---|---|---|---|---|---|---|\n\
             | {} × {} fps | {:.0} s (after {} s warm-up) | {} | {} | {} | {:.0} → {:.0} MB | {:+.2} MB/min | {:.0} ms |\n",
            v["streams"],
            v["offered_fps_per_stream"],
            f(&v["seconds"]),
            v["warm_up_s"],
            v["received"],
            per.join(", "),
            drops(&v["counted_drops"]),
            rss.first().copied().unwrap_or(0.0),
            rss.last().copied().unwrap_or(0.0),
            f(&v["rss_slope_mb_per_min"]),
            f(&v["worst_p99_latency_ms"]),
        ));
    }
    if let Some(v) = load(dir, "churn") {
        let pair = |k: &str| {
            format!(
                "{} → {}",
                v[k][0].as_f64().map_or("?".into(), |x| format!("{x:.0}")),
                v[k][1].as_f64().map_or("?".into(), |x| format!("{x:.0}"))
            )
        };
        md.push_str(&format!(
            "\n#### Churn\n\n\
             | cycles (add, sometimes play, remove) | time | RSS MB | open fds | threads | results after removal | steady stream meanwhile |\n\
             |---|---|---|---|---|---|---|\n\
             | {} | {:.0} s | {} | {} | {} | {} | {:.2} results/s |\n",
            v["cycles"],
            f(&v["seconds"]),
            pair("rss_mb"),
            pair("fds"),
            pair("threads"),
            v["results_after_removal"],
            f(&v["steady_results_per_s"]),
        ));
    }
    Ok(md)
}
