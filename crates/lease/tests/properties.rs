//! Property tests of the fleet's rules: rendezvous hashing moves only what it must, the
//! reader's fence and the audit judge tokens as documented, and — the main one — a fleet of
//! [`Worker`]s run against a simulated compare-and-set store (delays, lost requests and
//! replies, frozen, killed, started and stopped workers) never lets two running workers
//! publish the same camera at once, publishes only claimed tokens that never go back, and
//! settles on one holder per camera, its rendezvous owner, once the faults stop.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use lease::{
    Action, Audit, Config, Fence, Input, LeaseError, StopReason, Violation, Worker, owner,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

// ---------------------------------------------------------------------------------------
// Rendezvous hashing
// ---------------------------------------------------------------------------------------

fn names(
    prefix: &'static str,
    n: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set("[a-z0-9-]{1,8}", n)
        .prop_map(move |s| s.into_iter().map(|x| format!("{prefix}{x}")).collect())
}

fn owners(members: &[String], cameras: &[String]) -> Vec<String> {
    cameras
        .iter()
        .map(|c| {
            owner(c, members.iter().map(String::as_str))
                .expect("members")
                .to_owned()
        })
        .collect()
}

/// `n` cases, or `PROPTEST_CASES` of them (for a longer soak).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), .. ProptestConfig::default() })]

    /// A joining member takes only cameras it now owns, a leaving member gives up only its
    /// own, and the order in which members are listed never matters.
    #[test]
    fn hrw_moves_only_what_it_must(
        members in names("w-", 1..=8).prop_shuffle(),
        cameras in names("cam-", 1..=60),
        newcomer in "[a-z0-9-]{1,8}",
        leaver in any::<prop::sample::Index>(),
    ) {
        let before = owners(&members, &cameras);

        // Order: the same answer for the shuffled, sorted and reversed lists.
        let mut sorted = members.clone();
        sorted.sort();
        prop_assert_eq!(&owners(&sorted, &cameras), &before);
        sorted.reverse();
        prop_assert_eq!(&owners(&sorted, &cameras), &before);

        // Join: every camera stays or goes to the newcomer.
        let newcomer = format!("x-{newcomer}");
        let mut joined = members.clone();
        joined.push(newcomer.clone());
        for (cam, (old, new)) in cameras.iter().zip(before.iter().zip(owners(&joined, &cameras))) {
            prop_assert!(new == *old || new == newcomer, "{cam}: {old} -> {new} on {newcomer} joining");
        }

        // Leave: only the leaver's cameras move.
        if members.len() > 1 {
            let gone = &members[leaver.index(members.len())];
            let rest: Vec<String> = members.iter().filter(|m| *m != gone).cloned().collect();
            for (cam, (old, new)) in cameras.iter().zip(before.iter().zip(owners(&rest, &cameras))) {
                prop_assert!(old == gone || new == *old, "{cam}: {old} -> {new} on {gone} leaving");
                prop_assert_ne!(&new, gone);
            }
        }
    }

    /// `admit` is true exactly when the token is at least every token admitted before for
    /// that camera; `dropped` counts the rest.
    #[test]
    fn fence_admits_exactly_the_newest(ops in proptest::collection::vec((0..3usize, 0..20u64), 0..200)) {
        let mut fence = Fence::new();
        let mut admitted: HashMap<usize, Vec<u64>> = HashMap::new();
        let mut dropped = 0;
        for (cam, token) in ops {
            let earlier = admitted.entry(cam).or_default();
            let expect = earlier.iter().all(|t| token >= *t);
            prop_assert_eq!(fence.admit(&format!("cam-{cam}"), token), expect, "cam-{} token {}", cam, token);
            if expect {
                earlier.push(token);
            } else {
                dropped += 1;
            }
            prop_assert_eq!(fence.dropped(), dropped);
        }
    }

    /// A well-ordered log has no violations; an older token after a newer one is
    /// `ResultOutOfOrder`, a token never claimed is `NotALease`, and a revision going back is
    /// `LeaseWentBack`.
    #[test]
    fn audit_judges_tokens(ops in proptest::collection::vec((0..3u8, 0..3usize, 0..3usize, any::<prop::sample::Index>()), 1..80)) {
        let mut audit = Audit::new();
        let mut rev = 0u64;
        // Per camera: claims (token, worker) in order, the current holder, the newest result.
        let mut claims: HashMap<usize, Vec<(u64, usize)>> = HashMap::new();
        let mut holder: HashMap<usize, usize> = HashMap::new();
        let mut newest: HashMap<usize, u64> = HashMap::new();
        let mut last_rev: HashMap<usize, u64> = HashMap::new();
        for (op, cam, worker, pick) in ops {
            let c = format!("cam-{cam}");
            match op {
                0 => {
                    rev += 1;
                    audit.lease(&c, &format!("w{worker}"), rev, true);
                    claims.entry(cam).or_default().push((rev, worker));
                    holder.insert(cam, worker);
                    last_rev.insert(cam, rev);
                }
                1 => {
                    if let Some(&w) = holder.get(&cam) {
                        rev += 1;
                        audit.lease(&c, &format!("w{w}"), rev, false);
                        last_rev.insert(cam, rev);
                    }
                }
                _ => {
                    let floor = newest.get(&cam).copied().unwrap_or(0);
                    let ok: Vec<(u64, usize)> = claims
                        .get(&cam)
                        .map(|v| v.iter().copied().filter(|(t, _)| *t >= floor).collect())
                        .unwrap_or_default();
                    if !ok.is_empty() {
                        let (t, w) = ok[pick.index(ok.len())];
                        audit.result(&c, &format!("w{w}"), t);
                        newest.insert(cam, t);
                    }
                }
            }
        }
        prop_assert_eq!(audit.violations(), vec![]);

        // An older claimed token after a newer one.
        for (&cam, &top) in &newest {
            let c = format!("cam-{cam}");
            if let Some(&(t, w)) = claims[&cam].iter().find(|(t, _)| *t < top) {
                let mut a = audit.clone();
                a.result(&c, &format!("w{w}"), t);
                prop_assert_eq!(
                    a.violations(),
                    vec![Violation::ResultOutOfOrder { camera: c.clone(), newest: top, got: t }]
                );
            }
        }

        // A token nobody claimed, and a real token under the wrong worker.
        let mut a = audit.clone();
        a.result("cam-0", "w0", rev + 1);
        prop_assert_eq!(
            a.violations(),
            vec![Violation::NotALease { camera: "cam-0".into(), worker: "w0".into(), token: rev + 1 }]
        );
        if let Some(&(t, _)) = claims.get(&0).and_then(|v| v.last()) {
            let mut a = audit.clone();
            a.result("cam-0", "w9", t);
            prop_assert_eq!(
                a.violations(),
                vec![Violation::NotALease { camera: "cam-0".into(), worker: "w9".into(), token: t }]
            );
        }

        // A lease revision that repeats.
        if let Some((&cam, &r)) = last_rev.iter().next() {
            let mut a = audit.clone();
            a.lease(&format!("cam-{cam}"), "w0", r, false);
            prop_assert_eq!(
                a.violations(),
                vec![Violation::LeaseWentBack { camera: format!("cam-{cam}"), from: r, to: r }]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// The fleet against a simulated store
// ---------------------------------------------------------------------------------------

/// Simulated time in milliseconds; the simulation steps by `STEP`.
type Ms = u64;
const STEP: Ms = 10;
const TICK: Ms = 100;

fn at(ms: Ms) -> Duration {
    Duration::from_millis(ms)
}

/// SplitMix64: every delay and loss of a case follows from its seed.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < u64::from(percent)
    }
}

#[derive(Debug, Clone)]
enum Fault {
    /// SIGSTOP: the worker neither handles nor polls; its inputs queue up. On resuming it
    /// polls first (a missed tick) or handles the queue first, as `poll_first` says.
    Freeze {
        worker: usize,
        for_ms: Ms,
        poll_first: bool,
    },
    /// SIGKILL.
    Kill {
        worker: usize,
    },
    /// A new worker, under a fresh id or (`reuse`) the id of a dead one.
    Start {
        reuse: bool,
    },
    /// A graceful stop.
    Shutdown {
        worker: usize,
    },
    RemoveCamera {
        camera: usize,
    },
    AddCamera,
}

#[derive(Debug, Clone)]
struct Plan {
    ttl: Ms,
    workers: usize,
    cameras: usize,
    seed: u64,
    /// Percent of requests lost on the way to the store, and of replies lost on the way back.
    lose_request: u32,
    lose_reply: u32,
    /// Whether workers also poll right after every input (not only every tick).
    eager: bool,
    faults: Vec<(Ms, Fault)>,
    /// Requests may be lost until then (and until the last fault).
    lossy_until: Ms,
}

#[derive(Debug, Clone)]
enum Req {
    Claim { camera: String, over: Option<u64> },
    Renew { camera: String, revision: u64 },
    Release { camera: String, revision: u64 },
    Heartbeat,
    Leave,
}

#[derive(Debug)]
enum Event {
    /// A request reaches the store; `reply` says whether its answer comes back.
    Apply { from: usize, req: Req, reply: bool },
    /// An input reaches a worker.
    Deliver { to: usize, input: Input },
}

#[derive(Debug)]
struct Key {
    owner: String,
    revision: u64,
    expires: Ms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Frozen { until: Ms, poll_first: bool },
    Dead,
}

#[derive(Debug)]
struct Node {
    name: String,
    worker: Worker,
    phase: Ms,
    state: State,
    inbox: Vec<Input>,
    /// Cameras between a `Start` and its `Stop`, with the token started under.
    running: BTreeMap<String, u64>,
    stopping: bool,
}

#[derive(Debug, Default)]
struct Stats {
    claims: u64,
    publishers: u64,
    stops: HashMap<&'static str, u64>,
    transient: u64,
}

#[derive(Debug)]
struct Sim {
    cfg: Config,
    ttl: Ms,
    max_delay: Ms,
    rng: Rng,
    plan: Plan,
    now: Ms,
    lossy: bool,
    seq: u64,
    events: BTreeMap<(Ms, u64), Event>,
    // The store.
    revision: u64,
    leases: BTreeMap<String, Key>,
    members: BTreeMap<String, Ms>,
    cameras: BTreeSet<String>,
    next_camera: usize,
    next_worker: usize,
    nodes: Vec<Node>,
    // What the checks remember.
    claims: HashSet<(String, String, u64)>,
    newest: BTreeMap<String, u64>,
    last_pub: BTreeMap<String, (usize, u64)>,
    audit: Audit,
    /// When a worker last joined, left or died: the view is stable after that.
    membership_changed: Ms,
    stats: Stats,
    trace: Option<VecDeque<String>>,
}

type Step = Result<(), String>;

impl Sim {
    fn new(plan: Plan, trace: bool) -> Self {
        let ttl = plan.ttl;
        let mut sim = Self {
            cfg: Config::new(at(ttl)),
            ttl,
            // Delays stay well inside the TTL's slack: 300 ms of 3 s.
            max_delay: ttl / 10,
            rng: Rng(plan.seed),
            now: 0,
            lossy: true,
            seq: 0,
            events: BTreeMap::new(),
            revision: 0,
            leases: BTreeMap::new(),
            members: BTreeMap::new(),
            cameras: BTreeSet::new(),
            next_camera: plan.cameras,
            next_worker: 0,
            nodes: Vec::new(),
            claims: HashSet::new(),
            newest: BTreeMap::new(),
            last_pub: BTreeMap::new(),
            audit: Audit::new(),
            membership_changed: 0,
            stats: Stats::default(),
            trace: trace.then(VecDeque::new),
            plan,
        };
        for c in 0..sim.plan.cameras {
            sim.cameras.insert(format!("cam-{c}"));
        }
        for _ in 0..sim.plan.workers {
            sim.start(None);
        }
        sim
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        let now = self.now;
        if let Some(t) = &mut self.trace {
            if t.len() == 400 {
                t.pop_front();
            }
            t.push_back(format!("{now:>6} {}", line()));
        }
    }

    fn delay(&mut self) -> Ms {
        self.rng.below(self.max_delay / STEP + 1) * STEP
    }

    fn schedule(&mut self, when: Ms, event: Event) {
        self.seq += 1;
        self.events.insert((when, self.seq), event);
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].state != State::Dead)
    }

    /// Starts a worker; it reads the store's current contents as a watch would.
    fn start(&mut self, name: Option<String>) {
        let name = name.unwrap_or_else(|| {
            self.next_worker += 1;
            format!("w{}", self.next_worker)
        });
        let now = at(self.now);
        let mut worker = Worker::new(name.clone(), self.cfg, now);
        for camera in &self.cameras {
            worker.handle(
                now,
                Input::CameraAdded {
                    camera: camera.clone(),
                },
            );
        }
        for (camera, k) in &self.leases {
            if k.expires > self.now {
                worker.handle(
                    now,
                    Input::Lease {
                        camera: camera.clone(),
                        owner: k.owner.clone(),
                        revision: k.revision,
                    },
                );
            }
        }
        for (member, expires) in &self.members {
            if *expires > self.now {
                worker.handle(
                    now,
                    Input::Heartbeat {
                        member: member.clone(),
                    },
                );
            }
        }
        let phase = self.rng.below(TICK / STEP) * STEP;
        self.note(|| format!("start {name} (phase {phase})"));
        self.nodes.push(Node {
            name,
            worker,
            phase,
            state: State::Running,
            inbox: Vec::new(),
            running: BTreeMap::new(),
            stopping: false,
        });
        self.membership_changed = self.now;
    }

    /// Sends a request from worker `from`; `answered` requests get exactly one answer: the
    /// store's, or `Transient` a third of the TTL after sending when it or its reply is lost.
    fn request(&mut self, from: usize, req: Req, answered: bool) {
        let lost_request = self.lossy && self.rng.chance(self.plan.lose_request);
        let lost_reply = self.lossy && self.rng.chance(self.plan.lose_reply);
        if answered && (lost_request || lost_reply) {
            let input = match &req {
                Req::Claim { camera, .. } => Input::Claimed {
                    camera: camera.clone(),
                    result: Err(LeaseError::Transient),
                },
                Req::Renew { camera, .. } => Input::Renewed {
                    camera: camera.clone(),
                    result: Err(LeaseError::Transient),
                },
                _ => unreachable!("only claims and renewals are answered"),
            };
            self.schedule(self.now + self.ttl / 3, Event::Deliver { to: from, input });
        }
        if !lost_request {
            let when = self.now + self.delay();
            self.schedule(
                when,
                Event::Apply {
                    from,
                    req,
                    reply: answered && !lost_reply,
                },
            );
        }
    }

    /// Tells every worker alive now, each after its own delay.
    fn watch(&mut self, input: Input) {
        for to in self.live().collect::<Vec<_>>() {
            let when = self.now + self.delay();
            self.schedule(
                when,
                Event::Deliver {
                    to,
                    input: input.clone(),
                },
            );
        }
    }

    fn apply(&mut self, from: usize, req: Req, reply: bool) -> Step {
        let now = self.now;
        let ttl = self.ttl;
        let name = self.nodes[from].name.clone();
        let answer = match req {
            Req::Claim { camera, over } => {
                // As NATS: an update at the stale revision if the key still holds it (the
                // store may not have removed it yet), else a create.
                let free = self
                    .leases
                    .get(&camera)
                    .is_none_or(|k| k.expires <= now || over == Some(k.revision));
                let result = if free {
                    self.revision += 1;
                    let revision = self.revision;
                    self.leases.insert(
                        camera.clone(),
                        Key {
                            owner: name.clone(),
                            revision,
                            expires: now + ttl,
                        },
                    );
                    self.audit.lease(&camera, &name, revision, true);
                    self.note(|| format!("store: {camera} claimed by {name} at {revision}"));
                    self.watch(Input::Lease {
                        camera: camera.clone(),
                        owner: name.clone(),
                        revision,
                    });
                    Ok(revision)
                } else {
                    self.note(|| format!("store: claim of {camera} by {name} refused"));
                    Err(LeaseError::Taken)
                };
                Some(Input::Claimed { camera, result })
            }
            Req::Renew { camera, revision } => {
                let result = match self.leases.get_mut(&camera) {
                    Some(k) if k.expires > now && k.revision == revision => {
                        self.revision += 1;
                        k.revision = self.revision;
                        k.expires = now + ttl;
                        k.owner = name.clone();
                        Ok(self.revision)
                    }
                    _ => Err(LeaseError::Taken),
                };
                self.note(|| format!("store: renew {camera}@{revision} by {name}: {result:?}"));
                if let Ok(new) = result {
                    self.audit.lease(&camera, &name, new, false);
                    self.watch(Input::Lease {
                        camera: camera.clone(),
                        owner: name.clone(),
                        revision: new,
                    });
                }
                Some(Input::Renewed { camera, result })
            }
            Req::Release { camera, revision } => {
                let matches = self
                    .leases
                    .get(&camera)
                    .is_some_and(|k| k.expires > now && k.revision == revision);
                self.note(|| format!("store: release {camera}@{revision} by {name}: {matches}"));
                if matches {
                    self.leases.remove(&camera);
                    self.revision += 1;
                    self.watch(Input::LeaseGone { camera });
                }
                None
            }
            Req::Heartbeat => {
                self.members.insert(name.clone(), now + ttl);
                self.watch(Input::Heartbeat { member: name });
                None
            }
            Req::Leave => {
                self.members.remove(&name);
                self.watch(Input::Left { member: name });
                None
            }
        };
        if let (true, Some(input)) = (reply, answer) {
            let when = now + self.delay();
            self.schedule(when, Event::Deliver { to: from, input });
        }
        Ok(())
    }

    fn deliver(&mut self, to: usize, input: Input) -> Step {
        match self.nodes[to].state {
            State::Dead => Ok(()),
            State::Frozen { .. } => {
                self.nodes[to].inbox.push(input);
                Ok(())
            }
            State::Running => self.handle(to, input),
        }
    }

    fn handle(&mut self, i: usize, input: Input) -> Step {
        let now = self.now;
        let name = self.nodes[i].name.clone();
        match &input {
            Input::Claimed {
                camera,
                result: Ok(token),
            } => {
                self.claims.insert((camera.clone(), name.clone(), *token));
            }
            Input::Claimed {
                result: Err(LeaseError::Transient),
                ..
            }
            | Input::Renewed {
                result: Err(LeaseError::Transient),
                ..
            } => {
                self.stats.transient += 1;
            }
            _ => {}
        }
        if !matches!(input, Input::Heartbeat { .. }) {
            self.note(|| format!("{name} <- {input:?}"));
        }
        self.nodes[i].worker.handle(at(now), input);
        self.check()?;
        if self.plan.eager {
            self.poll(i)?;
        }
        Ok(())
    }

    fn poll(&mut self, i: usize) -> Step {
        let actions = self.nodes[i].worker.poll(at(self.now));
        self.check()?;
        for action in actions {
            self.act(i, action)?;
        }
        let node = &mut self.nodes[i];
        if node.stopping && node.worker.is_done() {
            if !node.running.is_empty() {
                return Err(format!("{} is done but runs {:?}", node.name, node.running));
            }
            node.state = State::Dead;
            let name = node.name.clone();
            self.note(|| format!("{name} exits"));
            self.request(i, Req::Leave, false);
            self.membership_changed = self.now;
        }
        Ok(())
    }

    fn act(&mut self, i: usize, action: Action) -> Step {
        let name = self.nodes[i].name.clone();
        if !matches!(action, Action::Heartbeat) {
            self.note(|| format!("{name} -> {action:?}"));
        }
        match action {
            Action::Heartbeat => self.request(i, Req::Heartbeat, false),
            Action::Claim { camera, over } => {
                self.stats.claims += 1;
                self.request(i, Req::Claim { camera, over }, true);
            }
            Action::Renew { camera, revision } => {
                self.request(i, Req::Renew { camera, revision }, true);
            }
            Action::Release { camera, revision } => {
                self.request(i, Req::Release { camera, revision }, false);
            }
            Action::Start { camera, token } => {
                if !self.claims.contains(&(camera.clone(), name.clone(), token)) {
                    return Err(format!(
                        "{name} started {camera} under {token}, never claimed"
                    ));
                }
                if let Some(t) = self.nodes[i].running.insert(camera.clone(), token) {
                    return Err(format!(
                        "{name} started {camera} under {token} while running it under {t}"
                    ));
                }
            }
            Action::Stop { camera, reason } => {
                if self.nodes[i].running.remove(&camera).is_none() {
                    return Err(format!(
                        "{name} stopped {camera} ({reason:?}) without a start"
                    ));
                }
                let r = match reason {
                    StopReason::Rebalance => "rebalance",
                    StopReason::Removed => "removed",
                    StopReason::Lost => "lost",
                    StopReason::Expired => "expired",
                    StopReason::Shutdown => "shutdown",
                };
                *self.stats.stops.entry(r).or_default() += 1;
            }
        }
        Ok(())
    }

    /// The safety checks, at this instant: among running workers at most one may publish
    /// each camera, under a token it claimed, never older than one published before.
    fn check(&mut self) -> Step {
        let now = at(self.now);
        let mut may: Vec<(&str, usize, u64)> = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.state != State::Running {
                continue;
            }
            for (camera, token) in node.worker.held() {
                if node.worker.may_publish(camera, token, now) {
                    may.push((camera, i, token));
                }
            }
        }
        may.sort_unstable();
        if let Some(w) = may.windows(2).find(|w| w[0].0 == w[1].0) {
            let who: Vec<(&str, u64)> = may
                .iter()
                .filter(|m| m.0 == w[0].0)
                .map(|&(_, i, t)| (self.nodes[i].name.as_str(), t))
                .collect();
            return Err(format!("{} may be published by {who:?} at once", w[0].0));
        }
        let mut published = Vec::new();
        for (camera, i, token) in may {
            if self.last_pub.get(camera) == Some(&(i, token)) {
                // Checked when it began.
                continue;
            }
            let name = &self.nodes[i].name;
            if !self
                .claims
                .contains(&(camera.to_owned(), name.clone(), token))
            {
                return Err(format!(
                    "{name} may publish {camera} under {token}, never claimed"
                ));
            }
            if let Some(&newest) = self.newest.get(camera)
                && token < newest
            {
                return Err(format!(
                    "{name} may publish {camera} under {token} after {newest} was published"
                ));
            }
            published.push((camera.to_owned(), i, token));
        }
        for (camera, i, token) in published {
            self.stats.publishers += 1;
            self.audit.result(&camera, &self.nodes[i].name, token);
            self.newest.insert(camera.clone(), token);
            self.last_pub.insert(camera, (i, token));
        }
        Ok(())
    }

    fn pick(&self, n: usize, running_only: bool) -> Option<usize> {
        let candidates: Vec<usize> = self
            .live()
            .filter(|&i| !running_only || self.nodes[i].state == State::Running)
            .collect();
        (!candidates.is_empty()).then(|| candidates[n % candidates.len()])
    }

    /// Workers alive and not stopping.
    fn serving(&self) -> usize {
        self.live().filter(|&i| !self.nodes[i].stopping).count()
    }

    fn fault(&mut self, fault: Fault) -> Step {
        self.note(|| format!("fault {fault:?}"));
        match fault {
            Fault::Freeze {
                worker,
                for_ms,
                poll_first,
            } => {
                if let Some(i) = self.pick(worker, true) {
                    self.nodes[i].state = State::Frozen {
                        until: self.now + for_ms,
                        poll_first,
                    };
                }
            }
            Fault::Kill { worker } => {
                if self.serving() > 1
                    && let Some(i) = self.pick(worker, false)
                    && !self.nodes[i].stopping
                {
                    self.nodes[i].state = State::Dead;
                    self.membership_changed = self.now;
                }
            }
            Fault::Start { reuse } => {
                let dead: BTreeSet<&str> = self
                    .nodes
                    .iter()
                    .filter(|n| n.state == State::Dead)
                    .map(|n| n.name.as_str())
                    .collect();
                let alive: BTreeSet<&str> =
                    self.live().map(|i| self.nodes[i].name.as_str()).collect();
                let name = dead
                    .difference(&alive)
                    .next()
                    .filter(|_| reuse)
                    .map(|s| (*s).to_owned());
                self.start(name);
            }
            Fault::Shutdown { worker } => {
                if self.serving() > 1
                    && let Some(i) = self.pick(worker, false)
                    && !self.nodes[i].stopping
                {
                    self.nodes[i].stopping = true;
                    self.deliver(i, Input::Shutdown)?;
                }
            }
            Fault::RemoveCamera { camera } => {
                if self.cameras.len() > 1 {
                    let c = self
                        .cameras
                        .iter()
                        .nth(camera % self.cameras.len())
                        .cloned();
                    if let Some(camera) = c {
                        self.cameras.remove(&camera);
                        self.watch(Input::CameraRemoved { camera });
                    }
                }
            }
            Fault::AddCamera => {
                let camera = format!("cam-{}", self.next_camera);
                self.next_camera += 1;
                self.cameras.insert(camera.clone());
                self.watch(Input::CameraAdded { camera });
            }
        }
        Ok(())
    }

    fn drain(&mut self) -> Step {
        while let Some(entry) = self.events.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            match entry.remove() {
                Event::Apply { from, req, reply } => self.apply(from, req, reply)?,
                Event::Deliver { to, input } => self.deliver(to, input)?,
            }
        }
        Ok(())
    }

    fn resume(&mut self, i: usize, poll_first: bool) -> Step {
        let name = self.nodes[i].name.clone();
        self.note(|| format!("{name} resumes (poll first: {poll_first})"));
        self.nodes[i].state = State::Running;
        // A SIGSTOPped publisher checks `may_publish` with the clock of now.
        self.check()?;
        if poll_first {
            self.poll(i)?;
        }
        for input in std::mem::take(&mut self.nodes[i].inbox) {
            if self.nodes[i].state == State::Running {
                self.handle(i, input)?;
            }
        }
        if !poll_first && self.nodes[i].state == State::Running {
            self.poll(i)?;
        }
        Ok(())
    }

    /// Runs the plan, then a quiet spell of four TTLs, then checks that the fleet settled.
    fn run(&mut self) -> Step {
        let mut faults = self.plan.faults.clone();
        faults.sort_by_key(|(t, _)| *t);
        let last_fault = faults
            .iter()
            .map(|(t, f)| match f {
                Fault::Freeze { for_ms, .. } => t + for_ms,
                _ => *t,
            })
            .max()
            .unwrap_or(0);
        let quiet = last_fault.max(self.plan.lossy_until);
        let end = (quiet + 4 * self.ttl).max(40_000);
        let mut faults: VecDeque<(Ms, Fault)> = faults.into();
        while self.now <= end {
            self.lossy = self.now < quiet;
            while faults.front().is_some_and(|(t, _)| *t <= self.now) {
                let (_, fault) = faults.pop_front().expect("front");
                self.fault(fault)?;
            }
            for i in 0..self.nodes.len() {
                if let State::Frozen { until, poll_first } = self.nodes[i].state
                    && until <= self.now
                {
                    self.resume(i, poll_first)?;
                }
            }
            self.drain()?;
            for i in 0..self.nodes.len() {
                let node = &self.nodes[i];
                if node.state == State::Running && self.now % TICK == node.phase {
                    self.poll(i)?;
                }
            }
            self.drain()?;
            self.now += STEP;
        }
        self.now -= STEP;
        self.settled()
    }

    /// After the quiet spell: every camera is held by exactly one live worker, its owner
    /// among the live workers, and each worker runs exactly what it holds.
    fn settled(&self) -> Step {
        let live: Vec<usize> = self.live().collect();
        let names: Vec<&str> = live.iter().map(|&i| self.nodes[i].name.as_str()).collect();
        let mut holders: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for &i in &live {
            let node = &self.nodes[i];
            let held: BTreeMap<String, u64> =
                node.worker.held().map(|(c, t)| (c.to_owned(), t)).collect();
            if held != node.running {
                return Err(format!(
                    "{} holds {held:?} but runs {:?}",
                    node.name, node.running
                ));
            }
            for camera in held.keys() {
                if !self.cameras.contains(camera) {
                    return Err(format!("{} holds {camera}, which was removed", node.name));
                }
            }
            for (camera, _) in node.worker.held() {
                holders.entry(camera).or_default().push(&node.name);
            }
        }
        let stable = self.now.saturating_sub(self.membership_changed) >= 2 * self.ttl;
        for camera in &self.cameras {
            let who = holders.get(camera.as_str()).cloned().unwrap_or_default();
            if who.len() != 1 {
                return Err(format!("{camera} is held by {who:?} after the quiet spell"));
            }
            let best = owner(camera, names.iter().copied());
            if stable && best != Some(who[0]) {
                return Err(format!(
                    "{camera} is held by {} but {best:?} owns it among {names:?}",
                    who[0]
                ));
            }
        }
        Ok(())
    }
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        4 => (0..8usize, 50..=1000u64, any::<bool>()).prop_map(|(worker, d, poll_first)| {
            Fault::Freeze { worker, for_ms: d * 10, poll_first }
        }),
        1 => (0..8usize).prop_map(|worker| Fault::Kill { worker }),
        1 => any::<bool>().prop_map(|reuse| Fault::Start { reuse }),
        1 => (0..8usize).prop_map(|worker| Fault::Shutdown { worker }),
        1 => (0..16usize).prop_map(|camera| Fault::RemoveCamera { camera }),
        1 => Just(Fault::AddCamera),
    ]
}

