//! Order statistics of a sample set: the median and p90 the benchmark
//! reports, with min/max and n so a reader can judge the spread.

use std::time::Duration;

/// A set of measurements in milliseconds (or any unit the caller keeps).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    values: Vec<f64>,
}

impl Samples {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, v: f64) {
        self.values.push(v);
    }

    pub fn push_duration(&mut self, d: Duration) {
        self.push(d.as_secs_f64() * 1000.0);
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.values.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The `p`-th percentile (0–100) by linear interpolation between the
    /// closest ranks (numpy's default), so the median of an even count is
    /// the mean of the two middle values.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let v = self.sorted();
        if v.is_empty() {
            return None;
        }
        let rank = (p / 100.0).clamp(0.0, 1.0) * (v.len() - 1) as f64;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
    }

    pub fn median(&self) -> Option<f64> {
        self.percentile(50.0)
    }

    pub fn p90(&self) -> Option<f64> {
        self.percentile(90.0)
    }

    pub fn min(&self) -> Option<f64> {
        self.sorted().first().copied()
    }

    pub fn max(&self) -> Option<f64> {
        self.sorted().last().copied()
    }

    /// `median 12.3  p90 15.0  min 10.1  max 20.2  n 20` with `unit` after each value.
    pub fn summary(&self, unit: &str) -> String {
        match (self.median(), self.p90(), self.min(), self.max()) {
            (Some(m), Some(p), Some(lo), Some(hi)) => format!(
                "median {} {unit}  p90 {} {unit}  min {} {unit}  max {} {unit}  n {}",
                fmt_num(m),
                fmt_num(p),
                fmt_num(lo),
                fmt_num(hi),
                self.len()
            ),
            _ => "no samples".into(),
        }
    }
}

/// Three significant digits, without a useless fraction for big values.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(v: &[f64]) -> Samples {
        let mut s = Samples::new();
        for x in v {
            s.push(*x);
        }
        s
    }

    #[test]
    fn percentiles() {
        let cases: &[(&[f64], f64, Option<f64>)] = &[
            (&[], 50.0, None),
            (&[7.0], 50.0, Some(7.0)),
            (&[7.0], 90.0, Some(7.0)),
            (&[3.0, 1.0, 2.0], 50.0, Some(2.0)),
            (&[4.0, 1.0, 3.0, 2.0], 50.0, Some(2.5)),
            // 10 values 1..=10: rank 0.9 * 9 = 8.1 → 9 + 0.1 * (10 - 9)
            (&[10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0], 90.0, Some(9.1)),
            (&[1.0, 2.0], 0.0, Some(1.0)),
            (&[1.0, 2.0], 100.0, Some(2.0)),
        ];
        for (values, p, want) in cases {
            let got = of(values).percentile(*p);
            match (got, want) {
                (None, None) => {}
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{values:?} p{p}: got {g}, want {w}"),
                _ => panic!("{values:?} p{p}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn summary_and_numbers() {
        assert_eq!(fmt_num(1234.4), "1234");
        assert_eq!(fmt_num(12.345), "12.3");
        assert_eq!(fmt_num(1.2345), "1.23");
        let mut s = of(&[1.0, 3.0]);
        s.push_duration(Duration::from_millis(2));
        assert_eq!(s.summary("ms"), "median 2.00 ms  p90 2.80 ms  min 1.00 ms  max 3.00 ms  n 3");
        assert_eq!(Samples::new().summary("ms"), "no samples");
    }
}
