//! The MQTT publisher (`--mqtt mqtt://host:port`, or `mqtts://` over TLS): one client for
//! the process, fed without ever waiting. Messages go into the client's bounded request
//! queue; when it is full (the broker is down or slow) they are dropped and counted, and a
//! message larger than any we mean to publish is dropped and counted too, never the
//! connection. The client reconnects on its own; `<prefix>/available` is `online` while
//! connected and the broker's last will says `offline`. Its password comes from a file or the
//! environment, never the command line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rtsp_worker::{StreamConnection, StreamEvent};
use rumqttc::{
    AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport,
};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::discovery::Discovery;
use crate::events::{CameraEvents, Message};
use crate::sink::{Sink, StreamSink};
use crate::support::{lock, now_secs, tls_client_config};

/// Messages the publisher holds for a broker that is away before it drops new ones (the
/// default of `--mqtt-queue`).
pub const QUEUE: usize = 4096;

/// The largest message (topic and payload) we publish. Zone, line and label names are
/// capped (64 zones of 64-character names at most), so the largest event — a track's
/// `before` and `after` with every zone current and entered — stays under 40 KiB; this
/// leaves room, and anything larger is a bug to count, not a reason to drop the connection.
pub const MAX_MESSAGE: usize = 256 * 1024;

/// Where the broker is and how to reach it; the password never shows.
#[derive(Clone, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    /// `mqtts://`: TLS, checked against `ca_file` or the system's roots.
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    password: Option<String>,
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        match &self.username {
            Some(u) => write!(f, "{scheme}://{u}@{}:{}", self.host, self.port),
            None => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Broker({self}, password: {})",
            if self.password.is_some() {
                "***"
            } else {
                "none"
            }
        )
    }
}

/// Parses `mqtt[s]://[user[:password]@]host[:port]` (port 1883, or 8883 over TLS); errors
/// never quote the password. `password_allowed` is false for a URL from the command line,
/// where every user of the machine can read it.
pub fn parse_broker(url: &str, password_allowed: bool) -> Result<Broker, String> {
    const FORM: &str = "the MQTT broker must be mqtt://host[:port] or mqtts://host[:port]";
    let url = url.trim();
    let (tls, rest) = if let Some(r) = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
    {
        (false, r)
    } else if let Some(r) = url
        .strip_prefix("mqtts://")
        .or_else(|| url.strip_prefix("ssl://"))
    {
        (true, r)
    } else {
        return Err(FORM.into());
    };
    let rest = rest.trim_end_matches('/');
    let (username, password, hostport) = match rest.rsplit_once('@') {
        Some((cred, hp)) => match cred.split_once(':') {
            Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned()), hp),
            None => (Some(cred.to_owned()), None, hp),
        },
        None => (None, None, rest),
    };
    if password.is_some() && !password_allowed {
        return Err(
            "a password in --mqtt's URL is visible to every user of this machine: give it in \
             --mqtt-password-file FILE or RTSP_WORKER_MQTT_PASSWORD instead"
                .into(),
        );
    }
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (
            h,
            p.parse::<u16>()
                .map_err(|_| "the MQTT broker's port is not a number".to_owned())?,
        ),
        _ => (hostport, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', '?', '#']) {
        return Err(FORM.into());
    }
    Ok(Broker {
        host: host.to_owned(),
        port,
        tls,
        ca_file: None,
        username: username.filter(|u| !u.is_empty()),
        password,
    })
}

impl Broker {
    /// Sets the password (from a file or the environment).
    pub fn with_password(mut self, password: String) -> Result<Self, String> {
        if self.username.is_none() {
            return Err("an MQTT password needs a user name: mqtt://USER@host".into());
        }
        self.password = Some(password);
        Ok(self)
    }
}

/// Checks a topic prefix.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty()
        || prefix.contains(['+', '#', '\0'])
        || prefix.starts_with('/')
        || prefix.ends_with('/')
    {
        return Err(format!(
            "the MQTT prefix {prefix:?} must be a topic without wildcards or outer slashes"
        ));
    }
    Ok(())
}

/// Counters for the metrics.
#[derive(Debug, Default)]
pub struct MqttStats {
    pub queued: AtomicU64,
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    /// Messages larger than [`MAX_MESSAGE`], dropped.
    pub too_large: AtomicU64,
    pub connected: AtomicBool,
}