fn plan(ttl: impl Strategy<Value = Ms>) -> impl Strategy<Value = Plan> {
    (
        ttl,
        2..=4usize,
        3..=10usize,
        any::<u64>(),
        0..=20u32,
        0..=20u32,
        any::<bool>(),
        proptest::collection::vec((10..=400u64, fault()), 0..=5),
        100..=3000u64,
    )
        .prop_map(
            |(ttl, workers, cameras, seed, lose_request, lose_reply, eager, faults, lossy)| Plan {
                ttl,
                workers,
                cameras,
                seed,
                lose_request,
                lose_reply,
                eager,
                faults: faults.into_iter().map(|(t, f)| (t * 100, f)).collect(),
                lossy_until: lossy * 10,
            },
        )
}

fn simulate(plan: Plan) -> Result<Stats, TestCaseError> {
    let mut sim = Sim::new(plan.clone(), false);
    match sim.run() {
        Ok(()) => {
            let v = sim.audit.violations();
            if v.is_empty() {
                Ok(sim.stats)
            } else {
                Err(TestCaseError::fail(format!("audit: {v:?}\n{plan:?}")))
            }
        }
        Err(e) => {
            // Deterministic: run it again with a trace for the report.
            let mut sim = Sim::new(plan.clone(), true);
            let again = sim.run();
            let trace: Vec<String> = sim.trace.take().unwrap_or_default().into();
            Err(TestCaseError::fail(format!(
                "at {} ms: {e}\n(again: {again:?})\n{plan:?}\n{}",
                sim.now,
                trace.join("\n")
            )))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(32), .. ProptestConfig::default() })]

    /// The fleet with a 3 s TTL.
    #[test]
    fn fleet_is_safe_and_settles(plan in plan(Just(3000))) {
        simulate(plan)?;
    }

    /// The fleet with a 1 s TTL (delays scaled down with it).
    #[test]
    fn fleet_is_safe_and_settles_with_a_short_ttl(plan in plan(Just(1000))) {
        simulate(plan)?;
    }
}

