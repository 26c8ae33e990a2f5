//! The snapshot: plain data that one `/metrics` answer is made from.
//!
//! A [`Snapshot`] is immutable once published; the collectors build a new one
//! and swap it in whole. The `from_*` functions here turn wire types into
//! snapshot data and are pure: no I/O, no clock except what they are given.

use crate::docker::{types, ApiVersion};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Everything `/metrics` shows, as of one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// When the last periodic collection cycle completed (Unix seconds; 0
    /// before the first). Event-driven updates between cycles leave it alone,
    /// so its age tells whether the periodic loop is alive.
    pub collected_at: f64,
    /// Whether the last call to the engine succeeded.
    pub engine_up: bool,
    pub engine: Option<Arc<Engine>>,
    /// Every known container, sorted by name.
    pub containers: Vec<ContainerEntry>,
    pub events: Arc<EventCounts>,
    pub collectors: BTreeMap<&'static str, CollectorStatus>,
    pub event_stream_reconnects: u64,
    /// Containers whose cgroup could not be read, by reason; `None` on the
    /// engine stats source.
    pub stats_cgroup_misses: Option<BTreeMap<&'static str, u64>>,
    /// Whether the event stream is connected now (else it is reconnecting).
    pub events_connected: bool,
    /// The last answer of the `disk` collector, kept between its runs.
    pub disk: Option<Arc<Disk>>,
    /// Services and nodes, on a Swarm manager.
    pub swarm: Option<Arc<Swarm>>,
}

/// A container and its latest stats sample, if it has one.
#[derive(Debug, Clone)]
pub struct ContainerEntry {
    pub container: Arc<Container>,
    pub stats: Option<Arc<Stats>>,
}

/// Which engine serves the API: Docker, or Podman's Docker-compatible service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EngineKind {
    #[default]
    Docker,
    Podman,
}

impl EngineKind {
    /// Podman names itself in `/version`'s `Components` (`Podman Engine`).
    pub fn from_version(version: &types::Version) -> Self {
        let podman = version
            .components
            .iter()
            .flatten()
            .any(|c| c.name.as_deref() == Some("Podman Engine"));
        if podman {
            EngineKind::Podman
        } else {
            EngineKind::Docker
        }
    }

    /// The `engine` label.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }

    /// The name people know it by, for the overview page.
    pub fn display_name(self) -> &'static str {
        match self {
            EngineKind::Docker => "Docker",
            EngineKind::Podman => "Podman",
        }
    }
}

/// What `/version` and `/info` say about the engine and its machine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Engine {
    /// Docker or Podman (from `/version`).
    pub kind: EngineKind,
    pub version: String,
    /// The negotiated (or pinned) API version.
    pub api_version: ApiVersion,
    /// `api_version` as the label text (labels borrow from the snapshot).
    pub api_version_label: String,
    pub os: String,
    pub os_type: String,
    pub architecture: String,
    pub kernel_version: String,
    pub storage_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    pub cpus: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub containers_running: Option<u64>,
    pub containers_paused: Option<u64>,
    pub containers_stopped: Option<u64>,
    pub images: Option<u64>,
    /// `Swarm.ControlAvailable`: a Swarm manager, whose services can be read.
    pub swarm_manager: bool,
}

impl Engine {
    pub fn from_wire(
        version: &types::Version,
        info: &types::Info,
        api_version: ApiVersion,
    ) -> Self {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Engine {
            kind: EngineKind::from_version(version),
            version: info
                .server_version
                .clone()
                .or_else(|| version.version.clone())
                .unwrap_or_default(),
            api_version,
            api_version_label: api_version.to_string(),
            os: info
                .operating_system
                .clone()
                .or_else(|| version.os.clone())
                .unwrap_or_default(),
            os_type: info
                .os_type
                .clone()
                .or_else(|| version.os.clone())
                .unwrap_or_default(),
            architecture: info
                .architecture
                .clone()
                .or_else(|| version.arch.clone())
                .unwrap_or_default(),
            kernel_version: info
                .kernel_version
                .clone()
                .or_else(|| version.kernel_version.clone())
                .unwrap_or_default(),
            storage_driver: text(&info.driver),
            cgroup_driver: text(&info.cgroup_driver),
            cgroup_version: text(&info.cgroup_version),
            cpus: info.ncpu,
            memory_bytes: info.mem_total,
            containers_running: info.containers_running,
            containers_paused: info.containers_paused,
            containers_stopped: info.containers_stopped,
            images: info.images,
            swarm_manager: info
                .swarm
                .as_ref()
                .and_then(|s| s.control_available)
                .unwrap_or(false),
        }
    }
}

/// The kinds of data `GET /system/df` sizes, as `docker system df` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskType {
    Images,
    Containers,
    Volumes,
    BuildCache,
}

impl DiskType {
    pub const ALL: [DiskType; 4] = [
        DiskType::Images,
        DiskType::Containers,
        DiskType::Volumes,
        DiskType::BuildCache,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DiskType::Images => "images",
            DiskType::Containers => "containers",
            DiskType::Volumes => "volumes",
            DiskType::BuildCache => "build_cache",
        }
    }
}

/// Bytes used and reclaimable for one [`DiskType`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    pub usage: u64,
    pub reclaimable: u64,
}

/// A container's sizes from `GET /system/df`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerDisk {
    /// The writable layer (`SizeRw`; the engine leaves it out when 0).
    pub size_rw: u64,
    /// The writable layer plus the image (`SizeRootFs`), when reported.
    pub size_root_fs: Option<u64>,
}

/// What one `GET /system/df` answer says, as `docker system df` computes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Disk {
    /// In [`DiskType::ALL`] order.
    pub by_type: [DiskUsage; 4],
    /// Named volumes whose size the engine reports (not `-1`), sorted by name.
    pub volumes: Vec<(String, u64)>,
    /// Container id → its sizes.
    pub containers: BTreeMap<String, ContainerDisk>,
    /// Unix time of the answer.
    pub collected_at: f64,
}

