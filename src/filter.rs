//! Which containers the exporter reports: `--container.include`,
//! `--container.exclude` (regular expressions on the name) and the
//! `docker_exporter.ignore=true` label.
//!
//! A container that is left out appears in no series at all: it is dropped from
//! the container list before it is inspected, its inspect answer is ignored, and
//! its events are not counted (neither per container nor in `docker_events_total`).
//! The expressions are anchored: they must match the whole name (without the
//! engine's leading `/`), as Prometheus relabelling regexes do.

use regex::Regex;
use std::collections::BTreeMap;

/// The label that leaves a container out when it is `true`.
pub const IGNORE_LABEL: &str = "docker_exporter.ignore";

/// A bad `--container.include` / `--container.exclude` value.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a valid regular expression: {1}")]
pub struct BadPattern(String, #[source] regex::Error);

/// A name pattern, matched against the whole name.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    anchored: Regex,
}

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, BadPattern> {
        Regex::new(&format!("^(?:{source})$"))
            .map(|anchored| Pattern {
                source: source.to_string(),
                anchored,
            })
            .map_err(|e| BadPattern(source.to_string(), e))
    }

    pub fn matches(&self, name: &str) -> bool {
        self.anchored.is_match(name)
    }

    /// The expression as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// The container filter of a configuration (its two flags); the default keeps
/// every container that does not carry the ignore label.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ContainerFilter {
    /// Report only containers whose name matches this regular expression (whole name).
    #[arg(long = "container.include", value_parser = parse_pattern)]
    pub include: Option<Pattern>,

    /// Leave out containers whose name matches this regular expression (whole
    /// name); containers labelled docker_exporter.ignore=true are always left out.
    #[arg(long = "container.exclude", value_parser = parse_pattern)]
    pub exclude: Option<Pattern>,
}

fn parse_pattern(s: &str) -> Result<Pattern, String> {
    Pattern::new(s).map_err(|e| e.to_string())
}

impl ContainerFilter {
    /// Whether a container with this name (a leading `/` is ignored) and these
    /// labels is reported.
    pub fn admits(&self, name: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        let name = name.strip_prefix('/').unwrap_or(name);
        if labels
            .and_then(|l| l.get(IGNORE_LABEL))
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        {
            return false;
        }
        if self.include.as_ref().is_some_and(|p| !p.matches(name)) {
            return false;
        }
        !self.exclude.as_ref().is_some_and(|p| p.matches(name))
    }

    /// Whether an event is kept: events of containers left out are dropped (a
    /// container event carries the name and the labels in its attributes).
    pub fn admits_event(&self, event: &crate::docker::types::Event) -> bool {
        if event.kind.as_deref() != Some("container") {
            return true;
        }
        let attributes = event.actor.as_ref().and_then(|a| a.attributes.as_ref());
        let name = attributes
            .and_then(|a| a.get("name"))
            .map_or("", String::as_str);
        self.admits(name, attributes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: Option<&str>, exclude: Option<&str>) -> ContainerFilter {
        ContainerFilter {
            include: include.map(|p| Pattern::new(p).unwrap()),
            exclude: exclude.map(|p| Pattern::new(p).unwrap()),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn include_and_exclude_match_the_whole_name() {
        let f = filter(Some("web-.*|db"), Some(".*-debug"));
        assert!(f.admits("/web-1", None));
        assert!(f.admits("db", None));
        assert!(!f.admits("db2", None), "anchored at the end");
        assert!(!f.admits("my-web-1", None), "anchored at the start");
        assert!(!f.admits("web-1-debug", None), "exclude wins");
        let none = ContainerFilter::default();
        assert!(none.admits("anything", None));
    }

    #[test]
    fn the_ignore_label_leaves_a_container_out() {
        let f = ContainerFilter::default();
        assert!(!f.admits("x", Some(&labels(&[(IGNORE_LABEL, "true")]))));
        assert!(!f.admits("x", Some(&labels(&[(IGNORE_LABEL, "TRUE")]))));
        assert!(f.admits("x", Some(&labels(&[(IGNORE_LABEL, "false")]))));
        assert!(f.admits("x", Some(&labels(&[("other", "true")]))));
    }

    #[test]
    fn events_are_filtered_by_their_attributes() {
        let f = filter(None, Some("secret"));
        let event = |kind: &str, name: &str| crate::docker::types::Event {
            kind: Some(kind.into()),
            action: Some("start".into()),
            actor: Some(crate::docker::types::Actor {
                id: Some("id".into()),
                attributes: Some(labels(&[("name", name)])),
            }),
            time: None,
            time_nano: None,
            health_status: None,
        };
        assert!(!f.admits_event(&event("container", "secret")));
        assert!(f.admits_event(&event("container", "public")));
        assert!(
            f.admits_event(&event("network", "secret")),
            "only container events"
        );
    }

    #[test]
    fn a_bad_pattern_names_itself() {
        let err = Pattern::new("([").unwrap_err().to_string();
        assert!(err.contains("\"([\""), "{err}");
    }
}
