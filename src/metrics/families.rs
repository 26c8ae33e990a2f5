//! Every family of the metric contract (`docs/metrics.md`), computed from one
//! snapshot. The order here is the order on `/metrics`. Families of the same
//! shape are rows of a table ([`Row`]) handed to [`table`].

use super::{Family, Labels, Value};
use crate::snapshot::{
    BlockDevice, Container, ContainerDisk, ContainerEntry, Disk, DiskType, Health, Network,
    Snapshot, State, Stats, UPDATE_STATES,
};
use prometheus_client::metrics::MetricType;
use std::collections::BTreeMap;
use std::collections::HashSet;

/// HELP text of a family whose values come from the collection, saying so.
macro_rules! collected {
    ($help:literal) => {
        concat!($help, " (from the latest background collection)")
    };
}

/// Build-time facts for `docker_exporter_build_info`.
const VERSION: &str = env!("CARGO_PKG_VERSION");
const REVISION: &str = env!("DOCKER_EXPORTER_REVISION");
const RUSTC_VERSION: &str = env!("DOCKER_EXPORTER_RUSTC_VERSION");

/// Hands each family to the sink once the next one starts, so that only one
/// family's series exist at a time (at a thousand containers, all of them
/// together would be megabytes of label vectors).
struct Emitter<'a, 's> {
    sink: &'s mut dyn FnMut(&Family<'a>) -> std::fmt::Result,
    current: Option<Family<'a>>,
    result: std::fmt::Result,
}

impl<'a> Emitter<'a, '_> {
    fn add(&mut self, kind: MetricType, name: &'static str, help: &'static str) -> &mut Family<'a> {
        self.flush();
        self.current.insert(Family {
            name,
            help,
            kind,
            series: Vec::new(),
        })
    }
    fn gauge(&mut self, name: &'static str, help: &'static str) -> &mut Family<'a> {
        self.add(MetricType::Gauge, name, help)
    }
    fn counter(&mut self, name: &'static str, help: &'static str) -> &mut Family<'a> {
        self.add(MetricType::Counter, name, help)
    }
    fn flush(&mut self) {
        if let Some(family) = self.current.take() {
            if self.result.is_ok() {
                self.result = (self.sink)(&family);
            }
        }
    }
}

/// The labels of one container, borrowed from the snapshot.
struct ContainerLabels<'a> {
    entry: &'a ContainerEntry,
    /// `name`, `id`, `image`, `container_label_*`: cAdvisor's base labels.
    base: Labels<'a>,
    name: Labels<'a>,
}

impl<'a> ContainerLabels<'a> {
    fn base_with(&self, key: &'a str, value: &'a str) -> Labels<'a> {
        let mut l = self.base.clone();
        l.push((key, value));
        l
    }
    fn name_with(&self, key: &'a str, value: &'a str) -> Labels<'a> {
        vec![("name", self.name[0].1), (key, value)]
    }
}

/// A row of a family table: the family, and its value for one item (a
/// container, a network interface, a block device), when the item has one.
type Row<T> = (
    MetricType,
    &'static str,
    &'static str,
    fn(&T) -> Option<Value>,
);

/// One family per row, in order; each with a series per item that has a value.
fn table<'a, T: ?Sized>(out: &mut Emitter<'a, '_>, rows: &[Row<T>], items: &[(Labels<'a>, &'a T)]) {
    for (kind, name, help, get) in rows {
        let f = out.add(*kind, name, help);
        for (labels, item) in items {
            if let Some(v) = get(item) {
                f.push(labels.clone(), v);
            }
        }
    }
}

const PER_CONTAINER: [Row<Container>; 4] = [
    (
        MetricType::Gauge,
        "docker_container_restarts",
        collected!(
            "Restarts by the engine's restart policy; the engine resets it on a manual start"
        ),
        |c| Some(c.restart_count.into()),
    ),
    (
        MetricType::Gauge,
        "docker_container_exit_code",
        collected!("Exit code of the container's last exit"),
        |c| Some(c.exit_code.into()),
    ),
    (
        MetricType::Gauge,
        "docker_container_oom_killed",
        collected!("1 when the container's last exit was an OOM kill"),
        |c| Some(c.oom_killed.into()),
    ),
    (
        MetricType::Gauge,
        "docker_container_finished_at_seconds",
        collected!("Unix time the container last finished; absent when it never did"),
        |c| c.finished_at.map(Value::Float),
    ),
];

