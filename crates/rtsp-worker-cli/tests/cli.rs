//! The `rtsp-worker` binary as a user runs it: against the loopback RTSP server, its JSON lines
//! parsed back and checked against the documented schema (docs/result.schema.json); the
//! errors users hit first, with their exit codes; passwords in no output.

use testkit as common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{Server, clip};

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rtsp-worker"))
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn schema() -> jsonschema::Validator {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/result.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn json_lines_follow_the_schema_and_no_password_leaks() {
    let server = Server::start(
        &[format!("/people={}@10", clip("vtest_576p10.h264"))],
        Some("alice:wonderland"),
        None,
    );
    let url = format!("rtsp://alice:wonderland@127.0.0.1:{}/people", server.port);
    let out = binary()
        .args([
            "run",
            &url,
            "--duration",
            "12",
            "--events",
            "--status-every",
            "2",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let validator = schema();
    let mut results = 0;
    let mut events = Vec::new();
    for line in stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if let Err(e) = validator.validate(&v) {
            panic!("{e}\n{line}");
        }
        match v.get("event").and_then(|e| e.as_str()) {
            Some(e) => events.push(e.to_owned()),
            None => {
                results += 1;
                assert_eq!(v["stream_id"], "stream_0");
                assert_eq!(
                    (v["width"].as_u64(), v["height"].as_u64()),
                    (Some(768), Some(576))
                );
            }
        }
    }
    assert!(results >= 10, "{results} results\n{stderr}");
    assert_eq!(events.first().map(String::as_str), Some("connecting"));
    assert!(events.iter().any(|e| e == "connected"), "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("ended"));
    assert!(stderr.contains("status: 1/1 streams up"), "{stderr}");
    assert!(stderr.contains("final accounting"), "{stderr}");
    assert!(stderr.contains(" yes"), "balanced: {stderr}");
    for (name, s) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!s.contains("wonderland"), "the password in {name}:\n{s}");
    }
}

#[test]
fn refused_credentials_end_the_run_with_code_4_and_no_password() {
    let server = Server::start(
        &[format!("/secure={}", clip("h264_720p25.h264"))],
        Some("alice:wonderland"),
        None,
    );
    let url = format!(
        "rtsp://alice:not-the-password@127.0.0.1:{}/secure",
        server.port
    );
    let out = binary()
        .args(["run", &url, "--duration", "60"])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    for (name, s) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(
            !s.contains("not-the-password"),
            "the password in {name}:\n{s}"
        );
    }
}

#[test]
fn a_config_file_with_an_error_says_where_with_code_2() {
    let dir = std::env::temp_dir().join(format!("rtsp-worker-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("streams.toml");
    std::fs::write(
        &bad,
        "[[stream]]\nid = \"door\"\nurl = \"rtsp://192.0.2.10/a\"\npasword = \"hunter2\"\n",
    )
    .unwrap();
    let out = binary()
        .args(["run", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("streams.toml:4:1") && stderr.contains("unknown field `pasword`"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    // No cameras at all is a usage error too.
    let out = binary().arg("run").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no cameras"));
    // So is a tracker setting out of its range, from the file or the command line.
    std::fs::write(&bad, "[engine]\ntrack_trust = 1.5\n").unwrap();
    let out = binary()
        .args(["run", "rtsp://127.0.0.1:9/x", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("track trust 1.5"), "{}", text(&out).1);
    let out = binary()
        .args(["run", "rtsp://127.0.0.1:9/x", "--track-trust=-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("track trust -1"), "{}", text(&out).1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_model_says_how_to_provision_with_code_3() {
    let out = binary()
        .args([
            "run",
            "rtsp://127.0.0.1:9/x",
            "--model",
            "/nonexistent/model.onnx",
        ])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("cargo xtask setup"), "{stderr}");
}

#[test]
fn a_missing_onnx_runtime_says_how_to_provision_with_code_3() {
    let out = binary()
        .args(["run", "rtsp://127.0.0.1:9/x"])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("ONNX Runtime") && stderr.contains("cargo xtask setup"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_camera_gives_up_when_told_with_code_4() {
    // A port nothing listens on: refused at once, retried twice, then the run ends.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = binary()
        .args([
            "run",
            &format!("rtsp://127.0.0.1:{port}/cam"),
            "--give-up-after",
            "2",
        ])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
}
