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

/// Everything measured in one run.
#[derive(Default)]
pub struct Report {
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

    /// Raw figures of one scenario, under `key` in the JSON document.
    pub fn record(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_owned(), value);
    }

    pub fn table(&self) -> String {
        let headers = ["scenario", "measured", "target", ""];
        let cells: Vec<[String; 4]> = self
            .rows
            .iter()
            .map(|r| {
                let verdict = match r.met {
                    Some(true) => "met",
                    Some(false) => "MISSED",
                    None => "",
                };
                [
                    r.scenario.clone(),
                    r.measured.clone(),
                    r.target.clone(),
                    verdict.to_owned(),
                ]
            })
            .collect();
        let width = |i: usize| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        };
        let widths = [width(0), width(1), width(2), width(3)];
        let line = |c: [&str; 4]| {
            let mut out = String::from("|");
            for (i, text) in c.iter().enumerate() {
                let pad = widths[i].saturating_sub(text.chars().count());
                out.push(' ');
                out.push_str(text);
                out.push_str(&" ".repeat(pad));
                out.push_str(" |");
            }
            out
        };
        let mut out = vec![line(headers)];
        out.push(line([
            &"-".repeat(widths[0]),
            &"-".repeat(widths[1]),
            &"-".repeat(widths[2]),
            &"-".repeat(widths[3]),
        ]));
        for c in &cells {
            out.push(line([&c[0], &c[1], &c[2], &c[3]]));
        }
        out.join("\n")
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
        serde_json::json!({
            "meta": meta,
            "scenarios": Value::Object(self.json.clone()),
            "table": rows,
        })
    }
}