/// The simulation does reach what it means to test: takeovers after expiry, losses,
/// rebalances and graceful stops, over a fixed set of seeds.
#[test]
fn the_simulation_exercises_the_hard_paths() {
    let mut total = Stats::default();
    for seed in 0..12u64 {
        let plan = Plan {
            ttl: 3000,
            workers: 3,
            cameras: 8,
            seed,
            lose_request: 10,
            lose_reply: 10,
            eager: seed % 2 == 0,
            faults: vec![
                (
                    5_000,
                    Fault::Freeze {
                        worker: seed as usize,
                        for_ms: 4_000,
                        poll_first: seed % 3 == 0,
                    },
                ),
                (12_000, Fault::Start { reuse: false }),
                (
                    18_000,
                    Fault::Kill {
                        worker: seed as usize + 1,
                    },
                ),
                (24_000, Fault::Start { reuse: true }),
                (
                    28_000,
                    Fault::Shutdown {
                        worker: seed as usize,
                    },
                ),
                (30_000, Fault::RemoveCamera { camera: 3 }),
                (31_000, Fault::AddCamera),
            ],
            lossy_until: 30_000,
        };
        let s = simulate(plan).unwrap_or_else(|e| panic!("{e}"));
        total.claims += s.claims;
        total.publishers += s.publishers;
        total.transient += s.transient;
        for (k, v) in s.stops {
            *total.stops.entry(k).or_default() += v;
        }
    }
    for reason in ["rebalance", "removed", "expired", "shutdown"] {
        assert!(
            total.stops.get(reason).copied().unwrap_or(0) > 0,
            "no {reason} stop: {total:?}"
        );
    }
    assert!(total.transient > 0 && total.publishers > 100, "{total:?}");
}

