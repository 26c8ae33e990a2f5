//! Wire types of the Docker Engine API: only the fields the exporter uses.
//!
//! Every field is optional and defaults when missing or `null`, so one engine
//! version's omissions (or cgroup v2's gaps) never fail a whole body. Unknown
//! fields are ignored; in particular `Config.Env` is never read.

use serde::Deserialize;
use std::collections::BTreeMap;

/// `GET /version`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Version {
    pub version: Option<String>,
    pub api_version: Option<String>,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: Option<String>,
    pub os: Option<String>,
    pub arch: Option<String>,
    pub kernel_version: Option<String>,
    /// The engine's parts; Podman names itself here (`Podman Engine`).
    pub components: Option<Vec<Component>>,
}

/// One entry of `Components` in `GET /version`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Component {
    pub name: Option<String>,
}

/// `GET /info`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Info {
    #[serde(rename = "NCPU")]
    pub ncpu: Option<u64>,
    pub mem_total: Option<u64>,
    pub containers_running: Option<u64>,
    pub containers_paused: Option<u64>,
    pub containers_stopped: Option<u64>,
    pub images: Option<u64>,
    /// The storage driver.
    pub driver: Option<String>,
    pub cgroup_driver: Option<String>,
    pub cgroup_version: Option<String>,
    #[serde(rename = "OSType")]
    pub os_type: Option<String>,
    pub operating_system: Option<String>,
    pub kernel_version: Option<String>,
    pub architecture: Option<String>,
    pub server_version: Option<String>,
    pub swarm: Option<SwarmInfo>,
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListedContainer {
    pub id: String,
    pub names: Option<Vec<String>>,
    pub image_id: Option<String>,
    pub created: Option<i64>,
    pub state: Option<String>,
    pub status: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Inspect {
    pub id: String,
    pub name: Option<String>,
    pub created: Option<String>,
    /// The image id (`sha256:…`).
    pub image: Option<String>,
    pub restart_count: Option<u64>,
    pub state: Option<ContainerState>,
    pub config: Option<ContainerConfig>,
    pub host_config: Option<HostConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    pub status: Option<String>,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: Option<bool>,
    pub exit_code: Option<i64>,
    /// The init process's pid on the engine's host (0 when not running).
    pub pid: Option<i64>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub health: Option<Health>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    pub status: Option<String>,
}

/// `Config` of an inspect body: the image reference and the labels, nothing else.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    pub image: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub network_mode: Option<String>,
}

/// `GET /containers/{id}/stats?stream=false`: cgroup v1 and v2 shapes alike.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub read: Option<String>,
    pub pids_stats: Option<PidsStats>,
    pub blkio_stats: Option<BlkioStats>,
    pub cpu_stats: Option<CpuStats>,
    pub memory_stats: Option<MemoryStats>,
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    pub current: Option<u64>,
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Option<Vec<BlkioEntry>>,
    pub io_serviced_recursive: Option<Vec<BlkioEntry>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    pub cpu_usage: Option<CpuUsage>,
    pub throttling_data: Option<ThrottlingData>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    pub total_usage: Option<u64>,
    pub usage_in_kernelmode: Option<u64>,
    pub usage_in_usermode: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ThrottlingData {
    pub periods: Option<u64>,
    pub throttled_periods: Option<u64>,
    pub throttled_time: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    pub usage: Option<u64>,
    pub max_usage: Option<u64>,
    pub failcnt: Option<u64>,
    pub stats: Option<MemoryStatKeys>,
}

/// The keys of `memory_stats.stats` that are used: cgroup v1's hierarchical
/// `total_*` names and cgroup v2's `memory.stat` names. Naming them (rather
/// than reading a map) skips the other 20-odd keys without allocating.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct MemoryStatKeys {
    pub total_inactive_file: Option<u64>,
    pub total_rss: Option<u64>,
    pub total_cache: Option<u64>,
    pub total_mapped_file: Option<u64>,
    pub total_swap: Option<u64>,
    pub inactive_file: Option<u64>,
    pub anon: Option<u64>,
    pub file: Option<u64>,
    pub file_mapped: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NetworkStats {
    pub rx_bytes: Option<u64>,
    pub rx_packets: Option<u64>,
    pub rx_errors: Option<u64>,
    pub rx_dropped: Option<u64>,
    pub tx_bytes: Option<u64>,
    pub tx_packets: Option<u64>,
    pub tx_errors: Option<u64>,
    pub tx_dropped: Option<u64>,
}

