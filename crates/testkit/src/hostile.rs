//! A hostile RTSP server on loopback: it answers like a camera up to a point, then tries to
//! make the client hold more than any camera would send (a huge `Content-Length`, an endless
//! header section, an access unit that never ends). Plain threads and blocking sockets, so
//! that it needs no runtime and never slows the client's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// What the server does to its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// `DESCRIBE` answered with `Content-Length: 400000000`, then junk as fast as it goes.
    HugeDescribe,
    /// `DESCRIBE` answered with a status line, then header lines forever.
    EndlessHeaders,
    /// `DESCRIBE` answered with a header line that never ends, a kilobyte at a time.
    EndlessLine,
    /// A plausible H.264 session, then one access unit whose FU-A fragments never end.
    EndlessAccessUnit,
    /// A plausible session, then interleaved frames on a channel nobody set up, as large as
    /// the framing allows (64 KiB each), forever.
    GiantInterleaved,
}

/// The running server; stops (and closes every connection) when dropped.
#[derive(Debug)]
pub struct Hostile {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Bytes written to clients so far.
    pub sent: Arc<AtomicU64>,
}

impl Hostile {
    pub fn start(attack: Attack) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let (s, n) = (s.clone(), n.clone());
                        std::thread::spawn(move || {
                            let _ = serve(tcp, attack, &s, &n);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self { port, stop, sent }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/stream", self.port)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An H.264 session description a client takes (the 720p test clip's parameter sets).
const SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=hostile\r\nt=0 0\r\n\
m=video 0 RTP/AVP 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1;profile-level-id=4d401f;sprop-parameter-sets=Z01AH9oBQBbsBEAAAAMAQAAADIPGDKg=,aO8PyA==\r\n\
a=control:track1\r\n";

/// Reads one request head; returns its first line and CSeq.
fn request(reader: &mut BufReader<TcpStream>) -> Option<(String, String)> {
    let mut first = String::new();
    let mut cseq = String::from("0");
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            if first.is_empty() {
                continue;
            }
            return Some((first, cseq));
        }
        if first.is_empty() {
            first = line;
        } else if let Some(v) = line
            .split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("cseq"))
        {
            cseq = v.1.trim().to_owned();
        }
    }
}

fn serve(
    tcp: TcpStream,
    attack: Attack,
    stop: &AtomicBool,
    sent: &AtomicU64,
) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut out = tcp.try_clone()?;
    let mut reader = BufReader::new(tcp);
    let mut send = |out: &mut TcpStream, bytes: &[u8]| -> std::io::Result<()> {
        out.write_all(bytes)?;
        sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    };
    while let Some((line, cseq)) = request(&mut reader) {
        let method = line.split(' ').next().unwrap_or_default().to_owned();
        match (method.as_str(), attack) {
            ("OPTIONS", _) => send(
                &mut out,
                format!(
                    "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
                )
                .as_bytes(),
            )?,
            ("DESCRIBE", Attack::HugeDescribe) => {
                send(
                    &mut out,
                    format!(
                        "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\nContent-Length: 400000000\r\n\r\n"
                    )
                    .as_bytes(),
                )?;
                let junk = vec![b'x'; 64 * 1024];
                while !stop.load(Ordering::Relaxed) {
                    send(&mut out, &junk)?;
                }
            }
            ("DESCRIBE", Attack::EndlessHeaders) => {
                send(&mut out, format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n").as_bytes())?;
                let header = format!("X-Junk: {}\r\n", "a".repeat(1000));
                while !stop.load(Ordering::Relaxed) {
                    send(&mut out, header.as_bytes())?;
                }
            }
            ("DESCRIBE", Attack::EndlessLine) => {
                send(
                    &mut out,
                    format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nX-Junk: ").as_bytes(),
                )?;
                let piece = vec![b'a'; 1024];
                while !stop.load(Ordering::Relaxed) {
                    send(&mut out, &piece)?;
                }
            }
            ("DESCRIBE", _) => send(
                &mut out,
                format!(
                    "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Base: rtsp://127.0.0.1/stream/\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
                    SDP.len()
                )
                .as_bytes(),
            )?,
            ("SETUP", _) => send(
                &mut out,
                format!(
                    "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 1234;timeout=60\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
                )
                .as_bytes(),
            )?,
            ("PLAY", _) => {
                send(
                    &mut out,
                    format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 1234\r\n\r\n").as_bytes(),
                )?;
                flood(&mut out, attack, stop, &mut send)?;
                return Ok(());
            }
            _ => send(
                &mut out,
                format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 1234\r\n\r\n").as_bytes(),
            )?,
        }
    }
    // Keep reading until the client goes (so that it sees no early EOF).
    let mut sink = [0u8; 4096];
    while reader.get_mut().read(&mut sink).unwrap_or(0) > 0 {}
    Ok(())
}

/// After PLAY: what the attack sends as media.
fn flood(
    out: &mut TcpStream,
    attack: Attack,
    stop: &AtomicBool,
    send: &mut impl FnMut(&mut TcpStream, &[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut seq: u16 = 0;
    let packet = |channel: u8, payload: &[u8], seq: u16| {
        let mut rtp = vec![
            0x80,
            96,
            (seq >> 8) as u8,
            seq as u8,
            0,
            0,
            0x10,
            0,
            0,
            0,
            0x12,
            0x34,
        ];
        rtp.extend_from_slice(payload);
        let len = rtp.len() as u16;
        let mut frame = vec![b'$', channel, (len >> 8) as u8, len as u8];
        frame.extend_from_slice(&rtp);
        frame
    };
    // FU-A of an IDR slice: start, then middles forever, all with one timestamp.
    let body = vec![0x42u8; 1400];
    let mut start = vec![0x7c, 0x85];
    start.extend_from_slice(&body);
    let mut middle = vec![0x7c, 0x05];
    middle.extend_from_slice(&body);
    let giant = vec![0u8; 65_535 - 12];
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let frame = match attack {
            Attack::GiantInterleaved => packet(7, &giant, seq),
            _ if first => packet(0, &start, seq),
            _ => packet(0, &middle, seq),
        };
        first = false;
        send(out, &frame)?;
        seq = seq.wrapping_add(1);
    }
    Ok(())
}