/// The process's MQTT client, a sink: the client's request queue is its bounded queue.
#[derive(Debug)]
pub struct Publisher {
    sender: Sender,
    pub stats: Arc<MqttStats>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// Home Assistant's discovery prefix, unless discovery is off.
    discovery: Option<Arc<str>>,
    /// Each camera's announced discovery configs, emptied when it is removed.
    announced: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>,
}

/// What queues messages, shared by the streams.
#[derive(Debug, Clone)]
struct Sender {
    client: AsyncClient,
    prefix: Arc<str>,
    stats: Arc<MqttStats>,
}

impl Publisher {
    /// Starts the client; it connects (and reconnects) in the background. `queue` messages
    /// wait for a broker that is away.
    ///
    /// # Errors
    ///
    /// The TLS settings cannot be made (an unreadable CA file, no root certificates).
    pub fn start(
        broker: &Broker,
        prefix: &str,
        queue: usize,
        discovery: Option<&str>,
    ) -> Result<Self, String> {
        let id = format!("rtsp-worker-{}", std::process::id());
        let mut options = MqttOptions::new(id, broker.host.clone(), broker.port);
        options.set_keep_alive(Duration::from_secs(10));
        // Outgoing: the largest message we publish and its header; incoming: acknowledgements.
        options.set_max_packet_size(64 * 1024, MAX_MESSAGE + 1024);
        if broker.tls {
            options.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(
                tls_client_config(broker.ca_file.as_deref(), "--mqtt-ca-file")?,
            ))));
        }
        options.set_last_will(LastWill::new(
            format!("{prefix}/available"),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        if let Some(u) = &broker.username {
            options.set_credentials(u.clone(), broker.password.clone().unwrap_or_default());
        }
        let (client, mut eventloop) = AsyncClient::new(options, queue.max(1));
        let stats = Arc::new(MqttStats::default());
        let (s, c, available) = (stats.clone(), client.clone(), format!("{prefix}/available"));
        let shown = broker.to_string();
        let task = tokio::spawn(async move {
            let mut down_reported = false;
            // Once our DISCONNECT is out, the loop goes on reading until the broker closes
            // the connection (at most a second): dropping the socket with the broker's
            // acknowledgements unread would reset it, losing what was still in flight — the
            // last messages and the DISCONNECT itself (the broker would then send the last
            // will).
            let mut leaving: Option<tokio::time::Instant> = None;
            loop {
                let polled = match leaving {
                    Some(until) => match tokio::time::timeout_at(until, eventloop.poll()).await {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    None => eventloop.poll().await,
                };
                match polled {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        s.connected.store(true, Ordering::SeqCst);
                        info!(broker = %shown, "MQTT connected");
                        down_reported = false;
                        // Not try_publish: availability must not be the message a full
                        // queue drops. A task of its own waits for room (this loop is what
                        // makes room).
                        let (c, topic) = (c.clone(), available.clone());
                        tokio::spawn(async move {
                            let _ = c.publish(topic, QoS::AtLeastOnce, true, "online").await;
                        });
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(_))) => {
                        s.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                        leaving = Some(tokio::time::Instant::now() + Duration::from_secs(1));
                    }
                    Ok(_) => {}
                    // The broker closed the connection after our DISCONNECT.
                    Err(_) if leaving.is_some() => break,
                    Err(e) => {
                        s.connected.store(false, Ordering::SeqCst);
                        if !down_reported {
                            warn!(broker = %shown, error = %e, "MQTT broker unreachable; retrying every second, messages queue (bounded)");
                            down_reported = true;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Self {
            sender: Sender {
                client,
                prefix: prefix.into(),
                stats: stats.clone(),
            },
            stats,
            task: Mutex::new(Some(task)),
            discovery: discovery.map(Into::into),
            announced: Arc::default(),
        })
    }

    /// Queues messages; never waits: a full queue drops them, counted.
    pub fn send(&self, messages: impl IntoIterator<Item = Message>) {
        self.sender.send(messages);
    }

    /// Says `offline`, and gives the queue up to `patience` to go out.
    pub async fn close(&self, patience: Duration) {
        let deadline = tokio::time::Instant::now() + patience;
        let client = &self.sender.client;
        let goodbye = async {
            let _ = client
                .publish(
                    format!("{}/available", self.sender.prefix),
                    QoS::AtLeastOnce,
                    true,
                    "offline",
                )
                .await;
            let _ = client.disconnect().await;
        };
        let _ = tokio::time::timeout_at(deadline, goodbye).await;
        let task = lock(&self.task).take();
        if let Some(mut task) = task
            && tokio::time::timeout_at(deadline, &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

impl Sink for Publisher {
    fn open(&self, conn: &StreamConnection, _lease: Option<u64>) -> Option<Box<dyn StreamSink>> {
        Some(Box::new(CameraMessages {
            sender: self.sender.clone(),
            events: CameraEvents::new(conn.id()),
            discovery: self
                .discovery
                .as_deref()
                .map(|d| Discovery::new(conn.id(), &self.sender.prefix, d)),
            announced: self.announced.clone(),
        }))
    }

    fn forget(&self, id: &str) {
        // Home Assistant removes an entity whose config is emptied.
        if let Some(topics) = lock(&self.announced).remove(id) {
            for m in Discovery::removal(topics) {
                self.sender.send_absolute(m);
            }
        }
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(Publisher::close(self, Duration::from_secs(3)))
    }
}

/// One camera's events (Frigate-style), turned into messages, with Home Assistant's
/// discovery of the state topics among them.
struct CameraMessages {
    sender: Sender,
    events: CameraEvents,
    discovery: Option<Discovery>,
    announced: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>,
}

impl StreamSink for CameraMessages {
    fn offer(&mut self, event: &StreamEvent) {
        let messages = match event {
            StreamEvent::Result(r) => self.events.on_result(r),
            StreamEvent::Connected { .. } => vec![self.events.status(true)],
            StreamEvent::Reconnecting { .. } => vec![self.events.status(false)],
            StreamEvent::Ended { .. } => self.events.on_end(now_secs()),
            _ => return,
        };
        if let Some(d) = &mut self.discovery {
            // The entity's config before its first state.
            let configs = d.on_messages(&messages);
            if !configs.is_empty() {
                lock(&self.announced)
                    .insert(self.events.camera().to_owned(), d.announced().clone());
                for m in configs {
                    self.sender.send_absolute(m);
                }
            }
        }
        self.sender.send(messages);
    }
}

impl Sender {
    /// Queues messages; never waits. A full queue drops them, counted, and so is a message
    /// larger than [`MAX_MESSAGE`] (which the client would take for a reason to disconnect).
    fn send(&self, messages: impl IntoIterator<Item = Message>) {
        for mut m in messages {
            m.topic = format!("{}/{}", self.prefix, m.topic);
            self.send_absolute(m);
        }
    }

    /// [`send`](Self::send) for a message whose topic is not under the prefix.
    fn send_absolute(&self, m: Message) {
        if m.topic.len() + m.payload.len() > MAX_MESSAGE {
            self.stats.too_large.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self
            .client
            .try_publish(m.topic, QoS::AtLeastOnce, m.retain, m.payload)
        {
            Ok(()) => self.stats.queued.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.stats.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let b = parse_broker("mqtt://127.0.0.1:1884", false).unwrap();
        assert_eq!((b.host.as_str(), b.port, b.tls), ("127.0.0.1", 1884, false));
        assert_eq!(parse_broker("mqtt://broker", false).unwrap().port, 1883);
        let tls = parse_broker("mqtts://u@broker", false).unwrap();
        assert_eq!(
            (tls.port, tls.tls, tls.username.as_deref()),
            (8883, true, Some("u"))
        );
        // A password in a URL: from a file (the config file), not the command line.
        let b = parse_broker("mqtt://u:s3c/r@t@host:1000/", true).unwrap();
        assert_eq!(b.password.as_deref(), Some("s3c/r@t"));
        assert!(!format!("{b} {b:?}").contains("s3c"));
        let e = parse_broker("mqtt://u:s3cret@host:1000/", false).unwrap_err();
        assert!(
            e.contains("--mqtt-password-file") && !e.contains("s3cret"),
            "{e}"
        );
        let b = parse_broker("mqtt://u@host", false)
            .unwrap()
            .with_password("pw".into())
            .unwrap();
        assert!(!format!("{b} {b:?}").contains("pw,"));
        assert!(
            parse_broker("mqtt://host", false)
                .unwrap()
                .with_password("pw".into())
                .is_err()
        );
        assert!(parse_broker("http://host", false).is_err());
        assert!(parse_broker("mqtt://host:port", false).is_err());
        assert!(parse_broker("mqtt://", false).is_err());
        assert!(check_prefix("home/rtsp").is_ok());
        assert!(check_prefix("a/#").is_err() && check_prefix("/a").is_err());
    }
}
