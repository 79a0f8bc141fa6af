//! The results: one table for people, one JSON document for machines.

use serde_json::{Map, Value};

/// One line of the table.
pub struct Row {
    pub scenario: String,
    pub measured: String,
    pub target: String,
    /// `None` when the line is informational (no target).
    pub met: Option<bool>,
}

/// Which side of its target a ratio must be on.
#[derive(Clone, Copy)]
pub enum Bound {
    AtLeast(f64),
    AtMost(f64),
}

impl Bound {
    fn met(self, value: f64) -> bool {
        match self {
            Self::AtLeast(line) => value >= line,
            Self::AtMost(line) => value <= line,
        }
    }

    fn text(self) -> String {
        match self {
            Self::AtLeast(line) => format!("≥ {line:.2}×"),
            Self::AtMost(line) => format!("≤ {line:.2}×"),
        }
    }
}

/// One headline line: edgeauth's figure divided by the same figure of what it is compared with
/// (the baseline app, or the JavaScript reference edge), both measured in this run.
pub struct Ratio {
    pub name: String,
    pub value: f64,
    /// edgeauth's and the other side's absolute figures (what `value` divides).
    pub figures: (f64, f64),
    /// edgeauth's absolute figure, with its unit.
    pub edgeauth: String,
    /// The other side's absolute figure, with its unit.
    pub other: String,
    pub target: Option<Bound>,
}

/// Everything measured in one run.
#[derive(Default)]
pub struct Report {
    ratios: Vec<Ratio>,
    rows: Vec<Row>,
    json: Map<String, Value>,
}

impl Report {
    /// A table line with a target.
    pub fn check(&mut self, scenario: &str, measured: String, target: &str, met: bool) {
        self.rows.push(Row {
            scenario: scenario.to_owned(),
            measured,
            target: target.to_owned(),
            met: Some(met),
        });
    }

    /// A table line without a target.
    pub fn info(&mut self, scenario: &str, measured: String) {
        self.rows.push(Row {
            scenario: scenario.to_owned(),
            measured,
            target: String::new(),
            met: None,
        });
    }

    /// A headline ratio (printed first, in its own table).
    pub fn ratio(&mut self, ratio: Ratio) {
        self.ratios.push(ratio);
    }

    /// Raw figures of one scenario, under `key` in the JSON document.
    pub fn record(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_owned(), value);
    }

    /// The ratio table (if any ratio was measured), then the table of absolute figures.
    pub fn table(&self) -> String {
        let mut out = String::new();
        if !self.ratios.is_empty() {
            let cells: Vec<Vec<String>> = self
                .ratios
                .iter()
                .map(|r| {
                    let (target, verdict) = match r.target {
                        Some(bound) => (bound.text(), verdict(Some(bound.met(r.value)))),
                        None => (String::new(), ""),
                    };
                    vec![
                        r.name.clone(),
                        format!("{:.2}×", r.value),
                        r.edgeauth.clone(),
                        r.other.clone(),
                        target,
                        verdict.to_owned(),
                    ]
                })
                .collect();
            out.push_str(&render(
                &[
                    "ratio (same run)",
                    "edgeauth ÷ other",
                    "edgeauth",
                    "other",
                    "target",
                    "",
                ],
                &cells,
            ));
            out.push_str("\n\n");
        }
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.scenario.clone(),
                    r.measured.clone(),
                    r.target.clone(),
                    verdict(r.met).to_owned(),
                ]
            })
            .collect();
        out.push_str(&render(&["scenario", "measured", "target", ""], &cells));
        out
    }

    /// The JSON document: every scenario's raw figures plus the table's lines.
    pub fn to_json(&self, meta: Value) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "scenario": r.scenario,
                    "measured": r.measured,
                    "target": r.target,
                    "met": r.met,
                })
            })
            .collect();
        let ratios: Vec<Value> = self
            .ratios
            .iter()
            .map(|r| {
                serde_json::json!({
                    "ratio": r.name,
                    "value": r.value,
                    "edgeauth_value": r.figures.0,
                    "other_value": r.figures.1,
                    "edgeauth": r.edgeauth,
                    "other": r.other,
                    "target": r.target.map(Bound::text),
                    "met": r.target.map(|b| b.met(r.value)),
                })
            })
            .collect();
        serde_json::json!({
            "meta": meta,
            "ratios": ratios,
            "scenarios": Value::Object(self.json.clone()),
            "table": rows,
        })
    }
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "",
    }
}

/// A Markdown table, columns padded to their widest cell.
fn render(headers: &[&str], cells: &[Vec<String>]) -> String {
    let width = |i: usize| {
        cells
            .iter()
            .map(|c| c[i].chars().count())
            .chain([headers[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..headers.len()).map(width).collect();
    let line = |row: &[&str]| {
        let mut out = String::from("|");
        for (text, width) in row.iter().zip(&widths) {
            let pad = width.saturating_sub(text.chars().count());
            out.push(' ');
            out.push_str(text);
            out.push_str(&" ".repeat(pad));
            out.push_str(" |");
        }
        out
    };
    let mut out = vec![line(headers)];
    let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push(line(&rules.iter().map(String::as_str).collect::<Vec<_>>()));
    for row in cells {
        out.push(line(&row.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratio(name: &str, ours: f64, theirs: f64, target: Option<Bound>) -> Ratio {
        Ratio {
            name: name.to_owned(),
            value: ours / theirs,
            figures: (ours, theirs),
            edgeauth: format!("{ours}"),
            other: format!("{theirs}"),
            target,
        }
    }

    #[test]
    fn ratios_lead_the_table_and_the_json_with_their_verdicts() {
        let mut report = Report::default();
        report.info("scenario row", "1 req/s".into());
        report.ratio(ratio("edge CPU", 0.54, 0.5, Some(Bound::AtMost(1.10))));
        report.ratio(ratio("login", 19.0, 1.0, Some(Bound::AtLeast(20.0))));
        report.ratio(ratio("p99", 1.0, 2.0, None));
        let table = report.table();
        let ratio_header = table.find("ratio (same run)").expect("a ratio table");
        assert!(ratio_header < table.find("scenario row").expect("the scenario table"));
        let line = |name: &str| {
            table
                .lines()
                .find(|l| l.starts_with(&format!("| {name} ")))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(line("edge CPU").contains("1.08×") && line("edge CPU").contains("met"));
        assert!(line("login").contains("19.00×") && line("login").contains("MISSED"));
        assert!(!line("p99").contains("met") && !line("p99").contains("MISSED"));
        let json = report.to_json(serde_json::json!({}));
        let ratios = json["ratios"].as_array().expect("ratios in the JSON");
        assert_eq!(ratios.len(), 3);
        assert_eq!(ratios[0]["met"], serde_json::json!(true));
        assert_eq!(ratios[1]["met"], serde_json::json!(false));
        assert_eq!(ratios[2]["met"], serde_json::Value::Null);
        assert!((ratios[0]["value"].as_f64().unwrap_or(0.0) - 1.08).abs() < 1e-9);
    }
}