impl Disk {
    /// Sizes and reclaimable space the way the docker CLI's `system df` does:
    /// images: `LayersSize`, less the unshared part of images in use;
    /// containers: writable layers, reclaimable when not running, paused or
    /// restarting; volumes: sizes, reclaimable when no container refers to
    /// them; build cache: unshared records, reclaimable when not in use.
    pub fn from_wire(df: &types::SystemDf, collected_at: f64) -> Disk {
        let size = |n: Option<i64>| n.filter(|n| *n > 0).map_or(0, |n| n as u64);
        let images = df.images.as_deref().unwrap_or_default();
        // Podman sends `LayersSize` 0: then the images' unshared sizes, with
        // the largest shared size once (the CLI's total when one base is shared).
        let image_total = match size(df.layers_size) {
            0 => {
                let shared = |i: &types::DfImage| i.shared_size.filter(|n| *n > 0).unwrap_or(0);
                let unshared = images
                    .iter()
                    .map(|i| size(i.size.or(i.virtual_size)).saturating_sub(shared(i) as u64))
                    .fold(0, u64::saturating_add);
                let base = images.iter().map(shared).max().unwrap_or(0) as u64;
                unshared.saturating_add(base)
            }
            total => total,
        };
        let used: u64 = images
            .iter()
            .filter(|i| i.containers.unwrap_or(0) > 0)
            .filter_map(|i| {
                let total = i.size.or(i.virtual_size).filter(|n| *n >= 0)?;
                let shared = i.shared_size.filter(|n| *n >= 0)?;
                Some(total.saturating_sub(shared).max(0) as u64)
            })
            .fold(0, u64::saturating_add);

        let mut containers = BTreeMap::new();
        let mut rw = DiskUsage::default();
        for c in df.containers.as_deref().unwrap_or_default() {
            let size_rw = size(c.size_rw);
            rw.usage = rw.usage.saturating_add(size_rw);
            let active = c
                .state
                .as_deref()
                .and_then(State::parse)
                .is_some_and(State::is_live);
            if !active {
                rw.reclaimable = rw.reclaimable.saturating_add(size_rw);
            }
            let size_root_fs = c.size_root_fs.filter(|n| *n >= 0).map(|n| n as u64);
            containers.insert(
                c.id.clone(),
                ContainerDisk {
                    size_rw,
                    size_root_fs,
                },
            );
        }

        let mut volumes = Vec::new();
        let mut vol = DiskUsage::default();
        for v in df.volumes.as_deref().unwrap_or_default() {
            let Some(usage) = &v.usage_data else { continue };
            let Some(bytes) = usage.size.filter(|n| *n >= 0).map(|n| n as u64) else {
                continue;
            };
            vol.usage = vol.usage.saturating_add(bytes);
            if usage.ref_count == Some(0) {
                vol.reclaimable = vol.reclaimable.saturating_add(bytes);
            }
            if let Some(name) = &v.name {
                volumes.push((name.clone(), bytes));
            }
        }
        volumes.sort();

        let mut cache = DiskUsage::default();
        for b in df.build_cache.as_deref().unwrap_or_default() {
            if b.shared == Some(true) {
                continue;
            }
            let bytes = size(b.size);
            cache.usage = cache.usage.saturating_add(bytes);
            if b.in_use != Some(true) {
                cache.reclaimable = cache.reclaimable.saturating_add(bytes);
            }
        }

        Disk {
            by_type: [
                DiskUsage {
                    usage: image_total,
                    reclaimable: image_total.saturating_sub(used),
                },
                rw,
                vol,
                cache,
            ],
            volumes,
            containers,
            collected_at,
        }
    }
}

/// The rolling-update states of a service (`UpdateStatus.State`).
pub const UPDATE_STATES: [&str; 6] = [
    "updating",
    "paused",
    "completed",
    "rollback_started",
    "rollback_paused",
    "rollback_completed",
];

/// A Swarm service and its replicas.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SwarmService {
    pub name: String,
    /// `replicated`, `global`, `replicated-job` or `global-job`.
    pub mode: &'static str,
    /// The image reference, without a `@sha256:` digest.
    pub image: String,
    pub desired: u64,
    pub running: u64,
    /// One of [`UPDATE_STATES`], when an update has happened.
    pub update_state: Option<String>,
}

/// A Swarm node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SwarmNode {
    pub id: String,
    pub hostname: String,
    pub role: String,
    pub availability: String,
    pub state: String,
}

/// What a Swarm manager says about its services and nodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Swarm {
    /// Sorted by name.
    pub services: Vec<SwarmService>,
    /// Sorted by id.
    pub nodes: Vec<SwarmNode>,
}

