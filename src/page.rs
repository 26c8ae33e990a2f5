//! The overview page at `/`: the engine, the collectors and a table of the
//! containers, rendered from one published [`Snapshot`] (never an engine call).
//!
//! One pure function renders both the whole page and its live part (`/?part=live`),
//! which the page's small inline script fetches every few seconds and swaps in,
//! then re-applies the reader's sort and filter. With JavaScript off the page is
//! the same table, as of its loading. Every text that comes from a container or
//! the engine goes through [`escape`]; the script only reads `data-` attributes
//! and sets `textContent`, so no container text ever becomes markup.

use crate::snapshot::{label_name, ContainerEntry, Health, Snapshot, State};
use std::fmt::Write;

/// How often the page's script fetches the live part, in milliseconds.
pub const REFRESH_MS: u32 = 5000;

/// A use of a limit at or above this fraction makes a row need attention.
pub const NEAR_LIMIT: f64 = 0.9;

/// Which part of the page to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The whole document.
    Page,
    /// Only the live part (engine, collectors, containers), for the refresh.
    Live,
}

/// Renders the page (or its live part) from `snapshot` as of `now` (Unix seconds).
/// `telemetry_path` is the metrics path the page links to.
pub fn render(snapshot: &Snapshot, telemetry_path: &str, now: f64, part: Part) -> String {
    let mut out = String::with_capacity(4096 + 900 * snapshot.containers.len());
    if part == Part::Page {
        head(&mut out, telemetry_path);
    }
    live(&mut out, snapshot, now);
    if part == Part::Page {
        out.push_str(FOOT);
    }
    out
}

/// Escapes text for HTML content and double- or single-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#5c6670;--line:#d8dde3;--head:#f3f5f7;--bad:#fde8e8;--badfg:#a4161a;--warn:#fff4d6;--ok:#17803d}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ec;--bg:#15181c;--muted:#9aa4ae;--line:#2e353d;--head:#1f242a;--bad:#4a1c1f;--badfg:#ff9b9b;--warn:#43391a;--ok:#5fd38a}}
body{margin:0;padding:.75rem;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.3rem;margin:0 0 .3rem}h2{font-size:1.05rem;margin:1rem 0 .4rem}
a{color:inherit}nav a{margin-right:.9rem}
.muted{color:var(--muted)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:0}dt{color:var(--muted)}dd{margin:0}
.up{color:var(--ok);font-weight:600}.down{color:var(--badfg);font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:0 2.5rem}
#controls{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.6rem 0}
input,select{font:inherit;padding:.2rem .4rem;color:inherit;background:var(--bg);border:1px solid var(--line);border-radius:4px}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:4px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:.3rem .5rem;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;vertical-align:top}
th{background:var(--head);font-weight:600}th[data-col]{cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \25B2"}th[aria-sort=descending]::after{content:" \25BC"}
td.n{text-align:right}
#containers td:nth-child(2),#containers td:nth-child(3){white-space:normal;overflow-wrap:anywhere;min-width:8rem}
tr.attn td{background:var(--bad)}tr.attn td:first-child{box-shadow:inset 4px 0 var(--badfg)}
td.hot{color:var(--badfg);font-weight:600}
.why{display:block;font-size:.8rem;color:var(--badfg)}
.near{background:var(--warn)}
"#;

fn head(out: &mut String, telemetry_path: &str) {
    let metrics = escape(telemetry_path);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <title>Docker Exporter</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>Docker Exporter <span class=\"muted\">{version}</span></h1>\n\
         <nav><a href=\"{metrics}\">Metrics</a><a href=\"/-/healthy\">Health</a>\
         <a href=\"/-/ready\">Readiness</a>\
         <span class=\"muted\">Grafana dashboards: <code>dashboards/README.md</code> in the exporter's source</span></nav>\n\
         </header>\n\
         <form id=\"controls\" hidden>\
         <label>Name <input id=\"q\" type=\"search\" placeholder=\"filter by name\" autocomplete=\"off\"></label> \
         <label>State <select id=\"state\"><option value=\"\">any</option>\
         <option value=\"attention\">needs attention</option>{states}</select></label> \
         <label>Compose project <select id=\"project\"><option value=\"\">any</option></select></label> \
         <span id=\"shown\" class=\"muted\"></span> <span id=\"refresh\" class=\"muted\"></span>\
         </form>\n\
         <noscript><p class=\"muted\">JavaScript is off: the table is as of this page's loading; reload for news.</p></noscript>\n",
        version = env!("CARGO_PKG_VERSION"),
        states = State::ALL
            .iter()
            .map(|s| format!("<option>{}</option>", s.as_str()))
            .collect::<String>(),
    );
}

