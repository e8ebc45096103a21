//! Prometheus metric primitives (pure data: no registry, no I/O), shared
//! by the API server and the node agent for their `/metrics` text.

use std::fmt::Write;

/// Upper bounds of latency buckets, in seconds (the apiserver's, shortened).
pub const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// A Prometheus histogram with fixed buckets.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, v: f64, buckets: &[f64]) {
        if self.counts.len() != buckets.len() {
            self.counts = vec![0; buckets.len()];
        }
        for (i, b) in buckets.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    /// Write `name_bucket`, `name_sum`, `name_count` lines with `labels` (`k="v"` pairs, may be empty).
    pub fn render(&self, out: &mut String, name: &str, labels: &str, buckets: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in buckets.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_renders_cumulative_buckets() {
        let mut h = Histogram::default();
        h.observe(0.02, &[0.01, 0.1]);
        h.observe(0.5, &[0.01, 0.1]);
        let mut s = String::new();
        h.render(&mut s, "x", "", &[0.01, 0.1]);
        assert_eq!(
            s,
            "x_bucket{le=\"0.01\"} 0\nx_bucket{le=\"0.1\"} 1\nx_bucket{le=\"+Inf\"} 2\nx_sum 0.52\nx_count 2\n"
        );
    }
}