/// One line of `GET /events`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    #[serde(rename = "Action")]
    pub action: Option<String>,
    #[serde(rename = "Actor")]
    pub actor: Option<Actor>,
    pub time: Option<i64>,
    #[serde(rename = "timeNano")]
    pub time_nano: Option<i64>,
    /// Podman's bare `health_status` action carries the status here (Docker
    /// puts it in the action: `health_status: healthy`).
    #[serde(rename = "HealthStatus")]
    pub health_status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: Option<String>,
    #[serde(rename = "Attributes")]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// `GET /system/df`: what the engine holds on disk. Sizes the engine has not
/// computed are `-1` (volumes) or absent; `SizeRw` is left out when 0.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemDf {
    pub layers_size: Option<i64>,
    pub images: Option<Vec<DfImage>>,
    pub containers: Option<Vec<DfContainer>>,
    pub volumes: Option<Vec<DfVolume>>,
    pub build_cache: Option<Vec<DfBuildCache>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DfImage {
    pub size: Option<i64>,
    /// Older engines' name for `Size` (the same number since API 1.41).
    pub virtual_size: Option<i64>,
    pub shared_size: Option<i64>,
    pub containers: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DfContainer {
    pub id: String,
    pub state: Option<String>,
    pub size_rw: Option<i64>,
    pub size_root_fs: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DfVolume {
    pub name: Option<String>,
    pub usage_data: Option<VolumeUsage>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeUsage {
    pub size: Option<i64>,
    pub ref_count: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DfBuildCache {
    pub size: Option<i64>,
    pub in_use: Option<bool>,
    pub shared: Option<bool>,
}

/// `Swarm` of `GET /info`: whether this node can answer the Swarm API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SwarmInfo {
    pub local_node_state: Option<String>,
    /// True on a manager: `/services`, `/tasks` and `/nodes` answer.
    pub control_available: Option<bool>,
}

/// One entry of `GET /services?status=true`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Service {
    #[serde(rename = "ID")]
    pub id: String,
    pub spec: Option<ServiceSpec>,
    pub update_status: Option<UpdateStatus>,
    /// API 1.41 and later, with `status=true`: the engine's own counts.
    pub service_status: Option<ServiceStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceSpec {
    pub name: Option<String>,
    pub task_template: Option<TaskTemplate>,
    pub mode: Option<ServiceMode>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskTemplate {
    pub container_spec: Option<ContainerSpec>,
    pub placement: Option<Placement>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSpec {
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Placement {
    pub constraints: Option<Vec<String>>,
}

/// One of its fields is set: the service's mode.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceMode {
    pub replicated: Option<Replicated>,
    pub global: Option<serde::de::IgnoredAny>,
    pub replicated_job: Option<serde::de::IgnoredAny>,
    pub global_job: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Replicated {
    pub replicas: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateStatus {
    pub state: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceStatus {
    pub running_tasks: Option<u64>,
    pub desired_tasks: Option<u64>,
}

/// One entry of `GET /tasks`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Task {
    #[serde(rename = "ServiceID")]
    pub service_id: Option<String>,
    #[serde(rename = "NodeID")]
    pub node_id: Option<String>,
    pub desired_state: Option<String>,
    pub status: Option<TaskStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskStatus {
    pub state: Option<String>,
}

/// One entry of `GET /nodes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: String,
    pub spec: Option<NodeSpec>,
    pub description: Option<NodeDescription>,
    pub status: Option<NodeStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeSpec {
    pub role: Option<String>,
    pub availability: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeDescription {
    pub hostname: Option<String>,
    pub platform: Option<NodePlatform>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodePlatform {
    #[serde(rename = "OS")]
    pub os: Option<String>,
    pub architecture: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeStatus {
    pub state: Option<String>,
}