const SPEC: [Row<Container>; 9] = [
    (
        MetricType::Gauge,
        "container_start_time_seconds",
        collected!("Start time of the container since unix epoch in seconds"),
        |c| c.started_at.map(Value::Float),
    ),
    (
        MetricType::Gauge,
        "container_creation_time_seconds",
        collected!("Creation time of the container since unix epoch in seconds"),
        |c| c.created.map(Value::Float),
    ),
    (
        MetricType::Gauge,
        "container_health_state",
        collected!("1 healthy, 0 unhealthy or starting, -1 no health check"),
        |c| {
            Some(Value::Int(match c.health {
                Health::Healthy => 1,
                Health::Unhealthy | Health::Starting => 0,
                Health::None => -1,
            }))
        },
    ),
    (
        MetricType::Gauge,
        "container_spec_cpu_quota",
        collected!("CPU quota of the container in microseconds per period; absent when unlimited"),
        |c| c.spec.cpu_quota.map(Value::Int),
    ),
    (
        MetricType::Gauge,
        "container_spec_cpu_period",
        collected!("CPU period of the container in microseconds"),
        |c| Some(c.spec.cpu_period.into()),
    ),
    (
        MetricType::Gauge,
        "container_spec_cpu_shares",
        collected!("CPU shares of the container"),
        |c| Some(c.spec.cpu_shares.into()),
    ),
    (
        MetricType::Gauge,
        "container_spec_memory_limit_bytes",
        collected!("Memory limit of the container in bytes; 0 when unlimited"),
        |c| Some(c.spec.memory_limit.into()),
    ),
    (
        MetricType::Gauge,
        "container_spec_memory_reservation_limit_bytes",
        collected!("Memory reservation (soft limit) of the container in bytes; 0 when unset"),
        |c| Some(c.spec.memory_reservation.into()),
    ),
    (
        MetricType::Gauge,
        "container_spec_memory_swap_limit_bytes",
        collected!("Memory plus swap limit of the container in bytes; 0 when unlimited"),
        |c| Some(c.spec.memory_swap.into()),
    ),
];

const CPU_TOTAL: [Row<Stats>; 1] = [(
    MetricType::Counter,
    "container_cpu_usage_seconds_total",
    collected!("Cumulative cpu time consumed in seconds"),
    |s| s.cpu_total_ns.map(ns_to_s),
)];

#[rustfmt::skip]
const CPU_TIME: [Row<Stats>; 2] = [
    (MetricType::Counter, "container_cpu_user_seconds_total", collected!("Cumulative user cpu time consumed in seconds"), |s| s.cpu_user_ns.map(ns_to_s)),
    (MetricType::Counter, "container_cpu_system_seconds_total", collected!("Cumulative system cpu time consumed in seconds"), |s| s.cpu_system_ns.map(ns_to_s)),
];

#[rustfmt::skip]
const CFS: [Row<Stats>; 3] = [
    (MetricType::Counter, "container_cpu_cfs_periods_total", collected!("Number of elapsed enforcement period intervals"), |s| s.throttling.as_ref().map(|t| t.periods.into())),
    (MetricType::Counter, "container_cpu_cfs_throttled_periods_total", collected!("Number of throttled period intervals"), |s| s.throttling.as_ref().map(|t| t.throttled_periods.into())),
    (MetricType::Counter, "container_cpu_cfs_throttled_seconds_total", collected!("Total time duration the container has been throttled"), |s| s.throttling.as_ref().map(|t| ns_to_s(t.throttled_ns))),
];

