//! The MQTT publisher (`--mqtt mqtt://host:port`): one client for the process, fed without
//! ever waiting. Messages go into the client's bounded request queue; when it is full (the
//! broker is down or slow) they are dropped and counted. The client reconnects on its own;
//! `<prefix>/available` is `online` while connected and the broker's last will says `offline`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::events::Message;

/// Messages the publisher holds for a broker that is away before it drops new ones (the
/// default of `--mqtt-queue`).
pub(crate) const QUEUE: usize = 4096;

/// Where the broker is (credentials stay out of `Display`).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Broker {
    pub(crate) host: String,
    pub(crate) port: u16,
    credentials: Option<(String, String)>,
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mqtt://{}:{}", self.host, self.port)
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Broker({self})")
    }
}

/// Parses `mqtt://[user:password@]host[:port]` (port 1883 by default); errors never quote
/// the password.
pub(crate) fn parse_broker(url: &str) -> Result<Broker, String> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or("the MQTT broker must be mqtt://host[:port]")?;
    let rest = rest.trim_end_matches('/');
    let (credentials, hostport) = match rest.rsplit_once('@') {
        Some((cred, hp)) => {
            let (u, p) = cred.split_once(':').unwrap_or((cred, ""));
            (Some((u.to_owned(), p.to_owned())), hp)
        }
        None => (None, rest),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (
            h,
            p.parse::<u16>()
                .map_err(|_| "the MQTT broker's port is not a number".to_owned())?,
        ),
        _ => (hostport, 1883),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains('/') {
        return Err("the MQTT broker must be mqtt://host[:port]".into());
    }
    Ok(Broker {
        host: host.to_owned(),
        port,
        credentials,
    })
}

/// Checks a topic prefix.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
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
pub(crate) struct MqttStats {
    pub(crate) queued: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) connected: AtomicBool,
}

/// The process's MQTT client.
#[derive(Debug)]
pub(crate) struct Publisher {
    client: AsyncClient,
    prefix: String,
    pub(crate) stats: Arc<MqttStats>,
    task: JoinHandle<()>,
}

impl Publisher {
    /// Starts the client; it connects (and reconnects) in the background. `queue` messages
    /// wait for a broker that is away.
    pub(crate) fn start(broker: &Broker, prefix: &str, queue: usize) -> Self {
        let id = format!("rtsp-worker-{}", std::process::id());
        let mut options = MqttOptions::new(id, broker.host.clone(), broker.port);
        options.set_keep_alive(Duration::from_secs(10));
        options.set_last_will(LastWill::new(
            format!("{prefix}/available"),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        if let Some((u, p)) = &broker.credentials {
            options.set_credentials(u.clone(), p.clone());
        }
        let (client, mut eventloop) = AsyncClient::new(options, queue.max(1));
        let stats = Arc::new(MqttStats::default());
        let (s, c, available) = (stats.clone(), client.clone(), format!("{prefix}/available"));
        let shown = broker.to_string();
        let task = tokio::spawn(async move {
            let mut down_reported = false;
            loop {
                match eventloop.poll().await {
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
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
                    Ok(_) => {}
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
        Self {
            client,
            prefix: prefix.to_owned(),
            stats,
            task,
        }
    }

    /// Queues messages; never waits. A full queue drops them, counted.
    pub(crate) fn send(&self, messages: impl IntoIterator<Item = Message>) {
        for m in messages {
            let topic = format!("{}/{}", self.prefix, m.topic);
            match self
                .client
                .try_publish(topic, QoS::AtLeastOnce, m.retain, m.payload)
            {
                Ok(()) => self.stats.queued.fetch_add(1, Ordering::Relaxed),
                Err(_) => self.stats.dropped.fetch_add(1, Ordering::Relaxed),
            };
        }
    }

    /// Says `offline`, and gives the queue up to `patience` to go out.
    pub(crate) async fn close(self, patience: Duration) {
        let deadline = tokio::time::Instant::now() + patience;
        let goodbye = async {
            let _ = self
                .client
                .publish(
                    format!("{}/available", self.prefix),
                    QoS::AtLeastOnce,
                    true,
                    "offline",
                )
                .await;
            let _ = self.client.disconnect().await;
        };
        let _ = tokio::time::timeout_at(deadline, goodbye).await;
        let mut task = self.task;
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let b = parse_broker("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("127.0.0.1", 1884));
        assert_eq!(parse_broker("mqtt://broker").unwrap().port, 1883);
        let b = parse_broker("mqtt://u:s3cret@host:1000/").unwrap();
        assert_eq!(b.credentials, Some(("u".into(), "s3cret".into())));
        assert!(!format!("{b} {b:?}").contains("s3cret"));
        assert!(parse_broker("http://host").is_err());
        assert!(parse_broker("mqtt://host:port").is_err());
        assert!(parse_broker("mqtt://").is_err());
        assert!(check_prefix("home/rtsp").is_ok());
        assert!(check_prefix("a/#").is_err() && check_prefix("/a").is_err());
    }
}