impl Swarm {
    /// Replicas desired: the engine's `ServiceStatus.DesiredTasks` when it
    /// gives one (API 1.41+); else a replicated service's `Replicas`, and for
    /// a global one the nodes that are ready, active and match its placement
    /// constraints. Running: tasks whose desired and actual state are running.
    pub fn from_wire(
        services: &[types::Service],
        tasks: &[types::Task],
        nodes: &[types::Node],
    ) -> Swarm {
        let text = |v: Option<&String>| v.cloned().unwrap_or_default();
        let mut running: BTreeMap<&str, u64> = BTreeMap::new();
        for t in tasks {
            let state = t.status.as_ref().and_then(|s| s.state.as_deref());
            if t.desired_state.as_deref() == Some("running") && state == Some("running") {
                if let Some(id) = &t.service_id {
                    *running.entry(id.as_str()).or_default() += 1;
                }
            }
        }
        let mut out: Vec<SwarmService> = services
            .iter()
            .map(|s| {
                let spec = s.spec.clone().unwrap_or_default();
                let mode = spec.mode.unwrap_or_default();
                let template = spec.task_template.unwrap_or_default();
                let constraints = template
                    .placement
                    .and_then(|p| p.constraints)
                    .unwrap_or_default();
                let (mode_name, spec_desired) = if let Some(r) = &mode.replicated {
                    ("replicated", r.replicas.unwrap_or(1))
                } else if mode.global.is_some() {
                    let eligible = nodes
                        .iter()
                        .filter(|n| {
                            node_eligible(n) && constraints.iter().all(|c| constraint_holds(n, c))
                        })
                        .count();
                    ("global", eligible as u64)
                } else if mode.replicated_job.is_some() {
                    ("replicated-job", 0)
                } else if mode.global_job.is_some() {
                    ("global-job", 0)
                } else {
                    ("replicated", 0)
                };
                let image = text(template.container_spec.and_then(|c| c.image).as_ref());
                let image = image.split('@').next().unwrap_or_default().to_string();
                SwarmService {
                    name: text(spec.name.as_ref()),
                    mode: mode_name,
                    image,
                    desired: s
                        .service_status
                        .as_ref()
                        .and_then(|st| st.desired_tasks)
                        .unwrap_or(spec_desired),
                    running: running.get(s.id.as_str()).copied().unwrap_or(0),
                    update_state: s.update_status.as_ref().and_then(|u| u.state.clone()),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        let mut nodes: Vec<SwarmNode> = nodes
            .iter()
            .map(|n| {
                let spec = n.spec.as_ref();
                SwarmNode {
                    id: n.id.clone(),
                    hostname: text(n.description.as_ref().and_then(|d| d.hostname.as_ref())),
                    role: text(spec.and_then(|s| s.role.as_ref())),
                    availability: text(spec.and_then(|s| s.availability.as_ref())),
                    state: text(n.status.as_ref().and_then(|s| s.state.as_ref())),
                }
            })
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Swarm {
            services: out,
            nodes,
        }
    }
}

/// A node a global service runs on: ready and active.
fn node_eligible(n: &types::Node) -> bool {
    let ready = n.status.as_ref().and_then(|s| s.state.as_deref()) == Some("ready");
    let active = n.spec.as_ref().and_then(|s| s.availability.as_deref()) == Some("active");
    ready && active
}

/// A placement constraint (`node.role == manager`, `node.labels.x != y`…)
/// on what `/nodes` tells; one about something it does not tell (engine
/// labels) is taken to hold.
fn constraint_holds(n: &types::Node, constraint: &str) -> bool {
    let (key, want, equal) = match constraint.split_once("!=") {
        Some((k, v)) => (k, v, false),
        None => match constraint.split_once("==") {
            Some((k, v)) => (k, v, true),
            None => return true,
        },
    };
    let (key, want) = (key.trim(), want.trim());
    let spec = n.spec.as_ref();
    let desc = n.description.as_ref();
    let platform = desc.and_then(|d| d.platform.as_ref());
    let have: Option<&str> = match key {
        "node.id" => Some(n.id.as_str()),
        "node.hostname" => desc.and_then(|d| d.hostname.as_deref()),
        "node.role" => spec.and_then(|s| s.role.as_deref()),
        "node.platform.os" => platform.and_then(|p| p.os.as_deref()),
        "node.platform.arch" => platform.and_then(|p| p.architecture.as_deref()),
        _ => match key.strip_prefix("node.labels.") {
            Some(label) => spec
                .and_then(|s| s.labels.as_ref())
                .and_then(|l| l.get(label))
                .map(String::as_str),
            None => return true,
        },
    };
    // Docker compares case-insensitively, except label values.
    let same = have.is_some_and(|h| {
        if key.starts_with("node.labels.") {
            h == want
        } else {
            h.eq_ignore_ascii_case(want)
        }
    });
    same == equal
}

/// cAdvisor's `id` label: the container's cgroup path under the engine's
/// cgroup driver (`cgroupfs` when unknown). The one place that knows the
/// layouts: Docker puts containers in `/docker/` (cgroupfs) or
/// `system.slice` (systemd); rootful Podman in `/libpod_parent/` (cgroupfs) or
/// `machine.slice` (systemd), the same under cgroup v1 and v2 (checked against
/// `/proc/<pid>/cgroup` for Docker 20.10 and Podman 4.3 with cgroupfs here).
pub fn cgroup_path(engine: EngineKind, cgroup_driver: &str, id: &str) -> String {
    match (engine, cgroup_driver == "systemd") {
        (EngineKind::Docker, true) => format!("/system.slice/docker-{id}.scope"),
        (EngineKind::Docker, false) => format!("/docker/{id}"),
        (EngineKind::Podman, true) => format!("/machine.slice/libpod-{id}.scope"),
        (EngineKind::Podman, false) => format!("/libpod_parent/libpod-{id}"),
    }
}

/// The states a container can be in, as the engine names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Created,
        State::Running,
        State::Paused,
        State::Restarting,
        State::Removing,
        State::Exited,
        State::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Removing => "removing",
            State::Exited => "exited",
            State::Dead => "dead",
        }
    }

    /// The engine's name of a state. Podman's compatible API lets some of
    /// its own through (seen: `stopping`, in list and inspect, while a stop
    /// waits for its timeout); each is taken as the Docker state it is.
    pub fn parse(s: &str) -> Option<State> {
        let s = match s {
            "stopping" => "running",
            "stopped" => "exited",
            "configured" | "initialized" => "created",
            s => s,
        };
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Has a cgroup, so stats and the `container_*` resource families.
    pub fn is_live(self) -> bool {
        matches!(self, State::Running | State::Paused | State::Restarting)
    }
}

/// A container's health-check status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub const ALL: [Health; 4] = [
        Health::None,
        Health::Starting,
        Health::Healthy,
        Health::Unhealthy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Health::None => "none",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// Limits from `HostConfig`, as cAdvisor reports them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    /// CFS quota in microseconds; `None` when no CPU limit is set.
    pub cpu_quota: Option<i64>,
    pub cpu_period: i64,
    pub cpu_shares: i64,
    /// 0 when unlimited.
    pub memory_limit: i64,
    pub memory_reservation: i64,
    /// 0 when unlimited.
    pub memory_swap: i64,
}