/// A worker told to shut down releases and stops every camera it holds on its next poll.
#[test]
fn shutdown_releases_everything() {
    let cfg = Config::new(Duration::from_secs(3));
    let mut w = Worker::new("w1", cfg, Duration::ZERO);
    for c in ["a", "b", "c"] {
        w.handle(Duration::ZERO, Input::CameraAdded { camera: c.into() });
    }
    assert!(
        w.poll(Duration::ZERO)
            .iter()
            .all(|a| *a == Action::Heartbeat)
    );
    let t = Duration::from_secs(1);
    let claims = w.poll(t);
    let claimed: Vec<&Action> = claims
        .iter()
        .filter(|a| matches!(a, Action::Claim { .. }))
        .collect();
    assert_eq!(claimed.len(), 3, "{claims:?}");
    for (rev, c) in [(1, "a"), (2, "b"), (3, "c")] {
        w.handle(
            t,
            Input::Claimed {
                camera: c.into(),
                result: Ok(rev),
            },
        );
    }
    let started = w.poll(t + Duration::from_millis(100));
    assert_eq!(
        started
            .iter()
            .filter(|a| matches!(a, Action::Start { .. }))
            .count(),
        3
    );
    assert_eq!(w.held().count(), 3);
    assert!(!w.is_done());

    w.handle(t + Duration::from_millis(150), Input::Shutdown);
    let now = t + Duration::from_millis(200);
    let out = w.poll(now);
    for (rev, c) in [(1, "a"), (2, "b"), (3, "c")] {
        assert!(
            out.contains(&Action::Release {
                camera: c.into(),
                revision: rev
            }),
            "{out:?}"
        );
        assert!(
            out.contains(&Action::Stop {
                camera: c.into(),
                reason: StopReason::Shutdown
            }),
            "{out:?}"
        );
        assert!(!w.may_publish(c, rev, now));
    }
    assert_eq!(out.len(), 6, "nothing but releases and stops: {out:?}");
    assert!(w.is_done());
    assert_eq!(w.held().count(), 0);
    // And it claims nothing more.
    assert!(
        w.poll(now + Duration::from_secs(2))
            .iter()
            .all(|a| !matches!(a, Action::Claim { .. }))
    );
}