#[rustfmt::skip]
const MEMORY_THREADS_LAST_SEEN: [Row<Stats>; 12] = [
    (MetricType::Gauge, "container_memory_usage_bytes", collected!("Current memory usage in bytes, including all memory regardless of when it was accessed"), |s| s.memory.as_ref().map(|m| m.usage.into())),
    (MetricType::Gauge, "container_memory_working_set_bytes", collected!("Current working set in bytes: usage minus inactive file cache"), |s| s.memory.as_ref().and_then(|m| m.working_set).map(Value::from)),
    (MetricType::Gauge, "container_memory_rss", collected!("Size of RSS in bytes"), |s| s.memory.as_ref().and_then(|m| m.rss).map(Value::from)),
    (MetricType::Gauge, "container_memory_cache", collected!("Number of bytes of page cache memory"), |s| s.memory.as_ref().and_then(|m| m.cache).map(Value::from)),
    (MetricType::Gauge, "container_memory_mapped_file", collected!("Size of memory mapped files in bytes"), |s| s.memory.as_ref().and_then(|m| m.mapped_file).map(Value::from)),
    (MetricType::Gauge, "container_memory_swap", collected!("Container swap usage in bytes"), |s| s.memory.as_ref().and_then(|m| m.swap).map(Value::from)),
    (MetricType::Gauge, "container_memory_max_usage_bytes", collected!("Maximum memory usage recorded in bytes"), |s| s.memory.as_ref().and_then(|m| m.max_usage).map(Value::from)),
    (MetricType::Counter, "container_memory_failcnt", collected!("Number of memory usage hits limits"), |s| s.memory.as_ref().and_then(|m| m.failcnt).map(Value::from)),
    (MetricType::Gauge, "container_threads", collected!("Number of threads running inside the container"), |s| s.pids_current.map(Value::from)),
    (MetricType::Gauge, "container_threads_max", collected!("Maximum number of threads allowed inside the container, 0 when unlimited"), |s| s.pids_limit.map(Value::from)),
    (MetricType::Gauge, "container_processes", collected!("Number of processes running inside the container (cgroup stats source only)"), |s| s.processes.map(Value::from)),
    (MetricType::Gauge, "container_last_seen", collected!("Last time the exporter saw this container's stats, in Unix seconds"), |s| Some(Value::Float(s.read_at))),
];

const NETWORK: [Row<Network>; 8] = [
    (
        MetricType::Counter,
        "container_network_receive_bytes_total",
        collected!("Cumulative count of bytes received"),
        |n| n.rx_bytes.map(Value::from),
    ),
    (
        MetricType::Counter,
        "container_network_receive_packets_total",
        collected!("Cumulative count of packets received"),
        |n| n.rx_packets.map(Value::from),
    ),
    (
        MetricType::Counter,
        "container_network_receive_packets_dropped_total",
        collected!("Cumulative count of packets dropped while receiving"),
        |n| n.rx_dropped.map(Value::from),
    ),
    (
        MetricType::Counter,
        "container_network_receive_errors_total",
        collected!("Cumulative count of errors encountered while receiving"),
        |n| n.rx_errors.map(Value::from),
    ),
    (
        MetricType::Counter,
        "container_network_transmit_bytes_total",
        collected!("Cumulative count of bytes transmitted"),
        |n| n.tx_bytes.map(Value::from),
    ),
    (
        MetricType::Counter,
        "container_network_transmit_packets_total",
        collected!("Cumulative count of packets transmitted"),
        |n| n.tx_packets.map(Value::from),
    ),
    (
        MetricType::Counter,
        "container_network_transmit_packets_dropped_total",
        collected!("Cumulative count of packets dropped while transmitting"),
        |n| n.tx_dropped.map(Value::from),
    ),
    (
        MetricType::Counter,
        "container_network_transmit_errors_total",
        collected!("Cumulative count of errors encountered while transmitting"),
        |n| n.tx_errors.map(Value::from),
    ),
];

const DEVICES: [Row<BlockDevice>; 4] = [
    (
        MetricType::Counter,
        "container_fs_reads_bytes_total",
        collected!("Cumulative count of bytes read"),
        |d| d.read_bytes.map(Value::from),
    ),
    (
        MetricType::Counter,
        "container_fs_writes_bytes_total",
        collected!("Cumulative count of bytes written"),
        |d| d.write_bytes.map(Value::from),
    ),
    (
        MetricType::Counter,
        "container_fs_reads_total",
        collected!("Cumulative count of reads completed"),
        |d| d.reads.map(Value::from),
    ),
    (
        MetricType::Counter,
        "container_fs_writes_total",
        collected!("Cumulative count of writes completed"),
        |d| d.writes.map(Value::from),
    ),
];