/// Engine numbers that did not fit: each is saturated where it is computed and
/// counted here, and the collector adds the count to
/// `docker_exporter_collector_errors_total` (a wrong number, not a failed build).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Saturated(pub u64);

impl Saturated {
    /// `a × b`, or the saturated product (counted) when it does not fit.
    fn mul(&mut self, a: i64, b: i64) -> i64 {
        a.checked_mul(b).unwrap_or_else(|| {
            self.0 += 1;
            a.saturating_mul(b)
        })
    }

    /// `a + b`, or `u64::MAX` (counted) when it does not fit.
    fn add(&mut self, a: u64, b: u64) -> u64 {
        a.checked_add(b).unwrap_or_else(|| {
            self.0 += 1;
            u64::MAX
        })
    }
}

const DEFAULT_CPU_PERIOD: i64 = 100_000;
const DEFAULT_CPU_SHARES: i64 = 1024;

impl Spec {
    pub fn from_wire(h: &types::HostConfig, saturated: &mut Saturated) -> Self {
        let period = h
            .cpu_period
            .filter(|p| *p > 0)
            .unwrap_or(DEFAULT_CPU_PERIOD);
        let quota = match (h.cpu_quota, h.nano_cpus) {
            (Some(q), _) if q > 0 => Some(q),
            (_, Some(n)) if n > 0 => Some(saturated.mul(n, period) / 1_000_000_000),
            _ => None,
        };
        Spec {
            cpu_quota: quota,
            cpu_period: period,
            cpu_shares: h
                .cpu_shares
                .filter(|s| *s > 0)
                .unwrap_or(DEFAULT_CPU_SHARES),
            memory_limit: h.memory.unwrap_or(0).max(0),
            memory_reservation: h.memory_reservation.unwrap_or(0).max(0),
            memory_swap: h.memory_swap.unwrap_or(0).max(0),
        }
    }
}

/// One container as inspect describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub id: String,
    /// cAdvisor's `id` label, see [`cgroup_path`].
    pub cgroup_path: String,
    pub name: String,
    /// `Config.Image`: the reference it was created from.
    pub image: String,
    pub image_id: String,
    /// Allow-listed Docker labels as `(container_label_<key>, value)`, sorted.
    pub labels: Vec<(String, String)>,
    pub state: State,
    pub health: Health,
    pub restart_count: u64,
    pub exit_code: i64,
    pub oom_killed: bool,
    pub created: Option<f64>,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub spec: Spec,
    /// The init process's pid on the engine's host, while it runs (the cgroup
    /// stats source finds the container's cgroup and network through it).
    pub pid: Option<u32>,
    /// `HostConfig.NetworkMode` is `host`: its network counters are the host's,
    /// so no source reports them.
    pub host_network: bool,
}

/// Why an inspect body could not become a [`Container`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BuildError {
    #[error("container {id:?} has an unknown state {state:?}")]
    UnknownState { id: String, state: String },
    #[error("inspect answer without an id")]
    NoId,
}

impl Container {
    /// Builds the snapshot view of an inspect body, keeping only allow-listed
    /// labels; numbers that do not fit are saturated and counted in `saturated`.
    pub fn from_inspect(
        i: &types::Inspect,
        label_allowlist: &[String],
        engine: EngineKind,
        cgroup_driver: &str,
        saturated: &mut Saturated,
    ) -> Result<Self, BuildError> {
        if i.id.is_empty() {
            return Err(BuildError::NoId);
        }
        let st = i.state.clone().unwrap_or_default();
        let status = st.status.as_deref().unwrap_or("");
        let state = State::parse(status).ok_or_else(|| BuildError::UnknownState {
            id: i.id.clone(),
            state: status.to_string(),
        })?;
        let health = match st.health.as_ref().and_then(|h| h.status.as_deref()) {
            Some("starting") => Health::Starting,
            Some("healthy") => Health::Healthy,
            Some("unhealthy") => Health::Unhealthy,
            _ => Health::None,
        };
        let config = i.config.clone().unwrap_or_default();
        let mut labels: Vec<(String, String)> = config
            .labels
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| label_allowlist.iter().any(|a| a == k))
            .map(|(k, v)| (label_name(&k), v))
            .collect();
        labels.sort();
        labels.dedup_by(|a, b| a.0 == b.0);
        Ok(Container {
            id: i.id.clone(),
            cgroup_path: cgroup_path(engine, cgroup_driver, &i.id),
            name: {
                // Docker puts one `/` before the name.
                let name = i.name.as_deref().unwrap_or("");
                name.strip_prefix('/').unwrap_or(name).to_string()
            },
            image: config.image.unwrap_or_default(),
            image_id: i.image.clone().unwrap_or_default(),
            labels,
            state,
            health,
            restart_count: i.restart_count.unwrap_or(0),
            exit_code: st.exit_code.unwrap_or(0),
            oom_killed: st.oom_killed.unwrap_or(false),
            created: i.created.as_deref().and_then(unix_time),
            started_at: st.started_at.as_deref().and_then(unix_time),
            finished_at: st.finished_at.as_deref().and_then(unix_time),
            spec: Spec::from_wire(&i.host_config.clone().unwrap_or_default(), saturated),
            pid: st
                .pid
                .and_then(|p| u32::try_from(p).ok())
                .filter(|p| *p > 0),
            host_network: i
                .host_config
                .as_ref()
                .and_then(|h| h.network_mode.as_deref())
                == Some("host"),
        })
    }
}

/// `container_label_<key>` with the key sanitised to `[a-zA-Z0-9_]`.
pub fn label_name(key: &str) -> String {
    let mut s = String::with_capacity(16 + key.len());
    s.push_str("container_label_");
    s.extend(
        key.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
    );
    s
}

