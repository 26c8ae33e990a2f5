//! The integration tests: one binary, one module a theme.

mod cgroup;
mod dashboards;
mod dashboards_live;
mod deploy;
mod disk;
mod escaping;
mod events;
mod exposition;
mod faults;
mod filters;
mod fragments;
mod golden;
mod image;
mod page;
mod process;
mod prometheus;
mod real_daemon;
mod resources;
mod resync;
mod scrape;
mod server;
mod socket_proxy;
mod support;
mod web;