#[rustfmt::skip]
const CONTAINER_SIZES: [Row<ContainerDisk>; 2] = [
    (MetricType::Gauge, "docker_container_size_rw_bytes", "Size of the container's writable layer in bytes (GET /system/df SizeRw, from the latest disk collection)", |d| Some(d.size_rw.into())),
    (MetricType::Gauge, "docker_container_size_root_fs_bytes", "Size of the container's root filesystem, image included, in bytes (GET /system/df SizeRootFs, from the latest disk collection)", |d| d.size_root_fs.map(Value::from)),
];

/// Every family of one snapshot, in order, each handed to `sink` in turn.
pub fn families<'a>(
    s: &'a Snapshot,
    sink: &mut dyn FnMut(&Family<'a>) -> std::fmt::Result,
) -> std::fmt::Result {
    part_families(s, Part::All, sink)
}

/// Which series of a snapshot [`part_families`] gives. A family's series are
/// those of each container in snapshot order (a container's series depend on
/// that container alone), then the shared ones; so a body is, family by
/// family, the containers' parts followed by the shared part
/// (`fragments.rs` assembles it so).
#[derive(Debug, Clone)]
pub enum Part {
    /// Everything: the whole body.
    All,
    /// Every family of the body, with only the series that belong to no
    /// container (engine, events by type, swarm, the exporter's own, the
    /// counts of containers no longer live).
    Shared,
    /// The series of these containers (indices into `containers`), in the
    /// families that have some; the shared families are left out.
    Containers(std::ops::Range<usize>),
}

/// The families of `part` of one snapshot, in body order.
pub fn part_families<'a>(
    s: &'a Snapshot,
    part: Part,
    sink: &mut dyn FnMut(&Family<'a>) -> std::fmt::Result,
) -> std::fmt::Result {
    let mut out = Emitter {
        sink,
        current: None,
        result: Ok(()),
    };
    let entries = match &part {
        Part::All => &s.containers[..],
        Part::Shared => &[],
        Part::Containers(range) => &s.containers[range.clone()],
    };
    let containers: Vec<ContainerLabels<'_>> = entries
        .iter()
        .map(|entry| ContainerLabels {
            entry,
            base: base_labels(&entry.container),
            name: vec![("name", entry.container.name.as_str())],
        })
        .collect();
    let shared = !matches!(part, Part::Containers(_));

    if shared {
        engine_families(&mut out, s);
    }
    docker_container_families(&mut out, &containers);
    spec_families(&mut out, &containers);
    resource_families(&mut out, &containers);
    event_families(&mut out, s, &containers, shared);
    disk_families(&mut out, s, &containers, shared);
    if shared {
        swarm_families(&mut out, s);
        exporter_families(&mut out, s);
    }
    out.flush();
    out.result
}

/// cAdvisor's base labels of a container: `name`, `id`, `image`, `container_label_*`.
fn base_labels(c: &Container) -> Labels<'_> {
    let mut base: Labels<'_> = vec![
        ("name", c.name.as_str()),
        ("id", c.cgroup_path.as_str()),
        ("image", c.image.as_str()),
    ];
    base.extend(c.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    base
}

fn engine_families<'a>(out: &mut Emitter<'a, '_>, s: &'a Snapshot) {
    out.gauge(
        "docker_up",
        "1 when the last call to the Docker engine succeeded, else 0",
    )
    .push(vec![], s.engine_up);
    let Some(e) = &s.engine else { return };
    out.gauge(
        "docker_engine_info",
        "Docker engine facts from /version and /info; engine is docker or podman, api_version the negotiated one",
    )
    .push(
        vec![
            ("engine", e.kind.as_str()),
            ("version", e.version.as_str()),
            ("api_version", e.api_version_label.as_str()),
            ("os", e.os.as_str()),
            ("os_type", e.os_type.as_str()),
            ("architecture", e.architecture.as_str()),
            ("kernel_version", e.kernel_version.as_str()),
            ("storage_driver", e.storage_driver.as_str()),
            ("cgroup_driver", e.cgroup_driver.as_str()),
            ("cgroup_version", e.cgroup_version.as_str()),
        ],
        1i64,
    );
    let f = out.gauge(
        "docker_engine_containers",
        "Containers the engine has, by state (from /info)",
    );
    for (state, n) in [
        ("running", e.containers_running),
        ("paused", e.containers_paused),
        ("stopped", e.containers_stopped),
    ] {
        if let Some(n) = n {
            f.push(vec![("state", state)], n);
        }
    }
    if let Some(n) = e.images {
        out.gauge("docker_engine_images", "Images the engine has (from /info)")
            .push(vec![], n);
    }
    if let Some(n) = e.cpus {
        out.gauge(
            "machine_cpu_cores",
            "Number of logical CPU cores of the engine's machine",
        )
        .push(vec![], n);
    }
    if let Some(n) = e.memory_bytes {
        out.gauge(
            "machine_memory_bytes",
            "Memory of the engine's machine in bytes",
        )
        .push(vec![], n);
    }
}

