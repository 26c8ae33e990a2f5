//! The Grafana dashboards and Prometheus rules under `dashboards/`, checked
//! without a daemon: the structure Grafana and the project require of every
//! dashboard (variables, datasource, units, descriptions, grid, rates), and
//! `promtool check rules` / `promtool test rules` on the rule files. Also the
//! readers of dashboards and PromQL that `dashboards_live.rs` uses to run every
//! panel query against a real Prometheus.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Each dashboard file and the uid it keeps (links and bookmarks use it).
pub const DASHBOARDS: [(&str, &str); 3] = [
    ("docker-overview.json", "docker-exporter-overview"),
    ("docker-container-detail.json", "docker-exporter-container"),
    ("docker-exporter.json", "docker-exporter-self"),
];

pub fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// The rule files that are loaded together (see dashboards/README.md).
pub fn rule_files() -> Vec<PathBuf> {
    let dir = dashboards_dir().join("rules");
    vec![dir.join("recording.yml"), dir.join("alerts.yml")]
}

/// Every dashboard JSON file of `dashboards/`, parsed.
pub fn load_dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dashboards_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let file = path.file_name().unwrap().to_string_lossy().to_string();
            let v: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
            out.push((file, v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// One PromQL query of a panel.
pub struct PanelQuery {
    pub dashboard: String,
    pub panel: String,
    pub expr: String,
}

/// The panels of `dashboard` that query: the top-level ones and those inside
/// (collapsed) rows.
pub fn query_panels(dashboard: &Value) -> Vec<&Value> {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| match p["type"].as_str() {
            Some("row") => p["panels"].as_array().unwrap().iter().collect(),
            _ => vec![p],
        })
        .collect()
}

/// Every target expression of every panel of `dashboard`.
pub fn panel_queries(file: &str, dashboard: &Value) -> Vec<PanelQuery> {
    let mut out = Vec::new();
    for p in query_panels(dashboard) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(PanelQuery {
                dashboard: file.to_string(),
                panel: p["title"].as_str().unwrap_or("").to_string(),
                expr: t["expr"].as_str().unwrap_or("").to_string(),
            });
        }
    }
    out
}

