//! The benchmark's verdicts: each target of issue 7 with the measured value
//! and whether it is met, and the figures issue 4 asks for (no target),
//! printed as one table at the end of the run.

/// One target and what was measured against it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub name: String,
    pub target: String,
    pub measured: String,
    /// None when it could not be measured in this run (e.g. no podman).
    pub met: Option<bool>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub verdicts: Vec<Verdict>,
}

impl Report {
    /// Record `value` against an upper bound (`value ≤ limit` is met).
    pub fn at_most(&mut self, name: &str, value: Option<f64>, limit: f64, unit: &str, target: &str) {
        self.push(name, value, unit, target, value.map(|v| v <= limit));
    }

    /// Record `value` against a lower bound (`value ≥ limit` is met).
    pub fn at_least(&mut self, name: &str, value: Option<f64>, limit: f64, unit: &str, target: &str) {
        self.push(name, value, unit, target, value.map(|v| v >= limit));
    }

    /// Record a figure that has no target (issue 4's): printed with its
    /// value, judged neither met nor not.
    pub fn figure(&mut self, name: &str, value: Option<f64>, unit: &str) {
        self.push(name, value, unit, "(figure)", None);
    }

    fn push(&mut self, name: &str, value: Option<f64>, unit: &str, target: &str, met: Option<bool>) {
        self.verdicts.push(Verdict {
            name: name.into(),
            target: target.into(),
            measured: value.map_or_else(|| "not measured".into(), |v| format!("{}{unit}", super::stats::fmt_num(v))),
            met,
        });
    }

    /// The table, one line per target.
    pub fn render(&self) -> String {
        let w0 = self.verdicts.iter().map(|v| v.name.len()).max().unwrap_or(0);
        let w1 = self.verdicts.iter().map(|v| v.target.len()).max().unwrap_or(0);
        let w2 = self.verdicts.iter().map(|v| v.measured.len()).max().unwrap_or(0);
        let mut out = String::new();
        for v in &self.verdicts {
            let verdict = match v.met {
                Some(true) => "met",
                Some(false) => "NOT MET",
                None => "-",
            };
            out.push_str(&format!(
                "  {:w0$}  {:w1$}  {:w2$}  {verdict}\n",
                v.name,
                v.target,
                v.measured,
                w0 = w0,
                w1 = w1,
                w2 = w2
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let mut r = Report::default();
        r.at_most("start ratio", Some(0.2), 0.25, "×", "≤ 0.25×");
        r.at_least("churn", Some(8.0), 10.0, " pods/s", "≥ 10 pods/s");
        r.at_most("rss", None, 64.0, " MB", "≤ 64 MB");
        let met: Vec<Option<bool>> = r.verdicts.iter().map(|v| v.met).collect();
        assert_eq!(met, vec![Some(true), Some(false), None]);
        assert_eq!(r.verdicts[1].measured, "8.00 pods/s");
        let text = r.render();
        assert!(text.contains("NOT MET") && text.contains("not measured"), "{text}");
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn figures_have_no_verdict() {
        let mut r = Report::default();
        r.figure("exit → API", Some(42.0), " ms");
        r.figure("probe CPU", None, "%");
        assert_eq!(r.verdicts[0].measured, "42.0 ms");
        assert_eq!(r.verdicts[0].met, None);
        assert_eq!(r.verdicts[1].measured, "not measured");
        let text = r.render();
        assert!(text.contains("(figure)") && !text.contains("met"), "{text}");
    }
}