/// Parses the engine's RFC 3339 times; the zero time (`0001-01-01…`) and
/// anything unparsable are `None`.
pub fn unix_time(s: &str) -> Option<f64> {
    let t = humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok()?;
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    if d.is_zero() {
        return None;
    }
    Some(d.as_secs_f64())
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// One stats sample, mapped to cAdvisor's quantities. A field the engine did
/// not report is `None` (an absent series), never 0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// When the engine read the sample (Unix seconds).
    pub read_at: f64,
    pub cpu_total_ns: Option<u64>,
    pub cpu_user_ns: Option<u64>,
    pub cpu_system_ns: Option<u64>,
    pub throttling: Option<Throttling>,
    pub memory: Option<Memory>,
    pub networks: Vec<(String, Network)>,
    pub blkio: Vec<BlockDevice>,
    pub pids_current: Option<u64>,
    /// 0 when unlimited.
    pub pids_limit: Option<u64>,
    /// Processes in the cgroup (`cgroup.procs`); the cgroup source only.
    pub processes: Option<u64>,
    /// The counters of the sample this one replaced, for the overview page's
    /// rates; set by the stats collector (`None` for a container's first sample).
    pub previous: Option<Counters>,
}

/// The counters of one sample that rates are made from: keeping
/// the previous sample costs 40 bytes per container (`Option<Counters>`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    /// When the engine read the sample (Unix seconds).
    pub read_at: f64,
    pub cpu_total_ns: Option<u64>,
    /// Summed over the container's interfaces.
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// Per-second rates between two samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// CPU time per second (1.0 = one core busy).
    pub cpu_cores: Option<f64>,
    pub rx_bytes_per_second: f64,
    pub tx_bytes_per_second: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    pub usage: u64,
    pub working_set: Option<u64>,
    pub rss: Option<u64>,
    pub cache: Option<u64>,
    pub mapped_file: Option<u64>,
    pub swap: Option<u64>,
    pub max_usage: Option<u64>,
    pub failcnt: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Network {
    pub rx_bytes: Option<u64>,
    pub rx_packets: Option<u64>,
    pub rx_dropped: Option<u64>,
    pub rx_errors: Option<u64>,
    pub tx_bytes: Option<u64>,
    pub tx_packets: Option<u64>,
    pub tx_dropped: Option<u64>,
    pub tx_errors: Option<u64>,
}

/// Block IO of one device, `major:minor`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockDevice {
    pub device: String,
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
    pub reads: Option<u64>,
    pub writes: Option<u64>,
}

impl Stats {
    /// This sample's counters (see [`Counters`]).
    pub fn counters(&self) -> Counters {
        let sum = |f: fn(&Network) -> Option<u64>| {
            self.networks
                .iter()
                .fold(0u64, |a, (_, n)| a.saturating_add(f(n).unwrap_or(0)))
        };
        Counters {
            read_at: self.read_at,
            cpu_total_ns: self.cpu_total_ns,
            rx_bytes: sum(|n| n.rx_bytes),
            tx_bytes: sum(|n| n.tx_bytes),
        }
    }

    /// Rates from the previous sample to this one; `None` without a previous
    /// sample or when no time passed. A counter that went back (a restart)
    /// gives no CPU rate and a zero network rate rather than a negative one.
    pub fn rates(&self) -> Option<Rates> {
        let prev = self.previous?;
        let now = self.counters();
        let seconds = now.read_at - prev.read_at;
        if seconds <= 0.0 {
            return None;
        }
        let per_second = |a: u64, b: u64| b.saturating_sub(a) as f64 / seconds;
        Some(Rates {
            cpu_cores: match (prev.cpu_total_ns, now.cpu_total_ns) {
                (Some(a), Some(b)) if b >= a => Some((b - a) as f64 / 1e9 / seconds),
                _ => None,
            },
            rx_bytes_per_second: per_second(prev.rx_bytes, now.rx_bytes),
            tx_bytes_per_second: per_second(prev.tx_bytes, now.tx_bytes),
        })
    }

    /// `None` for the answer a stopped container gets (zero `read` time);
    /// sums that do not fit are saturated and counted in `saturated`. Docker
    /// leaves out a zero pids limit and failcnt (`omitempty`: missing is 0);
    /// Podman never sends them, so there missing is unknown (no series).
    pub fn from_wire(
        s: &types::Stats,
        engine: EngineKind,
        saturated: &mut Saturated,
    ) -> Option<Self> {
        let omitted_is_zero = engine == EngineKind::Docker;
        let read_at = s.read.as_deref().and_then(unix_time)?;
        let usage = s.cpu_stats.as_ref().and_then(|c| c.cpu_usage.as_ref());
        let throttling = s
            .cpu_stats
            .as_ref()
            .and_then(|c| c.throttling_data.as_ref())
            .map(|t| Throttling {
                periods: t.periods.unwrap_or(0),
                throttled_periods: t.throttled_periods.unwrap_or(0),
                throttled_ns: t.throttled_time.unwrap_or(0),
            });
        Some(Stats {
            read_at,
            cpu_total_ns: usage.and_then(|u| u.total_usage),
            cpu_user_ns: usage.and_then(|u| u.usage_in_usermode),
            cpu_system_ns: usage.and_then(|u| u.usage_in_kernelmode),
            throttling,
            memory: s
                .memory_stats
                .as_ref()
                .and_then(|m| Memory::from_wire(m, omitted_is_zero)),
            networks: s
                .networks
                .iter()
                .flatten()
                .map(|(name, n)| {
                    (
                        name.clone(),
                        Network {
                            rx_bytes: n.rx_bytes,
                            rx_packets: n.rx_packets,
                            rx_dropped: n.rx_dropped,
                            rx_errors: n.rx_errors,
                            tx_bytes: n.tx_bytes,
                            tx_packets: n.tx_packets,
                            tx_dropped: n.tx_dropped,
                            tx_errors: n.tx_errors,
                        },
                    )
                })
                .collect(),
            blkio: s
                .blkio_stats
                .as_ref()
                .map(|b| block_devices(b, saturated))
                .unwrap_or_default(),
            pids_current: s.pids_stats.as_ref().and_then(|p| p.current),
            pids_limit: s.pids_stats.as_ref().and_then(|p| match p.limit {
                Some(l) => Some(if l < i64::MAX as u64 { l } else { 0 }),
                None => omitted_is_zero.then_some(0),
            }),
            processes: None,
            previous: None,
        })
    }
}