/// The metric names a PromQL expression reads (vector selectors), without
/// functions, aggregations, keywords, label matchers, grouping labels,
/// durations, numbers or strings.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 11] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "offset",
        "bool",
    ];
    let b = expr.as_bytes();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_group = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                while i < b.len() && b[i] != close {
                    if b[i] == b'"' {
                        i += 1;
                        while i < b.len() && b[i] != b'"' {
                            if b[i] == b'\\' {
                                i += 1;
                            }
                            i += 1;
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            b'(' if skip_group => {
                while i < b.len() && b[i] != b')' {
                    i += 1;
                }
                i += 1;
                skip_group = false;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &expr[start..i];
                let mut j = i;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                // A call, or an aggregation with its grouping first:
                // `max without (state) (…)`.
                let next = &expr[j..];
                let is_call = next.starts_with('(')
                    || next.starts_with("by ")
                    || next.starts_with("by(")
                    || next.starts_with("without ")
                    || next.starts_with("without(");
                if KEYWORDS.contains(&word) {
                    skip_group = matches!(
                        word,
                        "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                    );
                } else if !is_call {
                    names.insert(word.to_string());
                }
            }
            c if c.is_ascii_digit() => {
                // A number or a duration such as 5m: digits and letters.
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The ranges used with `rate`, `irate` and `increase` in `expr`.
fn rate_ranges(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for f in ["rate(", "increase("] {
        for (at, _) in expr.match_indices(f) {
            let rest = &expr[at..];
            let open = rest.find('[').expect("a range vector in a rate");
            let close = rest[open..].find(']').unwrap() + open;
            out.push(rest[open + 1..close].to_string());
        }
    }
    out
}

fn overlaps(a: &Value, b: &Value) -> bool {
    let r = |g: &Value| {
        (
            g["x"].as_i64().unwrap(),
            g["y"].as_i64().unwrap(),
            g["w"].as_i64().unwrap(),
            g["h"].as_i64().unwrap(),
        )
    };
    let (ax, ay, aw, ah) = r(a);
    let (bx, by, bw, bh) = r(b);
    ax < bx + bw && bx < ax + aw && ay < by + bh && by < ay + ah
}

#[test]
fn metric_names_reads_selectors_only() {
    let e = r#"sum by (job, name) (rate(container_cpu_usage_seconds_total{name=~"a|b", cpu="total"}[$__rate_interval]))
      / on (name) group_left (image) max without (state) (docker_container_state{state="running"} offset 5m) > 0.5
      or time() - docker_exporter_last_collection_timestamp_seconds  # a comment naming not_a_metric
      unless up{job="docker"} == bool 1 and container:threads:ratio_limit"#;
    let got: Vec<String> = metric_names(e).into_iter().collect();
    assert_eq!(
        got,
        [
            "container:threads:ratio_limit",
            "container_cpu_usage_seconds_total",
            "docker_container_state",
            "docker_exporter_last_collection_timestamp_seconds",
            "up"
        ]
    );
}

#[test]
fn dashboards_have_the_required_structure() {
    let all = load_dashboards();
    let files: BTreeSet<&str> = all.iter().map(|(f, _)| f.as_str()).collect();
    let expected: BTreeSet<&str> = DASHBOARDS.iter().map(|(f, _)| *f).collect();
    assert_eq!(files, expected, "the dashboards of dashboards/");
    let uids: BTreeMap<&str, &str> = DASHBOARDS.iter().copied().collect();
    let readme = std::fs::read_to_string(dashboards_dir().join("README.md")).unwrap();

    for (file, d) in &all {
        let ctx = |what: &str| format!("{file}: {what}");
        assert!(d.get("__inputs").is_none(), "{}", ctx("no __inputs block"));
        assert_eq!(
            d["uid"].as_str(),
            Some(uids[file.as_str()]),
            "{}",
            ctx("uid")
        );
        assert!(
            d["schemaVersion"].as_i64().unwrap() >= 39,
            "{}",
            ctx("schemaVersion >= 39")
        );
        assert!(d["description"].as_str().is_some_and(|s| !s.is_empty()));

        // Variables: datasource (prometheus), then job, instance, name.
        let vars = d["templating"]["list"].as_array().unwrap();
        let var = |name: &str| {
            vars.iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("{}", ctx(&format!("variable {name}"))))
        };
        let ds = var("datasource");
        assert_eq!(ds["type"], "datasource");
        assert_eq!(ds["query"], "prometheus");
        for name in ["job", "instance", "name"] {
            let v = var(name);
            assert_eq!(v["type"], "query", "{}", ctx(name));
            assert_eq!(v["multi"], true, "{}", ctx(&format!("{name} is multi")));
            assert_eq!(v["includeAll"], true, "{}", ctx(&format!("{name} has All")));
            assert_eq!(v["datasource"]["uid"], "${datasource}", "{}", ctx(name));
            assert!(v["query"]["query"]
                .as_str()
                .unwrap()
                .starts_with("label_values("));
        }

        // Rows: collapsed (their panels query nothing until opened), titled,
        // a line of their own.
        let mut ids = BTreeSet::new();
        let mut all_positions = Vec::new();
        for r in d["panels"].as_array().unwrap() {
            if r["type"] == "row" {
                assert_eq!(r["collapsed"], true, "{file}: row {}", r["title"]);
                assert!(r["title"].as_str().is_some_and(|t| !t.is_empty()));
                assert_eq!(r["gridPos"]["w"], 24);
                assert!(ids.insert(r["id"].as_i64().unwrap()), "{file}: row id");
                all_positions.push((r["title"].clone(), r["gridPos"].clone()));
            }
        }

        // Panels.
        let panels = query_panels(d);
        assert!(!panels.is_empty());
        for p in &panels {
            for (title, g) in &all_positions {
                assert!(
                    !overlaps(&p["gridPos"], g),
                    "{file}: panel {} overlaps row {title}",
                    p["title"]
                );
            }
        }
        for (i, p) in panels.iter().enumerate() {
            let title = p["title"].as_str().unwrap_or("");
            let ctx = |what: &str| format!("{file}, panel {title:?}: {what}");
            assert!(!title.is_empty(), "{}", ctx("a title"));
            assert!(
                ids.insert(p["id"].as_i64().unwrap()),
                "{}",
                ctx("unique id")
            );
            assert!(
                p["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{}",
                ctx("a description")
            );
            assert!(
                p["fieldConfig"]["defaults"]["unit"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{}",
                ctx("a unit")
            );
            assert_eq!(
                p["datasource"]["uid"],
                "${datasource}",
                "{}",
                ctx("datasource")
            );
            let g = &p["gridPos"];
            assert!(
                g["x"].as_i64().unwrap() + g["w"].as_i64().unwrap() <= 24,
                "{}",
                ctx("inside 24 columns")
            );
            for q in &panels[..i] {
                assert!(
                    !overlaps(g, &q["gridPos"]),
                    "{}",
                    ctx(&format!("overlaps {:?}", q["title"]))
                );
            }
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{}", ctx("a query"));
            for t in targets {
                assert_eq!(
                    t["datasource"]["uid"],
                    "${datasource}",
                    "{}",
                    ctx("target datasource")
                );
                let expr = t["expr"].as_str().unwrap();
                for range in rate_ranges(expr) {
                    assert_eq!(range, "$__rate_interval", "{}", ctx(expr));
                }
            }
            assert!(
                readme.contains(&format!("| {title} |")),
                "{}",
                ctx("listed in dashboards/README.md")
            );
            // Its queries too, as `node dashboards/generate.mjs --panels-md` prints them.
            for t in targets {
                let expr = t["expr"].as_str().unwrap();
                let shown = expr
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .replace('|', "\\|");
                assert!(
                    readme.contains(&format!("`{shown}`")),
                    "{}",
                    ctx(&format!("query {shown} in dashboards/README.md"))
                );
            }
            // Links to other dashboards go to one of ours, by uid.
            let text = p.to_string();
            for (at, _) in text.match_indices("/d/") {
                let uid: String = text[at + 3..]
                    .chars()
                    .take_while(|c| *c != '/' && *c != '?')
                    .collect();
                assert!(
                    uids.values().any(|u| *u == uid),
                    "{}",
                    ctx(&format!("link to unknown uid {uid}"))
                );
            }
        }
    }
}

/// The alerts of alerts.yml: (name, `for:`, severity), read from the
/// `- alert:`, `for:` and `severity:` lines of each rule.
pub fn alerts() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(dashboards_dir().join("rules/alerts.yml")).unwrap();
    let mut out: Vec<(String, String, String)> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(name) = l.strip_prefix("- alert: ") {
            out.push((name.trim().into(), String::new(), String::new()));
        } else if let (Some(last), Some(d)) = (out.last_mut(), l.strip_prefix("for: ")) {
            last.1 = d.trim().into();
        } else if let (Some(last), Some(s)) = (out.last_mut(), l.strip_prefix("severity: ")) {
            last.2 = s.trim().into();
        }
    }
    out
}

/// The alert names of alerts.yml.
pub fn alert_names() -> Vec<String> {
    alerts().into_iter().map(|a| a.0).collect()
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dashboards_dir().join("rules"))
        .output()
        .expect("promtool is installed (scripts/testbed.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn rules_pass_promtool_check_and_unit_tests() {
    let text = promtool(&[
        "check",
        "rules",
        "recording.yml",
        "alerts.yml",
        "expected-containers.example.yml",
    ]);
    assert!(!text.contains("WARNING"), "{text}");
    let text = promtool(&["test", "rules", "tests/alerts_test.yml"]);
    assert!(text.contains("SUCCESS"), "{text}");

    // The thresholds tables (header of alerts.yml, dashboards/README.md) say
    // the `for:` and severity each alert really has.
    let rules = std::fs::read_to_string(dashboards_dir().join("rules/alerts.yml")).unwrap();
    for (name, for_, severity) in alerts() {
        assert!(
            !for_.is_empty() && !severity.is_empty(),
            "{name}: for/severity"
        );
        let header = rules
            .lines()
            .find(|l| {
                l.starts_with(&format!("# | {name} ")) || l.starts_with(&format!("# | {name}|"))
            })
            .unwrap_or_else(|| panic!("{name} missing from the header table of alerts.yml"));
        let cells: Vec<&str> = header.split('|').map(str::trim).collect();
        assert_eq!(cells[3], for_, "alerts.yml header: for of {name}");
        assert_eq!(cells[4], severity, "alerts.yml header: severity of {name}");
        let readme_row = std::fs::read_to_string(dashboards_dir().join("README.md"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| {
                panic!("{name} missing from the alerts table of dashboards/README.md")
            })
            .to_string();
        let cells: Vec<&str> = readme_row.split(" | ").map(str::trim).collect();
        let n = cells.len();
        assert_eq!(cells[n - 2], for_, "dashboards/README.md: for of {name}");
        assert_eq!(
            cells[n - 1].trim_end_matches('|').trim(),
            severity,
            "dashboards/README.md: severity of {name}"
        );
    }

    // Every alert has unit tests, and a runbook entry in dashboards/README.md.
    let tests =
        std::fs::read_to_string(dashboards_dir().join("rules/tests/alerts_test.yml")).unwrap();
    let readme = std::fs::read_to_string(dashboards_dir().join("README.md")).unwrap();
    let alerts = alert_names();
    assert!(alerts.len() >= 12, "{alerts:?}");
    for a in &alerts {
        assert!(
            tests.contains(&format!("alertname: {a}\n")),
            "no promtool test of {a}"
        );
        assert!(
            readme.contains(&format!("### {a}")),
            "no runbook section of {a} in dashboards/README.md"
        );
    }
}
