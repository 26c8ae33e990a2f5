//! The integration tests: one binary, one module a theme.

mod dashboards;
mod dashboards_live;
mod disk;
mod escaping;
mod events;
mod exposition;
mod faults;
mod golden;
mod process;
mod prometheus;
mod real_daemon;
mod resources;
mod scrape;
mod server;
mod support;
