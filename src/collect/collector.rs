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
    /// `/version` and `/info`, the API version: `docker_up`, `docker_engine_*`, `machine_*`.
    Engine,
    /// The container list and inspect: `docker_container_*`, `container_spec_*`.
    Containers,
    /// One stats sample per live container: the cAdvisor resource families.
    Stats,
    /// The event stream: event counters, and container changes between cycles.
    Events,
}

impl Collector {
    /// Every collector.
    pub const ALL: [Collector; 4] = [
        Collector::Engine,
        Collector::Containers,
        Collector::Stats,
        Collector::Events,
    ];

    /// The `collector` label.
    pub const fn name(self) -> &'static str {
        match self {
            Collector::Engine => "engine",
            Collector::Containers => "containers",
            Collector::Stats => "stats",
            Collector::Events => "events",
        }
    }

    /// Whether it runs without being asked for (every collector so far).
    pub const fn enabled_by_default(self) -> bool {
        match self {
            Collector::Engine | Collector::Containers | Collector::Stats | Collector::Events => {
                true
            }
        }
    }

    /// How often it runs: the periodic cycle's interval, or `None` for the
    /// event stream, which runs for the life of the process.
    pub fn interval(self, config: &Config) -> Option<Duration> {
        match self {
            Collector::Engine | Collector::Containers | Collector::Stats => {
                Some(config.collect_interval)
            }
            Collector::Events => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_served_labels() {
        let names: Vec<&str> = Collector::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["engine", "containers", "stats", "events"]);
        assert!(Collector::ALL.iter().all(|c| c.enabled_by_default()));
        let config = Config::try_from_args(["docker_exporter", "--collect.interval=2s"]).unwrap();
        assert_eq!(
            Collector::Stats.interval(&config),
            Some(Duration::from_secs(2))
        );
        assert_eq!(Collector::Events.interval(&config), None);
    }
}
