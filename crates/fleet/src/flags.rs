//! The fleet's flags as the binary flattens them: `run --cluster` (joining) and the
//! `cameras`, `results` and `cluster` subcommands, each run by [`commands`].

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::commands;
use crate::{Error, FleetKey, Join, Nats};

/// Where the fleet's NATS server is, for the subcommands.
#[derive(Args, Clone, Debug)]
pub struct Server {
    /// The fleet's NATS server (nats://, or tls:// for TLS)
    #[arg(
        long,
        value_name = "URL",
        global = true,
        default_value = "nats://127.0.0.1:4222"
    )]
    pub cluster: String,
    #[command(flatten)]
    pub auth: Auth,
}

impl Server {
    fn nats(&self) -> Nats {
        self.auth.nats(&self.cluster)
    }
}

/// How to authenticate to NATS and check its certificate.
#[derive(Args, Clone, Debug, Default)]
pub struct Auth {
    /// A NATS credentials file (.creds: a user JWT and its NKey seed)
    #[arg(long, value_name = "FILE", global = true)]
    pub nats_creds: Option<PathBuf>,
    /// A file holding an NKey seed (SU…)
    #[arg(long, value_name = "FILE", global = true)]
    pub nats_nkey: Option<PathBuf>,
    /// PEM certificates the NATS server's must chain to (TLS is then required)
    #[arg(long, value_name = "FILE", global = true)]
    pub nats_ca_file: Option<PathBuf>,
}

impl Auth {
    fn nats(&self, url: &str) -> Nats {
        Nats {
            url: url.to_owned(),
            creds: self.nats_creds.clone(),
            nkey: self.nats_nkey.clone(),
            ca_file: self.nats_ca_file.clone(),
        }
    }
}

/// Reads `--fleet-key-file`, if given.
fn fleet_key(path: Option<&PathBuf>) -> Result<Option<FleetKey>, Error> {
    path.map(|p| FleetKey::load(p).map_err(Error::Usage))
        .transpose()
}

/// `run`'s flags for joining a fleet.
#[derive(Args, Clone, Debug)]
pub struct JoinFlags {
    /// Join a fleet on this NATS server: take a share of its registry's cameras and publish
    /// results to JetStream (cameras come from `rtsp-worker cameras add`, not the command line)
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
    /// This worker's name in the fleet [default: host name and process id]
    #[arg(long, value_name = "ID", requires = "cluster")]
    pub worker_id: Option<String>,
    /// Seconds a lease outlives its last renewal; the same for every worker [default: 3]
    #[arg(long, value_name = "SECS", default_value_t = 3.0, requires = "cluster")]
    pub lease_ttl: f64,
    #[command(flatten)]
    pub nats_auth: Auth,
    /// The fleet's key file: opens the camera passwords sealed in the registry, seals those
    /// added over HTTP
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub fleet_key_file: Option<PathBuf>,
    /// Benchmarks only: take file:// cameras from the fleet's registry (whoever can write to
    /// NATS then chooses which local files this worker reads). The fleet benchmark and soak
    /// replay clips this way to measure the fleet at camera counts no RTSP server here serves
    #[arg(long, hide = true, requires = "cluster")]
    pub bench_registry_file_urls: bool,
}

impl JoinFlags {
    /// The fleet to join, checked (`None` without `--cluster`).
    pub fn join(&self) -> Result<Option<Join>, Error> {
        let Some(url) = &self.cluster else {
            return Ok(None);
        };
        Join::new(
            self.nats_auth.nats(url),
            fleet_key(self.fleet_key_file.as_ref())?,
            self.worker_id.clone(),
            self.lease_ttl,
            self.bench_registry_file_urls,
        )
        .map(Some)
    }
}

/// `rtsp-worker cameras`: the fleet's camera registry.
#[derive(Args, Debug)]
pub struct Cameras {
    #[command(subcommand)]
    action: CamerasAction,
    #[command(flatten)]
    server: Server,
    /// The fleet's key file (64 hex digits a line; the first seals): camera passwords go
    /// into the registry sealed with it
    #[arg(long, value_name = "FILE", global = true)]
    fleet_key_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum CamerasAction {
    /// Adds a camera to the registry; a worker of the fleet picks it up.
    Add {
        /// The camera's id (A–Z a–z 0–9 _ -)
        id: String,
        #[command(flatten)]
        camera: commands::NewCamera,
    },
    /// Removes a camera from the registry; its worker stops it.
    Remove { id: String },
    /// The registry's cameras, one JSON object per line (passwords left out).
    List,
    /// Seals every camera password again with the key file's first key (key rotation: put
    /// the new key first in every worker's key file, run this, then drop the old key).
    Rekey,
}

impl Cameras {
    pub async fn run(self) -> Result<(), Error> {
        let nats = self.server.nats();
        let key = fleet_key(self.fleet_key_file.as_ref())?;
        let key = key.as_ref();
        match self.action {
            CamerasAction::Add { id, camera } => {
                commands::cameras_add(&nats, &id, camera, key).await
            }
            CamerasAction::Remove { id } => commands::cameras_remove(&nats, &id).await,
            CamerasAction::List => commands::cameras_list(&nats).await,
            CamerasAction::Rekey => commands::cameras_rekey(&nats, key).await,
        }
    }
}

/// `rtsp-worker results`: the fleet's results, read back.
#[derive(Args, Debug)]
pub struct Results {
    #[command(flatten)]
    server: Server,
    /// Only this camera's results
    #[arg(long)]
    camera: Option<String>,
    /// Replay from the oldest result kept (resets the reader's position)
    #[arg(long, conflicts_with = "since")]
    from_start: bool,
    #[arg(
        long,
        value_name = "TIME",
        help = "Replay from this time, RFC 3339 or Unix seconds (resets the reader's position)"
    )]
    since: Option<String>,
    /// The durable reader's name: a reader of the same name resumes where it stopped
    #[arg(long, default_value = "reader")]
    durable: String,
    /// Stop after this many results
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop when no result came for this many seconds [default: follow forever]
    #[arg(long, value_name = "SECS")]
    idle: Option<f64>,
}

impl Results {
    pub async fn run(self) -> Result<(), Error> {
        commands::read(commands::Read {
            nats: self.server.nats(),
            camera: self.camera,
            from: commands::ReadFrom::new(self.since.as_deref(), self.from_start)?,
            durable: self.durable,
            count: self.count,
            idle: commands::idle(self.idle)?,
        })
        .await
    }
}

/// `rtsp-worker cluster`: the fleet's state.
#[derive(Args, Debug)]
pub struct Cluster {
    #[command(subcommand)]
    action: ClusterAction,
    #[command(flatten)]
    server: Server,
}

#[derive(Subcommand, Debug)]
enum ClusterAction {
    /// One JSON document: workers (with the model each runs), cameras with their owner and
    /// lease age, unowned cameras.
    Status,
    /// Sets the model every worker runs, swapped while the cameras run: a file name in each
    /// worker's --model-dir (workers without one keep theirs and say so)
    Model {
        /// NAME.onnx
        name: String,
        /// Let a model with other classes in: every camera's tracks then end
        #[arg(long)]
        restart_tracks: bool,
    },
}

impl Cluster {
    /// The JSON document to print.
    pub async fn run(self) -> Result<serde_json::Value, Error> {
        match self.action {
            ClusterAction::Status => commands::status(&self.server.nats()).await,
            ClusterAction::Model {
                name,
                restart_tracks,
            } => commands::set_model(&self.server.nats(), &name, restart_tracks).await,
        }
    }
}
