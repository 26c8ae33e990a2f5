//! A strict parser of the two exposition formats the exporter serves: the
//! Prometheus text format 0.0.4 and OpenMetrics 1.0 text. It checks what a
//! scraper relies on (metric and label name syntax, label-value escapes, values,
//! one `# HELP`/`# TYPE` per family before its samples, the samples of a family
//! together, no duplicate series, `# EOF` last in OpenMetrics) and gives back the
//! families with their label values unescaped.
//!
//! Shared by the property tests (`tests/it/escaping.rs`) and the fuzz targets
//! (`fuzz/`, which include this file by path), so both hold the encoder to the
//! same reading.

#![allow(dead_code)]

use std::collections::HashSet;

/// Which format a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Text,
    OpenMetrics,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: Option<String>,
    pub samples: Vec<Sample>,
}

/// Parses a whole body; the error names the line.
pub fn parse(body: &str, syntax: Syntax) -> Result<Vec<Family>, String> {
    let mut families: Vec<Family> = Vec::new();
    let mut seen_families = HashSet::new();
    let mut seen_series = HashSet::new();
    let mut eof = false;
    let mut help_pending: Option<(String, String)> = None;
    for (i, line) in body.split('\n').enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", i + 1);
        if eof {
            if line.is_empty() && i + 1 == body.split('\n').count() {
                continue;
            }
            return Err(at("content after # EOF".into()));
        }
        if line.is_empty() {
            if syntax == Syntax::OpenMetrics && i + 1 != body.split('\n').count() {
                return Err(at("empty line".into()));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            match keyword {
                "EOF" if syntax == Syntax::OpenMetrics && rest.is_empty() => eof = true,
                "HELP" => {
                    let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
                    check_metric_name(name).map_err(at)?;
                    if help_pending.is_some() {
                        return Err(at("two HELP lines in a row".into()));
                    }
                    help_pending = Some((name.to_string(), unescape_help(text).map_err(at)?));
                }
                "TYPE" => {
                    let (name, kind) = rest
                        .split_once(' ')
                        .ok_or_else(|| at("TYPE without a type".into()))?;
                    check_metric_name(name).map_err(at)?;
                    let kinds: &[&str] = match syntax {
                        Syntax::Text => &["counter", "gauge", "histogram", "summary", "untyped"],
                        Syntax::OpenMetrics => &[
                            "counter",
                            "gauge",
                            "histogram",
                            "gaugehistogram",
                            "stateset",
                            "info",
                            "summary",
                            "unknown",
                        ],
                    };
                    if !kinds.contains(&kind) {
                        return Err(at(format!("unknown type {kind:?}")));
                    }
                    if !seen_families.insert(name.to_string()) {
                        return Err(at(format!("family {name} declared twice")));
                    }
                    let help = match help_pending.take() {
                        Some((n, h)) if n == name => Some(h),
                        Some((n, _)) => {
                            return Err(at(format!("HELP of {n} before TYPE of {name}")))
                        }
                        None => None,
                    };
                    families.push(Family {
                        name: name.to_string(),
                        kind: kind.to_string(),
                        help,
                        samples: Vec::new(),
                    });
                }
                "UNIT" if syntax == Syntax::OpenMetrics => {}
                _ if syntax == Syntax::Text => {} // a plain comment
                _ => return Err(at("unknown comment".into())),
            }
            continue;
        }
        if line.starts_with('#') {
            if syntax == Syntax::OpenMetrics {
                return Err(at("comment without a space".into()));
            }
            continue;
        }
        if help_pending.is_some() {
            return Err(at("HELP without TYPE".into()));
        }
        let sample = parse_sample(line).map_err(at)?;
        let family = families
            .last_mut()
            .ok_or_else(|| at("sample before any TYPE".into()))?;
        if !belongs(&sample.name, family, syntax) {
            return Err(at(format!(
                "sample {} outside its family (current: {})",
                sample.name, family.name
            )));
        }
        let mut key = sample.labels.clone();
        key.sort();
        if !seen_series.insert((sample.name.clone(), key)) {
            return Err(at("duplicate series".into()));
        }
        family.samples.push(sample);
    }
    if syntax == Syntax::OpenMetrics && !eof {
        return Err("no # EOF".into());
    }
    Ok(families)
}