fn docker_container_families<'a>(out: &mut Emitter<'a, '_>, containers: &[ContainerLabels<'a>]) {
    let f = out.gauge(
        "docker_container_info",
        collected!("1 for every container, in every state, with its identity labels"),
    );
    for i in containers {
        let c = &i.entry.container;
        let mut l = i.base.clone();
        l.insert(3, ("image_id", c.image_id.as_str()));
        f.push(l, 1i64);
    }
    let f = out.gauge(
        "docker_container_state",
        collected!("1 for the container's current state, 0 for the others"),
    );
    for i in containers {
        for st in State::ALL {
            f.push(
                i.name_with("state", st.as_str()),
                i.entry.container.state == st,
            );
        }
    }
    let f = out.gauge(
        "docker_container_health_status",
        collected!("1 for the container's current health-check status, 0 for the others"),
    );
    for i in containers {
        for h in Health::ALL {
            f.push(
                i.name_with("status", h.as_str()),
                i.entry.container.health == h,
            );
        }
    }
    let items: Vec<_> = containers
        .iter()
        .map(|l| (l.name.clone(), &*l.entry.container))
        .collect();
    table(out, &PER_CONTAINER, &items);
}

/// Containers that have a cgroup: the ones cAdvisor would show.
fn live<'a, 'b>(
    containers: &'b [ContainerLabels<'a>],
) -> impl Iterator<Item = &'b ContainerLabels<'a>> {
    containers
        .iter()
        .filter(|i| i.entry.container.state.is_live())
}

fn spec_families<'a>(out: &mut Emitter<'a, '_>, containers: &[ContainerLabels<'a>]) {
    let items: Vec<_> = live(containers)
        .map(|l| (l.base.clone(), &*l.entry.container))
        .collect();
    table(out, &SPEC, &items);
}

fn ns_to_s(ns: u64) -> Value {
    Value::Float(ns as f64 / 1e9)
}

fn resource_families<'a>(out: &mut Emitter<'a, '_>, containers: &[ContainerLabels<'a>]) {
    let with_stats: Vec<(&ContainerLabels<'a>, &'a Stats)> = live(containers)
        .filter_map(|l| l.entry.stats.as_deref().map(|s| (l, s)))
        .collect();
    let per_container =
        |keep: &dyn Fn(&ContainerLabels<'a>) -> bool| -> Vec<(Labels<'a>, &'a Stats)> {
            with_stats
                .iter()
                .filter(|(l, _)| keep(l))
                .map(|(l, s)| (l.base.clone(), *s))
                .collect()
        };
    let all = per_container(&|_| true);

    let items: Vec<_> = with_stats
        .iter()
        .map(|(l, s)| (l.base_with("cpu", "total"), *s))
        .collect();
    table(out, &CPU_TOTAL, &items);
    table(out, &CPU_TIME, &all);

    // Throttling exists only where a CPU quota is set.
    let throttled = per_container(&|l| l.entry.container.spec.cpu_quota.is_some());
    table(out, &CFS, &throttled);

    table(out, &MEMORY_THREADS_LAST_SEEN, &all);

    let items: Vec<_> = with_stats
        .iter()
        .flat_map(|(l, s)| {
            s.networks
                .iter()
                .map(|(iface, n)| (l.base_with("interface", iface), n))
        })
        .collect();
    table(out, &NETWORK, &items);

    let items: Vec<_> = with_stats
        .iter()
        .flat_map(|(l, s)| {
            s.blkio
                .iter()
                .map(|d| (l.base_with("device", &d.device), d))
        })
        .collect();
    table(out, &DEVICES, &items);
}