const FOOT: &str = concat!(
    "<script>\n",
    include_str!("page.js"),
    "</script>\n</body>\n</html>\n"
);

/// The refreshed part: engine, collectors and containers.
fn live(out: &mut String, s: &Snapshot, now: f64) {
    out.push_str("<main id=\"live\" data-refresh-ms=\"");
    let _ = write!(
        out,
        "{REFRESH_MS}\">\n<div class=\"grid\">\n<section><h2>Engine</h2><dl>"
    );
    let up = if s.engine_up {
        "<span class=\"up\">up</span>"
    } else {
        "<span class=\"down\">down</span>"
    };
    let _ = write!(out, "<dt>docker_up</dt><dd id=\"docker-up\">{up}</dd>");
    if let Some(e) = &s.engine {
        let _ = write!(
            out,
            "<dt>Version</dt><dd>{} {}</dd><dt>API version</dt><dd>{}</dd>\
             <dt>cgroup</dt><dd>{} (v{})</dd><dt>Host</dt><dd>{} · {} CPUs · {}</dd>",
            e.kind.display_name(),
            escape(&e.version),
            escape(&e.api_version_label),
            escape(&e.cgroup_driver),
            escape(&e.cgroup_version),
            escape(&e.os),
            e.cpus.map_or("?".into(), |c| c.to_string()),
            e.memory_bytes.map_or("?".into(), |m| bytes(m as f64)),
        );
    }
    let collected = if s.collected_at > 0.0 {
        format!("{} ago", duration(now - s.collected_at))
    } else {
        "not yet".into()
    };
    let _ = writeln!(
        out,
        "<dt>Last collection</dt><dd>{collected}</dd><dt>Event stream</dt><dd>{} \
         <span class=\"muted\">({} reconnects)</span></dd></dl></section>",
        if s.events_connected {
            "<span class=\"up\">connected</span>"
        } else {
            "<span class=\"down\">reconnecting</span>"
        },
        s.event_stream_reconnects,
    );
    out.push_str(
        "<section><h2>Collectors</h2><table id=\"collectors\"><thead><tr><th>collector</th>\
         <th>last run</th><th>success</th><th>errors</th></tr></thead><tbody>",
    );
    for (name, c) in &s.collectors {
        let _ = write!(
            out,
            "<tr><td>{name}</td><td class=\"n\">{:.3} s</td><td>{}</td><td class=\"n\">{}</td></tr>",
            c.duration_seconds,
            if c.success {
                "<span class=\"up\">yes</span>"
            } else {
                "<span class=\"down\">no</span>"
            },
            c.errors_total,
        );
    }
    out.push_str("</tbody></table></section>\n</div>\n");
    let _ = write!(
        out,
        "<h2>Containers <span class=\"muted\">({})</span></h2>\n<div class=\"scroll\">\
         <table id=\"containers\"><thead><tr>",
        s.containers.len()
    );
    for (i, (title, _)) in COLUMNS.iter().enumerate() {
        let _ = write!(out, "<th data-col=\"{i}\">{title}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for entry in &s.containers {
        row(out, entry, now);
    }
    out.push_str("</tbody></table></div>\n</main>\n");
}

/// The container table's columns: title, and whether it is numeric.
const COLUMNS: [(&str, bool); 14] = [
    ("Name", false),
    ("Compose", false),
    ("Image", false),
    ("State", false),
    ("Health", false),
    ("Exit", true),
    ("Restarts", true),
    ("OOM", false),
    ("Uptime", true),
    ("CPU", true),
    ("Memory", true),
    ("Net rx", true),
    ("Net tx", true),
    ("PIDs", true),
];

/// One cell: its sort value (`data-v`), its text (already escaped), and whether
/// it is the reason the row needs attention.
struct Cell {
    sort: String,
    text: String,
    hot: bool,
}

impl Cell {
    fn text(s: &str) -> Cell {
        Cell {
            sort: escape(s),
            text: escape(s),
            hot: false,
        }
    }
    fn num(v: Option<f64>, text: String) -> Cell {
        Cell {
            sort: v.map_or(String::new(), |v| format!("{v}")),
            text,
            hot: false,
        }
    }
    fn hot(mut self, hot: bool) -> Cell {
        self.hot = hot;
        self
    }
}

/// `used` of `limit` as text and whether it is near the limit (0 = unlimited).
fn against(used: f64, limit: f64, fmt: fn(f64) -> String) -> (String, bool) {
    if limit > 0.0 {
        let ratio = used / limit;
        (
            format!("{} / {} ({:.0}%)", fmt(used), fmt(limit), ratio * 100.0),
            ratio >= NEAR_LIMIT,
        )
    } else {
        (fmt(used), false)
    }
}

fn row(out: &mut String, entry: &ContainerEntry, now: f64) {
    let c = &entry.container;
    let label = |key: &str| {
        let name = label_name(key);
        c.labels
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    };
    let project = label("com.docker.compose.project").unwrap_or("");
    let service = label("com.docker.compose.service").unwrap_or("");
    let stats = entry.stats.as_deref();
    let rates = stats.and_then(|s| s.rates());
    let mut why: Vec<&str> = Vec::new();

    let bad_exit = matches!(c.state, State::Exited | State::Dead) && c.exit_code != 0;
    let cpu = {
        let cores = rates.and_then(|r| r.cpu_cores);
        let quota = c
            .spec
            .cpu_quota
            .filter(|q| *q > 0 && c.spec.cpu_period > 0)
            .map(|q| q as f64 / c.spec.cpu_period as f64);
        let (text, near) = match (cores, quota) {
            (Some(u), Some(q)) => against(u, q, |v| format!("{v:.2}")),
            (Some(u), None) => (format!("{u:.2}"), false),
            (None, Some(q)) => (format!("– / {q:.2}"), false),
            (None, None) => (String::new(), false),
        };
        if near {
            why.push("near CPU quota");
        }
        Cell::num(cores, text).hot(near)
    };
    let memory = {
        let ws = stats
            .and_then(|s| s.memory.as_ref())
            .and_then(|m| m.working_set);
        match ws {
            Some(ws) => {
                let (text, near) = against(ws as f64, c.spec.memory_limit as f64, bytes);
                if near {
                    why.push("near memory limit");
                }
                Cell::num(Some(ws as f64), text).hot(near)
            }
            None => Cell::num(None, String::new()),
        }
    };
    let pids = match stats.and_then(|s| s.pids_current) {
        Some(p) => {
            let limit = stats.and_then(|s| s.pids_limit).unwrap_or(0);
            let (text, near) = against(p as f64, limit as f64, |v| format!("{v}"));
            if near {
                why.push("near PIDs limit");
            }
            Cell::num(Some(p as f64), text).hot(near)
        }
        None => Cell::num(None, String::new()),
    };
    let rate =
        |v: Option<f64>| Cell::num(v, v.map_or(String::new(), |v| format!("{}/s", bytes(v))));
    let uptime = c
        .started_at
        .filter(|_| c.state.is_live())
        .map(|t| (now - t).max(0.0));

    let state_hot = matches!(c.state, State::Restarting | State::Paused | State::Dead);
    if state_hot {
        why.push(c.state.as_str());
    }
    if bad_exit {
        why.push("exited non-zero");
    }
    if c.oom_killed {
        why.push("OOM-killed");
    }
    if c.health == Health::Unhealthy {
        why.push("unhealthy");
    }
    let compose = match (project, service) {
        ("", "") => String::new(),
        (p, "") => p.to_string(),
        (p, s) => format!("{p} / {s}"),
    };
    let cells = [
        Cell {
            sort: escape(&c.name),
            text: if why.is_empty() {
                escape(&c.name)
            } else {
                format!(
                    "{}<span class=\"why\">{}</span>",
                    escape(&c.name),
                    why.join(", ")
                )
            },
            hot: false,
        },
        Cell::text(&compose),
        Cell::text(&c.image),
        Cell::text(c.state.as_str()).hot(state_hot),
        Cell::text(if c.health == Health::None {
            ""
        } else {
            c.health.as_str()
        })
        .hot(c.health == Health::Unhealthy),
        if matches!(c.state, State::Exited | State::Dead) {
            Cell::num(Some(c.exit_code as f64), c.exit_code.to_string()).hot(bad_exit)
        } else {
            Cell::num(None, String::new())
        },
        Cell::num(Some(c.restart_count as f64), c.restart_count.to_string()),
        Cell::text(if c.oom_killed { "yes" } else { "" }).hot(c.oom_killed),
        Cell::num(uptime, uptime.map_or(String::new(), duration)),
        cpu,
        memory,
        rate(rates.map(|r| r.rx_bytes_per_second)),
        rate(rates.map(|r| r.tx_bytes_per_second)),
        pids,
    ];
    let _ = write!(
        out,
        "<tr data-name=\"{}\" data-state=\"{}\" data-project=\"{}\" data-attention=\"{}\"{}>",
        escape(&c.name),
        c.state.as_str(),
        escape(project),
        why.join(", "),
        if why.is_empty() {
            ""
        } else {
            " class=\"attn\""
        },
    );
    for (cell, (_, numeric)) in cells.iter().zip(COLUMNS) {
        let class = match (numeric, cell.hot) {
            (true, true) => " class=\"n hot\"",
            (true, false) => " class=\"n\"",
            (false, true) => " class=\"hot\"",
            (false, false) => "",
        };
        let _ = write!(
            out,
            "<td data-v=\"{}\"{class}>{}</td>",
            cell.sort, cell.text
        );
    }
    out.push_str("</tr>\n");
}

/// Bytes in binary units, e.g. `12.5 MiB`.
fn bytes(v: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = v;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A duration in seconds as `42 s`, `5 m 3 s`, `3 h 12 m`, `2 d 4 h`.
fn duration(s: f64) -> String {
    let s = s.max(0.0);
    let whole = s as u64;
    match whole {
        0..=59 => format!("{s:.1} s"),
        60..=3599 => format!("{} m {} s", whole / 60, whole % 60),
        3600..=86_399 => format!("{} h {} m", whole / 3600, whole % 3600 / 60),
        _ => format!("{} d {} h", whole / 86_400, whole % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Container, Counters, Memory, Spec, Stats};
    use std::sync::Arc;

    fn container(name: &str, state: State, labels: &[(&str, &str)]) -> Container {
        Container {
            id: format!("{name}-id"),
            cgroup_path: String::new(),
            name: name.into(),
            image: "busybox".into(),
            image_id: String::new(),
            labels: labels
                .iter()
                .map(|(k, v)| (label_name(k), v.to_string()))
                .collect(),
            state,
            health: Health::None,
            restart_count: 0,
            exit_code: 0,
            oom_killed: false,
            created: None,
            started_at: Some(1000.0),
            finished_at: None,
            spec: Spec::default(),
            pid: None,
            host_network: false,
        }
    }

    fn snapshot(entries: Vec<ContainerEntry>) -> Snapshot {
        Snapshot {
            engine_up: true,
            collected_at: 1099.0,
            containers: entries,
            ..Snapshot::default()
        }
    }

    fn entry(c: Container, stats: Option<Stats>) -> ContainerEntry {
        ContainerEntry {
            container: Arc::new(c),
            stats: stats.map(Arc::new),
        }
    }

    #[test]
    fn label_text_is_escaped_and_never_markup() {
        let hostile = "<script>alert(\"x\")</script>&'";
        let s = snapshot(vec![entry(
            container(
                "web",
                State::Running,
                &[
                    ("com.docker.compose.project", "p\"><b>"),
                    ("com.docker.compose.service", hostile),
                ],
            ),
            None,
        )]);
        let page = render(&s, "/m\"<x>", 1100.0, Part::Page);
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<b>"));
        assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
        assert!(page.contains("data-project=\"p&quot;&gt;&lt;b&gt;\""));
        assert!(page.contains("href=\"/m&quot;&lt;x&gt;\""));
        // The only script element is the page's own.
        assert_eq!(page.matches("<script").count(), 1);
    }

    #[test]
    fn rows_that_need_attention_are_flagged_with_the_reason() {
        let mut exited = container("exited", State::Exited, &[]);
        exited.exit_code = 3;
        let mut clean = container("clean", State::Exited, &[]);
        clean.exit_code = 0;
        let mut oom = container("oom", State::Exited, &[]);
        oom.exit_code = 137;
        oom.oom_killed = true;
        let mut sick = container("sick", State::Running, &[]);
        sick.health = Health::Unhealthy;
        let mut full = container("full", State::Running, &[]);
        full.spec.memory_limit = 100;
        let near = Stats {
            memory: Some(Memory {
                usage: 95,
                working_set: Some(95),
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = snapshot(vec![
            entry(exited, None),
            entry(clean, None),
            entry(oom, None),
            entry(sick, None),
            entry(container("paused", State::Paused, &[]), None),
            entry(full, Some(near)),
            entry(container("fine", State::Running, &[]), None),
        ]);
        let page = render(&s, "/metrics", 1100.0, Part::Live);
        let row = |name: &str| {
            let start = page.find(&format!("<tr data-name=\"{name}\"")).unwrap();
            page[start..start + page[start..].find("</tr>").unwrap()].to_string()
        };
        assert!(row("exited").contains("data-attention=\"exited non-zero\" class=\"attn\""));
        assert!(!row("clean").contains("attn"));
        assert!(row("oom").contains("data-attention=\"exited non-zero, OOM-killed\""));
        assert!(row("sick").contains("data-attention=\"unhealthy\""));
        assert!(row("paused").contains("data-attention=\"paused\""));
        assert!(row("full").contains("data-attention=\"near memory limit\""));
        assert!(row("full").contains("95 B / 100 B (95%)"));
        assert!(!row("fine").contains("attn"));
        assert!(!page.contains("<!DOCTYPE"), "the live part only");
    }

    #[test]
    fn cpu_rate_is_shown_against_the_quota() {
        let mut busy = container("busy", State::Running, &[]);
        busy.spec.cpu_quota = Some(50_000);
        busy.spec.cpu_period = 100_000;
        let stats = Stats {
            read_at: 12.0,
            cpu_total_ns: Some(3_000_000_000),
            previous: Some(Counters {
                read_at: 10.0,
                cpu_total_ns: Some(2_000_000_000),
                ..Default::default()
            }),
            ..Default::default()
        };
        let page = render(
            &snapshot(vec![entry(busy, Some(stats))]),
            "/metrics",
            1100.0,
            Part::Live,
        );
        assert!(
            page.contains("<td data-v=\"0.5\" class=\"n hot\">0.50 / 0.50 (100%)</td>"),
            "{page}"
        );
        assert!(page.contains("data-attention=\"near CPU quota\""));
        assert!(page.contains(">1 m 40 s</td>"), "uptime");
    }

    #[test]
    fn engine_down_and_stream_reconnecting_are_shown() {
        let mut s = snapshot(vec![]);
        s.engine_up = false;
        s.collected_at = 0.0;
        s.events_connected = false;
        s.event_stream_reconnects = 3;
        let page = render(&s, "/metrics", 1100.0, Part::Live);
        assert!(page.contains("<dd id=\"docker-up\"><span class=\"down\">down</span></dd>"));
        assert!(page.contains("<dd>not yet</dd>"));
        assert!(page.contains(
            "<span class=\"down\">reconnecting</span> <span class=\"muted\">(3 reconnects)</span>"
        ));
        s.engine_up = true;
        s.collected_at = 1098.0;
        s.events_connected = true;
        let page = render(&s, "/metrics", 1100.0, Part::Live);
        assert!(page.contains("<dd>2.0 s ago</dd>"), "{page}");
        assert!(page.contains("<span class=\"up\">connected</span>"));
    }

    #[test]
    fn the_engine_is_named() {
        let mut s = snapshot(vec![]);
        let engine = |kind| {
            Some(Arc::new(crate::snapshot::Engine {
                kind,
                version: "4.3.1".into(),
                ..Default::default()
            }))
        };
        s.engine = engine(crate::snapshot::EngineKind::Podman);
        let page = render(&s, "/metrics", 1100.0, Part::Live);
        assert!(
            page.contains("<dt>Version</dt><dd>Podman 4.3.1</dd>"),
            "{page}"
        );
        s.engine = engine(crate::snapshot::EngineKind::Docker);
        let page = render(&s, "/metrics", 1100.0, Part::Live);
        assert!(
            page.contains("<dt>Version</dt><dd>Docker 4.3.1</dd>"),
            "{page}"
        );
    }

    #[test]
    fn units() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(16.0 * 1024.0 * 1024.0), "16.0 MiB");
        assert_eq!(duration(4.25), "4.2 s");
        assert_eq!(duration(3725.0), "1 h 2 m");
        assert_eq!(duration(90_000.0), "1 d 1 h");
    }
}