/// A worker (lease 3 s) told of camera "a" at 0 s that has just sent its claim, at 1 s.
fn claiming_a() -> Worker {
    let s = Duration::from_millis;
    let mut w = Worker::new("w1", Config::new(s(3000)), s(0));
    w.handle(s(0), Input::CameraAdded { camera: "a".into() });
    w.poll(s(0));
    assert!(w.poll(s(1000)).contains(&Action::Claim {
        camera: "a".into(),
        over: None
    }));
    w
}

/// A claim answered only after a freeze counts from when it was sent, not from a second claim
/// sent meanwhile (which the late answer would be taken for).
#[test]
fn a_late_claim_answer_counts_from_its_claim() {
    let s = Duration::from_millis;
    let mut w = claiming_a();
    // The store takes the claim at once (the lease lapses at 4 s); the worker freezes
    // before the answer and, resuming at 4.5 s, polls before it reads the answer.
    w.poll(s(4500));
    w.handle(
        s(4500),
        Input::Claimed {
            camera: "a".into(),
            result: Ok(1),
        },
    );
    assert!(
        !w.may_publish("a", 1, s(4500)),
        "trusts a lease the store let lapse"
    );
}

/// A renewal answered only after a freeze counts from when it was sent, not from a second
/// renewal sent meanwhile.
#[test]
fn a_late_renewal_answer_counts_from_its_renewal() {
    let s = Duration::from_millis;
    let mut w = claiming_a();
    w.handle(
        s(1100),
        Input::Claimed {
            camera: "a".into(),
            result: Ok(1),
        },
    );
    assert!(w.poll(s(2000)).contains(&Action::Renew {
        camera: "a".into(),
        revision: 1
    }));
    // The store takes the renewal at once (the lease now lapses at 5 s); the worker freezes
    // before the answer and, resuming at 3.05 s, polls before it reads the answer.
    w.poll(s(3050));
    w.handle(
        s(3050),
        Input::Renewed {
            camera: "a".into(),
            result: Ok(2),
        },
    );
    // Trusted for 0.7 · 3 s from 2 s, the send of the last write that succeeded.
    assert!(w.may_publish("a", 1, s(4000)));
    assert!(
        !w.may_publish("a", 1, s(4200)),
        "trusts the lease past 0.7 ttl after its last write"
    );
}