fn event_families<'a>(
    out: &mut Emitter<'a, '_>,
    s: &'a Snapshot,
    containers: &[ContainerLabels<'a>],
    shared: bool,
) {
    let f = out.counter(
        "container_oom_events_total",
        collected!(
            "Count of out of memory events observed for the container since the exporter started"
        ),
    );
    for i in live(containers) {
        let n = s
            .events
            .by_container
            .get(&i.entry.container.name)
            .map_or(0, |e| e.oom);
        f.push(i.base.clone(), n);
    }
    if !shared {
        return;
    }
    // Containers that are not live (an OOM kill usually leaves one exited, or
    // gone) keep their count, labelled as they were last seen.
    let live_names: HashSet<&str> = s
        .containers
        .iter()
        .filter(|e| e.container.state.is_live())
        .map(|e| e.container.name.as_str())
        .collect();
    for (name, e) in &s.events.by_container {
        if e.oom == 0 || live_names.contains(name.as_str()) {
            continue;
        }
        if let Some(c) = &e.last_known {
            f.push(base_labels(c), e.oom);
        }
    }

    let f = out.counter(
        "docker_container_events_total",
        collected!(
            "Container events for this container name since the exporter started, by action"
        ),
    );
    for (name, e) in &s.events.by_container {
        for (action, n) in &e.actions {
            f.push(vec![("name", name.as_str()), ("action", action)], *n);
        }
    }
    let f = out.counter(
        "docker_events_total",
        "Every event the engine sent since the exporter started, by type and action",
    );
    for ((kind, action), n) in &s.events.by_type {
        f.push(
            vec![("type", kind.as_str()), ("action", action.as_str())],
            *n,
        );
    }
}

/// The `disk` collector's last answer, joined to the containers the snapshot
/// knows (a container removed since loses its series with its other ones).
fn disk_families<'a>(
    out: &mut Emitter<'a, '_>,
    s: &'a Snapshot,
    containers: &[ContainerLabels<'a>],
    shared: bool,
) {
    let Some(disk) = &s.disk else { return };
    if shared {
        disk_shared_families(out, disk);
    }
    // cAdvisor's `device` is the block device under the writable layer, which
    // the Engine API does not tell; the storage driver holding it stands in.
    let device = s
        .engine
        .as_deref()
        .map_or("", |e| e.storage_driver.as_str());
    let f = out.gauge(
        "container_fs_usage_bytes",
        "Number of bytes that are consumed by the container's writable layer (from the latest disk collection)",
    );
    for l in live(containers) {
        if let Some(d) = disk.containers.get(&l.entry.container.id) {
            f.push(l.base_with("device", device), d.size_rw);
        }
    }
    let items: Vec<_> = containers
        .iter()
        .filter_map(|l| {
            let d = disk.containers.get(&l.entry.container.id)?;
            Some((l.name.clone(), d))
        })
        .collect();
    table(out, &CONTAINER_SIZES, &items);
    if shared {
        out.gauge(
            "docker_disk_collected_timestamp_seconds",
            "Unix time of the GET /system/df answer the disk families show",
        )
        .push(vec![], disk.collected_at);
    }
}

/// The disk families that belong to no container.
fn disk_shared_families<'a>(out: &mut Emitter<'a, '_>, disk: &'a Disk) {
    let f = out.gauge(
        "docker_disk_usage_bytes",
        "Bytes the engine holds on disk, by type, as docker system df counts them (from the latest disk collection)",
    );
    for (t, u) in DiskType::ALL.iter().zip(&disk.by_type) {
        f.push(vec![("type", t.as_str())], u.usage);
    }
    let f = out.gauge(
        "docker_disk_reclaimable_bytes",
        "Bytes docker system prune could free, by type, as docker system df counts them (from the latest disk collection)",
    );
    for (t, u) in DiskType::ALL.iter().zip(&disk.by_type) {
        f.push(vec![("type", t.as_str())], u.reclaimable);
    }
    let f = out.gauge(
        "docker_volume_usage_bytes",
        "Size of a named volume in bytes, when the engine reports it (from the latest disk collection)",
    );
    for (name, bytes) in &disk.volumes {
        f.push(vec![("volume", name.as_str())], *bytes);
    }
}

