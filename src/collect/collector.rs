//! The set of collectors, explicit: the name each has in
//! `docker_exporter_collector_*{collector=…}`, how it is driven, whether it
//! runs by default, and what it writes to the snapshot.
//!
//! A new collector (disk usage, Swarm, a second stats source) is one more
//! variant: its own [`Collector::interval`] (opt-in ones
//! `enabled_by_default` false, switched on by a flag), its own module next to
//! `containers.rs` with a `collect` that returns an `Outcome` and an `apply`
//! that writes its part of `Working`, and one line in the cycle (or a task of
//! its own when its interval differs); the others are not touched.

use crate::config::Config;
use std::time::Duration;

/// One collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Collector {
    /// `/version` and `/info`, the API version: `docker_up`, `docker_engine_*`,
    /// `machine_*`; between resyncs only `/_ping` (and `/info` after an event).
    Engine,
    /// The container list and inspect: `docker_container_*`, `container_spec_*`;
    /// every resync interval while the event stream is up, else every cycle.
    Containers,
    /// One stats sample per live container: the cAdvisor resource families.
    Stats,
    /// The event stream: event counters, and container changes between cycles.
    Events,
    /// `GET /system/df` (opt-in: the engine walks its filesystems for it):
    /// `docker_disk_*`, `docker_volume_usage_bytes`, `container_fs_usage_bytes`.
    /// A task of its own, on its own interval and timeout.
    Disk,
    /// On a Swarm manager only (`/info` `Swarm.ControlAvailable`, read by the
    /// periodic cycle): `/services`, `/tasks`, `/nodes` → `docker_swarm_*`.
    /// A task of its own, on its own interval (default: the cycle's).
    Swarm,
}

impl Collector {
    /// Every collector.
    pub const ALL: [Collector; 6] = [
        Collector::Engine,
        Collector::Containers,
        Collector::Stats,
        Collector::Events,
        Collector::Disk,
        Collector::Swarm,
    ];

    /// The `collector` label.
    pub const fn name(self) -> &'static str {
        match self {
            Collector::Engine => "engine",
            Collector::Containers => "containers",
            Collector::Stats => "stats",
            Collector::Events => "events",
            Collector::Disk => "disk",
            Collector::Swarm => "swarm",
        }
    }

    /// Whether it runs without being asked for.
    pub const fn enabled_by_default(self) -> bool {
        match self {
            Collector::Engine
            | Collector::Containers
            | Collector::Stats
            | Collector::Events
            | Collector::Swarm => true,
            Collector::Disk => false,
        }
    }

    /// Whether it runs with this configuration.
    pub fn enabled(self, config: &Config) -> bool {
        match self {
            Collector::Disk => config.disk.enabled,
            Collector::Swarm => !config.swarm.disabled,
            _ => self.enabled_by_default(),
        }
    }

    /// How often it runs: the periodic cycle's interval, or `None` for the
    /// event stream, which runs for the life of the process.
    pub fn interval(self, config: &Config) -> Option<Duration> {
        match self {
            Collector::Engine | Collector::Stats => Some(config.collect_interval),
            // With the event stream up; every cycle while it is down.
            Collector::Containers => Some(config.collect_interval.max(config.resync_interval)),
            Collector::Events => None,
            Collector::Disk => Some(config.disk.interval),
            Collector::Swarm => Some(config.swarm.interval.unwrap_or(config.collect_interval)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_served_labels() {
        let names: Vec<&str> = Collector::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            ["engine", "containers", "stats", "events", "disk", "swarm"]
        );
        let config = Config::try_from_args(["docker_exporter", "--collect.interval=2s"]).unwrap();
        let on: Vec<&str> = Collector::ALL
            .iter()
            .filter(|c| c.enabled(&config))
            .map(|c| c.name())
            .collect();
        assert_eq!(on, ["engine", "containers", "stats", "events", "swarm"]);
        assert_eq!(
            Collector::Swarm.interval(&config),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            Collector::Disk.interval(&config),
            Some(Duration::from_secs(300))
        );
        let disk = Config::try_from_args([
            "docker_exporter",
            "--collector.disk",
            "--collector.disk.interval=1m",
        ])
        .unwrap();
        assert!(Collector::Disk.enabled(&disk));
        assert_eq!(
            Collector::Disk.interval(&disk),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            Collector::Stats.interval(&config),
            Some(Duration::from_secs(2))
        );
        assert_eq!(Collector::Events.interval(&config), None);
    }
}