impl Memory {
    fn from_wire(m: &types::MemoryStats, omitted_is_zero: bool) -> Option<Self> {
        let usage = m.usage?;
        let s = m.stats.clone().unwrap_or_default();
        // cgroup v1 names first (`total_*`, hierarchical), then cgroup v2's.
        let inactive_file = s.total_inactive_file.or(s.inactive_file);
        Some(Memory {
            usage,
            working_set: inactive_file
                .map(|i| usage.saturating_sub(i))
                .or(Some(usage)),
            rss: s.total_rss.or(s.anon),
            cache: s.total_cache.or(s.file),
            mapped_file: s.total_mapped_file.or(s.file_mapped),
            swap: s.total_swap,
            max_usage: m.max_usage,
            // Docker's `failcnt` is `omitempty`: missing means 0.
            failcnt: m.failcnt.or(omitted_is_zero.then_some(0)),
        })
    }
}

/// Per-device sums of the blkio entries (the engine lists one per cgroup level
/// and operation); a sum that does not fit saturates.
fn block_devices(b: &types::BlkioStats, saturated: &mut Saturated) -> Vec<BlockDevice> {
    let mut devices: BTreeMap<(u64, u64), BlockDevice> = BTreeMap::new();
    let mut add = |entries: &Option<Vec<types::BlkioEntry>>, bytes: bool| {
        for e in entries.iter().flatten() {
            let d = devices
                .entry((e.major, e.minor))
                .or_insert_with(|| BlockDevice {
                    device: format!("{}:{}", e.major, e.minor),
                    ..Default::default()
                });
            let slot = match (e.op.to_ascii_lowercase().as_str(), bytes) {
                ("read", true) => &mut d.read_bytes,
                ("write", true) => &mut d.write_bytes,
                ("read", false) => &mut d.reads,
                ("write", false) => &mut d.writes,
                _ => continue,
            };
            *slot = Some(saturated.add(slot.unwrap_or(0), e.value));
        }
    };
    add(&b.io_service_bytes_recursive, true);
    add(&b.io_serviced_recursive, false);
    devices.into_values().collect()
}

/// The health of one collector, for the exporter's own families.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectorStatus {
    pub duration_seconds: f64,
    pub success: bool,
    pub errors_total: u64,
}