/// Services and nodes of a Swarm manager (nothing elsewhere).
fn swarm_families<'a>(out: &mut Emitter<'a, '_>, s: &'a Snapshot) {
    let Some(swarm) = &s.swarm else { return };
    let services = &swarm.services;
    let f = out.gauge(
        "docker_swarm_service_replicas_desired",
        "Replicas the Swarm service should run: its replicas, or the eligible nodes of a global one",
    );
    for sv in services {
        f.push(
            vec![("service", sv.name.as_str()), ("mode", sv.mode)],
            sv.desired,
        );
    }
    let f = out.gauge(
        "docker_swarm_service_replicas_running",
        "Tasks of the Swarm service that run and should",
    );
    for sv in services {
        f.push(
            vec![("service", sv.name.as_str()), ("mode", sv.mode)],
            sv.running,
        );
    }
    let f = out.gauge(
        "docker_swarm_service_info",
        "1 for every Swarm service, with its mode and image",
    );
    for sv in services {
        f.push(
            vec![
                ("service", sv.name.as_str()),
                ("mode", sv.mode),
                ("image", sv.image.as_str()),
            ],
            1i64,
        );
    }
    let f = out.gauge(
        "docker_swarm_service_update_state",
        "1 for the Swarm service's rolling-update state, 0 for the others (all 0 before any update)",
    );
    for sv in services {
        for state in UPDATE_STATES {
            f.push(
                vec![("service", sv.name.as_str()), ("state", state)],
                sv.update_state.as_deref() == Some(state),
            );
        }
    }
    let f = out.gauge(
        "docker_swarm_node_info",
        "1 for every Swarm node, with its role, availability and state",
    );
    let mut by_role_state: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for n in &swarm.nodes {
        f.push(
            vec![
                ("node_id", n.id.as_str()),
                ("hostname", n.hostname.as_str()),
                ("role", n.role.as_str()),
                ("availability", n.availability.as_str()),
                ("state", n.state.as_str()),
            ],
            1i64,
        );
        *by_role_state
            .entry((n.role.as_str(), n.state.as_str()))
            .or_default() += 1;
    }
    let f = out.gauge("docker_swarm_nodes", "Swarm nodes by role and state");
    for ((role, state), n) in by_role_state {
        f.push(vec![("role", role), ("state", state)], n);
    }
}

fn exporter_families<'a>(out: &mut Emitter<'a, '_>, s: &'a Snapshot) {
    out.gauge(
        "docker_exporter_build_info",
        "1, with the exporter's version, git revision and rustc version",
    )
    .push(
        vec![
            ("version", VERSION),
            ("revision", REVISION),
            ("rustc_version", RUSTC_VERSION),
        ],
        1i64,
    );
    let f = out.gauge(
        "docker_exporter_collector_duration_seconds",
        "Duration of the collector's last run in seconds",
    );
    for (name, c) in &s.collectors {
        f.push(vec![("collector", *name)], c.duration_seconds);
    }
    let f = out.gauge(
        "docker_exporter_collector_success",
        "1 when the collector's last run succeeded, else 0",
    );
    for (name, c) in &s.collectors {
        f.push(vec![("collector", *name)], c.success);
    }
    let f = out.counter(
        "docker_exporter_collector_errors_total",
        "Errors of the collector since the exporter started",
    );
    for (name, c) in &s.collectors {
        f.push(vec![("collector", *name)], c.errors_total);
    }
    if s.collected_at > 0.0 {
        out.gauge(
            "docker_exporter_last_collection_timestamp_seconds",
            "Unix time the last periodic collection cycle completed",
        )
        .push(vec![], s.collected_at);
    }
    out.counter(
        "docker_exporter_event_stream_reconnects_total",
        "Times the event stream was opened again after it broke",
    )
    .push(vec![], s.event_stream_reconnects);
    if let Some(misses) = &s.stats_cgroup_misses {
        let f = out.counter(
            "docker_exporter_stats_cgroup_misses_total",
            "Containers whose stats could not be read from their cgroup, by reason; on --collect.stats-source=auto the engine was asked instead",
        );
        for reason in crate::cgroup::REASONS {
            f.push(
                vec![("reason", reason)],
                misses.get(reason).copied().unwrap_or(0),
            );
        }
    }
}