fn belongs(sample: &str, family: &Family, syntax: Syntax) -> bool {
    if sample == family.name {
        return syntax == Syntax::Text
            || !matches!(
                family.kind.as_str(),
                "counter" | "info" | "histogram" | "summary"
            );
    }
    let suffixes: &[&str] = match (syntax, family.kind.as_str()) {
        (Syntax::OpenMetrics, "counter") => &["_total", "_created"],
        (Syntax::OpenMetrics, "info") => &["_info"],
        (_, "histogram") => &["_bucket", "_count", "_sum", "_created"],
        (_, "summary") => &["_count", "_sum", "_created"],
        _ => &[],
    };
    sample
        .strip_prefix(family.name.as_str())
        .is_some_and(|s| suffixes.contains(&s))
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    ok.then_some(()).ok_or(format!("bad metric name {name:?}"))
}

fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(()).ok_or(format!("bad label name {name:?}"))
}

/// HELP text: `\\` and `\n` are escapes (OpenMetrics also `\"`).
fn unescape_help(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') => out.push('"'),
            // The text format keeps other backslashes as they are.
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    Ok(out)
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| "sample without a value".to_string())?;
    let name = &line[..name_end];
    check_metric_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let label = &rest[..eq];
            check_label_name(label)?;
            if labels.iter().any(|(k, _): &(String, String)| k == label) {
                return Err(format!("label {label} twice"));
            }
            let r = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value without a quote")?;
            let (value, r) = unescape_label_value(r)?;
            labels.push((label.to_string(), value));
            rest = match r.strip_prefix(',') {
                Some(r) => r,
                None if r.starts_with('}') => r,
                None => return Err("expected , or } after a label".into()),
            };
        }
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut parts = rest.split(' ');
    let value = parse_value(parts.next().unwrap_or(""))?;
    if let Some(ts) = parts.next() {
        ts.parse::<f64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if parts.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// A quoted label value after its opening quote: `\\`, `\"` and `\n` are the
/// only escapes; returns the value and what follows its closing quote.
fn unescape_label_value(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\n' => return Err("raw newline in a label value".into()),
            '\\' => match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'n')) => out.push('\n'),
                other => return Err(format!("bad escape {other:?} in a label value")),
            },
            c => out.push(c),
        }
    }
    Err("unterminated label value".into())
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if s.is_empty()
            || s.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E') =>
        {
            Err(format!("bad value {s:?}"))
        }
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_formats_and_rejects_what_a_scraper_would() {
        let text =
            "# HELP a_total A \\\\ help\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 1\n";
        let f = parse(text, Syntax::Text).unwrap();
        assert_eq!(f[0].samples[0].label("x"), Some("q\"\\\n"));
        assert_eq!(f[0].help.as_deref(), Some("A \\ help"));
        let om = "# HELP a A.\n# TYPE a counter\na_total 1\n# EOF\n";
        assert_eq!(parse(om, Syntax::OpenMetrics).unwrap()[0].samples.len(), 1);
        for bad in [
            "# TYPE a gauge\na{x=\"\\t\"} 1\n", // bad escape
            "# TYPE a gauge\na 1\na 2\n",       // duplicate series
            "# TYPE a gauge\n# TYPE a gauge\n", // family twice
            "# TYPE a gauge\nb 1\n",            // outside its family
            "# TYPE a gauge\na{x=\"y} 1\n",     // unterminated
            "# TYPE a gauge\na{1x=\"y\"} 1\n",  // bad label name
            "# TYPE a gauge\na one\n",          // bad value
            "b 1\n",                            // no TYPE
        ] {
            assert!(parse(bad, Syntax::Text).is_err(), "{bad:?}");
        }
        assert!(
            parse("# TYPE a counter\na_total 1\n", Syntax::OpenMetrics).is_err(),
            "no EOF"
        );
        assert!(
            parse("# TYPE a counter\na 1\n# EOF\n", Syntax::OpenMetrics).is_err(),
            "no _total"
        );
    }
}