/// Event counters; they only grow while the process lives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventCounts {
    /// `docker_events_total` by `(type, action)`.
    pub by_type: BTreeMap<(String, String), u64>,
    /// Per container name: `docker_container_events_total` by action, and OOM kills.
    pub by_container: BTreeMap<String, ContainerEvents>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerEvents {
    pub actions: BTreeMap<&'static str, u64>,
    pub oom: u64,
    /// The container as last seen, for the labels of `container_oom_events_total`
    /// after it is gone.
    pub last_known: Option<Arc<Container>>,
    /// Since when no container has this name (Unix seconds); the counters are
    /// dropped a while after.
    pub gone_since: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_zero_time_is_none() {
        assert_eq!(unix_time("0001-01-01T00:00:00Z"), None);
        let t = unix_time("2026-11-27T21:47:16.014222859Z").unwrap();
        assert!((t - 1_795_816_036.014_223).abs() < 1e-5, "{t}");
        assert_eq!(unix_time("garbage"), None);
    }

    #[test]
    fn cgroup_paths_by_engine_and_driver() {
        let id = "9b5385a6bd35";
        let path = |engine, driver| cgroup_path(engine, driver, id);
        assert_eq!(path(EngineKind::Docker, "cgroupfs"), "/docker/9b5385a6bd35");
        assert_eq!(path(EngineKind::Docker, ""), "/docker/9b5385a6bd35");
        assert_eq!(
            path(EngineKind::Docker, "systemd"),
            "/system.slice/docker-9b5385a6bd35.scope"
        );
        assert_eq!(
            path(EngineKind::Podman, "cgroupfs"),
            "/libpod_parent/libpod-9b5385a6bd35"
        );
        assert_eq!(
            path(EngineKind::Podman, "systemd"),
            "/machine.slice/libpod-9b5385a6bd35.scope"
        );
    }

    #[test]
    fn podman_states_are_docker_states() {
        assert_eq!(State::parse("stopping"), Some(State::Running));
        assert_eq!(State::parse("stopped"), Some(State::Exited));
        assert_eq!(State::parse("initialized"), Some(State::Created));
        assert_eq!(State::parse("configured"), Some(State::Created));
        assert_eq!(State::parse("paused"), Some(State::Paused));
        assert_eq!(State::parse("unknown"), None);
    }

    #[test]
    fn podman_is_told_by_its_version_component() {
        let version = |json| serde_json::from_str::<types::Version>(json).unwrap();
        let podman = version(
            r#"{"Components": [{"Name": "Podman Engine", "Version": "4.3.1"}, {"Name": "Conmon"}]}"#,
        );
        assert_eq!(EngineKind::from_version(&podman), EngineKind::Podman);
        let docker = version(r#"{"Components": [{"Name": "Engine"}, {"Name": "containerd"}]}"#);
        assert_eq!(EngineKind::from_version(&docker), EngineKind::Docker);
        assert_eq!(EngineKind::from_version(&version("{}")), EngineKind::Docker);
    }

    #[test]
    fn what_podman_leaves_out_of_stats_is_unknown_not_zero() {
        let wire: types::Stats = serde_json::from_str(
            r#"{"read": "2026-12-07T12:46:16.483025522Z", "pids_stats": {"current": 1},
                "memory_stats": {"usage": 327680, "limit": 25276182528}}"#,
        )
        .unwrap();
        let mut saturated = Saturated::default();
        let docker = Stats::from_wire(&wire, EngineKind::Docker, &mut saturated).unwrap();
        assert_eq!(docker.pids_limit, Some(0), "Docker: omitted is unlimited");
        assert_eq!(docker.memory.unwrap().failcnt, Some(0));
        let podman = Stats::from_wire(&wire, EngineKind::Podman, &mut saturated).unwrap();
        assert_eq!(podman.pids_limit, None);
        let memory = podman.memory.unwrap();
        assert_eq!((memory.usage, memory.failcnt), (327680, None));
    }

    #[test]
    fn label_names_are_sanitised() {
        assert_eq!(
            label_name("com.docker.compose.project"),
            "container_label_com_docker_compose_project"
        );
        assert_eq!(label_name("a-b/c"), "container_label_a_b_c");
    }

    #[test]
    fn spec_defaults_and_nano_cpus() {
        let mut saturated = Saturated::default();
        let s = Spec::from_wire(
            &types::HostConfig {
                nano_cpus: Some(500_000_000),
                ..Default::default()
            },
            &mut saturated,
        );
        assert_eq!(s.cpu_quota, Some(50_000));
        assert_eq!(s.cpu_period, 100_000);
        assert_eq!(s.cpu_shares, 1024);
        assert_eq!(s.memory_limit, 0);
        let s = Spec::from_wire(
            &types::HostConfig {
                memory_swap: Some(-1),
                ..Default::default()
            },
            &mut saturated,
        );
        assert_eq!(s.memory_swap, 0);
        assert_eq!(s.cpu_quota, None);
        assert_eq!(saturated, Saturated(0));
    }

    #[test]
    fn nano_cpus_times_period_saturates_and_is_counted() {
        let mut saturated = Saturated::default();
        let s = Spec::from_wire(
            &types::HostConfig {
                nano_cpus: Some(i64::MAX / 2),
                cpu_period: Some(1_000_000),
                ..Default::default()
            },
            &mut saturated,
        );
        assert_eq!(s.cpu_quota, Some(i64::MAX / 1_000_000_000));
        assert_eq!(saturated, Saturated(1));
    }

    #[test]
    fn device_sums_saturate_and_are_counted() {
        let entry = |op: &str, value| types::BlkioEntry {
            major: 8,
            minor: 0,
            op: op.into(),
            value,
        };
        let mut saturated = Saturated::default();
        let devices = block_devices(
            &types::BlkioStats {
                io_service_bytes_recursive: Some(vec![
                    entry("Read", u64::MAX - 1),
                    entry("Read", 5),
                    entry("Write", 7),
                    entry("Write", 8),
                ]),
                ..Default::default()
            },
            &mut saturated,
        );
        assert_eq!(devices[0].read_bytes, Some(u64::MAX));
        assert_eq!(devices[0].write_bytes, Some(15));
        assert_eq!(saturated, Saturated(1));
    }

    #[test]
    fn rates_between_two_samples() {
        let net = |rx, tx| Network {
            rx_bytes: Some(rx),
            tx_bytes: Some(tx),
            ..Default::default()
        };
        let first = Stats {
            read_at: 100.0,
            cpu_total_ns: Some(1_000_000_000),
            networks: vec![("eth0".into(), net(1000, 10)), ("eth1".into(), net(0, 0))],
            ..Default::default()
        };
        assert_eq!(first.rates(), None, "no previous sample");
        let second = Stats {
            read_at: 102.0,
            cpu_total_ns: Some(2_000_000_000),
            networks: vec![("eth0".into(), net(3000, 10)), ("eth1".into(), net(0, 400))],
            previous: Some(first.counters()),
            ..Default::default()
        };
        assert_eq!(
            second.rates(),
            Some(Rates {
                cpu_cores: Some(0.5),
                rx_bytes_per_second: 1000.0,
                tx_bytes_per_second: 200.0,
            })
        );
        let restarted = Stats {
            read_at: 104.0,
            cpu_total_ns: Some(5),
            previous: Some(second.counters()),
            ..Default::default()
        };
        let r = restarted.rates().unwrap();
        assert_eq!(r.cpu_cores, None, "a counter that went back has no rate");
        assert_eq!(r.rx_bytes_per_second, 0.0);
        let same_time = Stats {
            previous: Some(second.counters()),
            ..second.clone()
        };
        assert_eq!(same_time.rates(), None);
        assert_eq!(std::mem::size_of::<Option<Counters>>(), 40);
    }

    #[test]
    fn working_set_floors_at_zero() {
        let m = types::MemoryStats {
            usage: Some(100),
            stats: Some(types::MemoryStatKeys {
                total_inactive_file: Some(300),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(Memory::from_wire(&m, true).unwrap().working_set, Some(0));
    }

    #[test]
    fn cgroup_v2_memory_has_no_swap_or_max_usage() {
        let m = types::MemoryStats {
            usage: Some(1000),
            stats: Some(types::MemoryStatKeys {
                anon: Some(10),
                file: Some(20),
                file_mapped: Some(5),
                inactive_file: Some(15),
                ..Default::default()
            }),
            ..Default::default()
        };
        let m = Memory::from_wire(&m, true).unwrap();
        assert_eq!(m.rss, Some(10));
        assert_eq!(m.cache, Some(20));
        assert_eq!(m.mapped_file, Some(5));
        assert_eq!(m.working_set, Some(985));
        assert_eq!((m.swap, m.max_usage), (None, None));
        assert_eq!(m.failcnt, Some(0), "omitempty: missing is 0");
    }

    #[test]
    fn disk_usage_is_counted_as_docker_system_df_counts_it() {
        let df: types::SystemDf = serde_json::from_str(
            r#"{
                "LayersSize": 1000,
                "Images": [
                    {"Size": 600, "SharedSize": 100, "Containers": 1},
                    {"VirtualSize": 300, "SharedSize": 100, "Containers": 2},
                    {"Size": 400, "SharedSize": -1, "Containers": 1},
                    {"Size": 200, "SharedSize": 0, "Containers": 0}
                ],
                "Containers": [
                    {"Id": "a", "State": "running", "SizeRw": 10, "SizeRootFs": 610},
                    {"Id": "b", "State": "exited", "SizeRw": 20},
                    {"Id": "c", "State": "created"}
                ],
                "Volumes": [
                    {"Name": "used", "UsageData": {"Size": 7, "RefCount": 1}},
                    {"Name": "free", "UsageData": {"Size": 3, "RefCount": 0}},
                    {"Name": "unsized", "UsageData": {"Size": -1, "RefCount": -1}},
                    {"Name": "no-data"}
                ],
                "BuildCache": [
                    {"Size": 50, "InUse": false, "Shared": false},
                    {"Size": 40, "InUse": true, "Shared": false},
                    {"Size": 30, "InUse": false, "Shared": true}
                ]
            }"#,
        )
        .unwrap();
        let d = Disk::from_wire(&df, 5.0);
        let pairs: Vec<(u64, u64)> = d.by_type.iter().map(|u| (u.usage, u.reclaimable)).collect();
        // Images: 1000 less the unshared part of those in use (500 + 200; the
        // one without a shared size is skipped, like the CLI does).
        assert_eq!(pairs, [(1000, 300), (30, 20), (10, 3), (90, 50)]);
        assert_eq!(
            d.volumes,
            [("free".to_string(), 3), ("used".to_string(), 7)]
        );
        assert_eq!(
            d.containers["a"],
            ContainerDisk {
                size_rw: 10,
                size_root_fs: Some(610)
            }
        );
        assert_eq!(
            d.containers["c"],
            ContainerDisk::default(),
            "SizeRw left out: 0"
        );
        assert_eq!(d.collected_at, 5.0);
        // Podman: `LayersSize` 0, so the images' own sizes (shared once).
        let podman: types::SystemDf = serde_json::from_str(
            r#"{"LayersSize": 0, "Images": [
                {"Size": 2131669, "SharedSize": 0, "VirtualSize": 0, "Containers": 0},
                {"Size": 500, "SharedSize": 200, "Containers": 1},
                {"Size": 300, "SharedSize": 200, "Containers": 0}
            ]}"#,
        )
        .unwrap();
        let d = Disk::from_wire(&podman, 1.0);
        assert_eq!(d.by_type[0].usage, 2131669 + 300 + 100 + 200);
        assert_eq!(d.by_type[0].reclaimable, 2131669 + 300 + 100 + 200 - 300);
        // An answer with nothing in it is all zeros, not an error.
        let empty = Disk::from_wire(&types::SystemDf::default(), 1.0);
        assert_eq!(empty.by_type, [DiskUsage::default(); 4]);
    }

    #[test]
    fn swarm_replicas_desired_and_running() {
        let services: Vec<types::Service> = serde_json::from_str(
            r#"[
                {"ID": "s1", "Spec": {"Name": "web", "Mode": {"Replicated": {"Replicas": 3}},
                    "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1.25@sha256:abc"}}},
                 "UpdateStatus": {"State": "updating"}},
                {"ID": "s2", "Spec": {"Name": "agent", "Mode": {"Global": {}},
                    "TaskTemplate": {"ContainerSpec": {"Image": "agent:1"},
                        "Placement": {"Constraints": ["node.role==worker", "node.labels.zone != b"]}}}},
                {"ID": "s3", "Spec": {"Name": "told", "Mode": {"Global": {}}},
                 "ServiceStatus": {"RunningTasks": 1, "DesiredTasks": 7}}
            ]"#,
        )
        .unwrap();
        let tasks: Vec<types::Task> = serde_json::from_str(
            r#"[
                {"ServiceID": "s1", "DesiredState": "running", "Status": {"State": "running"}},
                {"ServiceID": "s1", "DesiredState": "running", "Status": {"State": "running"}},
                {"ServiceID": "s1", "DesiredState": "running", "Status": {"State": "preparing"}},
                {"ServiceID": "s1", "DesiredState": "shutdown", "Status": {"State": "running"}},
                {"ServiceID": "s2", "DesiredState": "running", "Status": {"State": "running"}}
            ]"#,
        )
        .unwrap();
        let nodes: Vec<types::Node> = serde_json::from_str(
            r#"[
                {"ID": "n1", "Spec": {"Role": "manager", "Availability": "active"},
                 "Description": {"Hostname": "m1"}, "Status": {"State": "ready"}},
                {"ID": "n2", "Spec": {"Role": "worker", "Availability": "active", "Labels": {"zone": "a"}},
                 "Description": {"Hostname": "w1"}, "Status": {"State": "ready"}},
                {"ID": "n3", "Spec": {"Role": "worker", "Availability": "active", "Labels": {"zone": "b"}},
                 "Description": {"Hostname": "w2"}, "Status": {"State": "ready"}},
                {"ID": "n4", "Spec": {"Role": "worker", "Availability": "drain"},
                 "Description": {"Hostname": "w3"}, "Status": {"State": "ready"}},
                {"ID": "n5", "Spec": {"Role": "worker", "Availability": "active"},
                 "Description": {"Hostname": "w4"}, "Status": {"State": "down"}}
            ]"#,
        )
        .unwrap();
        let sw = Swarm::from_wire(&services, &tasks, &nodes);
        let got: Vec<(&str, &str, &str, u64, u64)> = sw
            .services
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.mode,
                    s.image.as_str(),
                    s.desired,
                    s.running,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                // Only w1 is ready, active, a worker and not in zone b.
                ("agent", "global", "agent:1", 1, 1),
                // The engine's own count wins.
                ("told", "global", "", 7, 0),
                ("web", "replicated", "nginx:1.25", 3, 2),
            ]
        );
        assert_eq!(sw.services[2].update_state.as_deref(), Some("updating"));
        assert_eq!(sw.services[0].update_state, None);
        assert_eq!(sw.nodes.len(), 5);
        assert_eq!(
            (
                sw.nodes[3].hostname.as_str(),
                sw.nodes[3].availability.as_str()
            ),
            ("w3", "drain")
        );
    }
}
