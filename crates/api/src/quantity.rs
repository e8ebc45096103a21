//! Kubernetes resource quantities (`500m`, `1.5`, `128Mi`, `1e3`), parsed
//! exactly as apimachinery's `resource.ParseQuantity` does.
//!
//! A [`Quantity`] holds its value as a signed count of nano-units in an
//! `i128`, which covers the apiserver's whole range (it caps magnitudes at
//! 2^63-1 units and rounds anything finer than 1n *up*, so a request is never
//! silently zero). The format of the suffix is kept so the canonical form
//! prints like Go's `Quantity.String()`: `1000m` → `1`, `1000` → `1k`,
//! `1536Mi` stays `1536Mi`, `0.5Gi` → `512Mi`, `1e3` stays `1e3`.
//!
//! Also here: the kubelet's conversions of CPU millicores to cgroup-v1
//! `cpu.shares` and CFS quota.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The error text apimachinery uses for a string that is not a quantity.
pub const FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// A string that is not a valid quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The shape is wrong (`ErrFormatWrong`).
    #[error("{FORMAT_ERROR}")]
    Format,
    /// The suffix is unknown (`ErrSuffix`).
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// The number cannot be represented (`ErrNumeric`).
    #[error("unable to parse numeric part of quantity")]
    Numeric,
}

/// How a quantity's suffix was written, which decides how it prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `n u m "" k M G T P E`.
    DecimalSi,
    /// `Ki Mi Gi Ti Pi Ei`.
    BinarySi,
    /// `e3`, `E-6`.
    DecimalExponent,
}

/// A parsed resource quantity.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// The apiserver's cap: 2^63-1 whole units.
const MAX_NANOS: i128 = (i64::MAX as i128) * NANOS_PER_UNIT;

impl PartialEq for Quantity {
    /// Quantities compare by value: `1` equals `1000m`.
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Quantity {
    /// Zero, in DecimalSI format.
    pub const ZERO: Quantity = Quantity { nanos: 0, format: Format::DecimalSi };

    /// Parses a quantity string (surrounding whitespace is ignored, as the
    /// JSON decoder does).
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        parse_quantity(s.trim())
    }

    /// A CPU-style quantity of `millis` thousandths.
    pub fn from_milli(millis: i64) -> Quantity {
        Quantity { nanos: millis as i128 * 1_000_000, format: Format::DecimalSi }
    }

    /// A quantity of whole units in the given format (e.g. bytes in BinarySI).
    pub fn from_units(units: i64, format: Format) -> Quantity {
        Quantity { nanos: units as i128 * NANOS_PER_UNIT, format }
    }

    /// The suffix format the quantity was written with.
    pub fn format(&self) -> Format {
        self.format
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// True for a value below zero.
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// The value in thousandths, rounded up (Go `MilliValue()`): the unit
    /// for CPU.
    pub fn as_milli(&self) -> i64 {
        saturate(ceil_div(self.nanos, 1_000_000))
    }

    /// The value in whole units, rounded up (Go `Value()`).
    pub fn value(&self) -> i64 {
        saturate(ceil_div(self.nanos, NANOS_PER_UNIT))
    }

    /// The value in whole units, rounded up: the unit for memory and
    /// storage (bytes).
    pub fn as_bytes(&self) -> i64 {
        self.value()
    }

    /// True when the value is a whole number of units.
    pub fn is_integer(&self) -> bool {
        self.nanos % NANOS_PER_UNIT == 0
    }

    /// The sum, keeping this quantity's format (Go `Add`), capped like a
    /// parsed value.
    pub fn add(&self, other: &Quantity) -> Quantity {
        Quantity { nanos: (self.nanos + other.nanos).clamp(-MAX_NANOS, MAX_NANOS), format: self.format }
    }

    /// The canonical text, as Go's `Quantity.String()`.
    pub fn to_canonical_string(&self) -> String {
        if self.nanos == 0 {
            return "0".to_string();
        }
        let mut format = self.format;
        if format == Format::BinarySi {
            // Small or fractional binary values print in decimal to avoid
            // rounding (Go CanonicalizeBytes).
            let small = self.nanos.abs() < 1024 * NANOS_PER_UNIT;
            if small || self.nanos % NANOS_PER_UNIT != 0 {
                format = Format::DecimalSi;
            }
        }
        match format {
            Format::BinarySi => {
                let mut amount = self.nanos / NANOS_PER_UNIT;
                let mut exp = 0;
                while amount % 1024 == 0 && exp < 6 {
                    amount /= 1024;
                    exp += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
                format!("{amount}{suffix}")
            }
            Format::DecimalSi | Format::DecimalExponent => {
                let mut amount = self.nanos;
                let mut exp: i32 = -9;
                while amount % 10 == 0 {
                    amount /= 10;
                    exp += 1;
                }
                // Lower the exponent to a multiple of three (Go's `%` keeps
                // the sign, hence the negative arms).
                match exp % 3 {
                    1 | -2 => {
                        amount *= 10;
                        exp -= 1;
                    }
                    2 | -1 => {
                        amount *= 100;
                        exp -= 2;
                    }
                    _ => {}
                }
                let suffix = if format == Format::DecimalExponent {
                    if exp == 0 { String::new() } else { format!("e{exp}") }
                } else {
                    match exp {
                        -9 => "n",
                        -6 => "u",
                        -3 => "m",
                        0 => "",
                        3 => "k",
                        6 => "M",
                        9 => "G",
                        12 => "T",
                        15 => "P",
                        18 => "E",
                        _ => return format!("{amount}e{exp}"),
                    }
                    .to_string()
                };
                format!("{amount}{suffix}")
            }
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical_string())
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

fn saturate(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Ceiling division for a positive divisor.
fn ceil_div(n: i128, d: i128) -> i128 {
    let q = n.div_euclid(d);
    if n.rem_euclid(d) != 0 { q + 1 } else { q }
}

/// The pieces of a quantity string, as Go's `parseQuantityString` splits it.
struct Parts<'a> {
    positive: bool,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

fn split_parts(s: &str) -> Result<Parts<'_>, QuantityError> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    if pos < end {
        match b[0] {
            b'-' => {
                positive = false;
                pos += 1;
            }
            b'+' => pos += 1,
            _ => {}
        }
    }
    // Leading zeros; a string of only zeros (or only a sign) is zero.
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok(Parts { positive, num: "0", denom: "", suffix: "" });
    }
    let num_start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let num = &s[num_start..pos];
    let mut denom = "";
    if pos < end && b[pos] == b'.' {
        pos += 1;
        let d_start = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[d_start..pos];
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return Err(QuantityError::Format);
    }
    Ok(Parts { positive, num: if num.is_empty() { "0" } else { num }, denom, suffix: &s[suffix_start..] })
}

/// (base, exponent, format) of a suffix, per Go's suffixer.
fn interpret_suffix(suffix: &str) -> Option<(u32, i32, Format)> {
    let dec = |e| Some((10, e, Format::DecimalSi));
    let bin = |e| Some((2, e, Format::BinarySi));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        s if s.len() > 1 && (s.starts_with('e') || s.starts_with('E')) => {
            let e: i32 = s[1..].parse().ok()?;
            Some((10, e, Format::DecimalExponent))
        }
        _ => None,
    }
}

fn parse_quantity(s: &str) -> Result<Quantity, QuantityError> {
    if s.is_empty() {
        return Err(QuantityError::Format);
    }
    let parts = split_parts(s)?;
    let (base, exponent, mut format) = interpret_suffix(parts.suffix).ok_or(QuantityError::Suffix)?;

    // digits = num ++ denom, an integer scaled by 10^-len(denom).
    let digits = format!("{}{}", parts.num, parts.denom);
    let digits = digits.trim_start_matches('0');
    let nonzero = !digits.is_empty();
    let mut overflow = false;
    let mut mantissa: i128 = 0;
    for d in digits.bytes() {
        match mantissa.checked_mul(10).and_then(|m| m.checked_add((d - b'0') as i128)) {
            Some(m) => mantissa = m,
            None => {
                overflow = true;
                break;
            }
        }
    }
    // value = mantissa * 10^pow10 * 2^pow2, in nano-units.
    let mut pow10: i64 = 9 - parts.denom.len() as i64;
    let mut pow2: i64 = 0;
    if base == 10 {
        pow10 += exponent as i64;
    } else {
        pow2 = exponent as i64;
    }
    let nanos = if overflow { MAX_NANOS } else { scale_round_up(mantissa, pow10, pow2, nonzero) };
    let nanos = nanos.min(MAX_NANOS);
    if format == Format::BinarySi && nanos < NANOS_PER_UNIT && nanos > 0 {
        format = Format::DecimalSi;
    }
    Ok(Quantity { nanos: if parts.positive { nanos } else { -nanos }, format })
}

/// mantissa * 10^pow10 * 2^pow2, rounded up to a whole nano, saturating at
/// the cap. Non-zero inputs never round to zero.
fn scale_round_up(mantissa: i128, pow10: i64, pow2: i64, nonzero: bool) -> i128 {
    let mut v = mantissa;
    let mut frac = false;
    for _ in 0..pow2 {
        v = match v.checked_mul(2) {
            Some(x) if x <= MAX_NANOS => x,
            _ => return MAX_NANOS,
        };
    }
    if pow10 >= 0 {
        for _ in 0..pow10 {
            v = match v.checked_mul(10) {
                Some(x) if x <= MAX_NANOS => x,
                _ => return MAX_NANOS,
            };
        }
    } else {
        for _ in 0..(-pow10) {
            if v == 0 {
                break;
            }
            if v % 10 != 0 {
                frac = true;
            }
            v /= 10;
        }
    }
    if frac || (v == 0 && nonzero) {
        v += 1;
    }
    v
}

/// cgroup-v1 `cpu.shares` for a CPU request in millicores (kubelet
/// `MilliCPUToShares`): millis*1024/1000, at least 2, at most 262144.
pub fn cpu_shares(millis: i64) -> u64 {
    const MIN_SHARES: i64 = 2;
    const MAX_SHARES: i64 = 262_144;
    if millis <= 0 {
        return MIN_SHARES as u64;
    }
    (millis.saturating_mul(1024) / 1000).clamp(MIN_SHARES, MAX_SHARES) as u64
}

/// CFS quota in microseconds for a CPU limit in millicores over `period`
/// microseconds (kubelet `MilliCPUToQuota`): 0 for no limit, else
/// millis*period/1000 but at least 1000.
pub fn cpu_quota(millis: i64, period: i64) -> i64 {
    const MIN_QUOTA: i64 = 1000;
    if millis <= 0 {
        return 0;
    }
    (millis.saturating_mul(period) / 1000).max(MIN_QUOTA)
}

/// The default CFS period (100 ms) in microseconds.
pub const DEFAULT_CPU_PERIOD: i64 = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_canonicalize() {
        // (input, canonical, milli, value)
        let table: &[(&str, &str, i64, i64)] = &[
            ("0", "0", 0, 0),
            ("500m", "500m", 500, 1),
            ("1", "1", 1000, 1),
            ("1.5", "1500m", 1500, 2),
            ("1000m", "1", 1000, 1),
            ("0.1", "100m", 100, 1),
            ("1000", "1k", 1_000_000, 1000),
            ("1200", "1200", 1_200_000, 1200),
            ("1k", "1k", 1_000_000, 1000),
            ("1M", "1M", 1_000_000_000, 1_000_000),
            ("1e3", "1e3", 1_000_000, 1000),
            ("1.5e3", "1500", 1_500_000, 1500),
            ("100e-3", "100e-3", 100, 1),
            ("1Gi", "1Gi", 1_073_741_824_000, 1_073_741_824),
            ("128Mi", "128Mi", 134_217_728_000, 134_217_728),
            ("1536Mi", "1536Mi", 1_610_612_736_000, 1_610_612_736),
            ("0.5Gi", "512Mi", 536_870_912_000, 536_870_912),
            ("0.5Ki", "512", 512_000, 512),
            ("1.5Ki", "1536", 1_536_000, 1536),
            ("1024", "1024", 1_024_000, 1024),
            ("-1", "-1", -1000, -1),
            ("-500m", "-500m", -500, 0),
            ("+2", "2", 2000, 2),
            ("0.0001", "100u", 1, 1),
            ("1n", "1n", 1, 1),
            ("0.1n", "1n", 1, 1),
            ("007", "7", 7000, 7),
            ("1E", "1E", i64::MAX, 1_000_000_000_000_000_000),
            (".5", "500m", 500, 1),
            ("1.", "1", 1000, 1),
            ("12e6", "12e6", 12_000_000_000, 12_000_000),
        ];
        for (input, canonical, milli, value) in table {
            let q = Quantity::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(q.to_string(), *canonical, "canonical of {input}");
            assert_eq!(q.as_milli(), *milli, "milli of {input}");
            assert_eq!(q.value(), *value, "value of {input}");
        }
    }

    #[test]
    fn rejects_malformed() {
        let table: &[(&str, QuantityError)] = &[
            ("", QuantityError::Format),
            ("abc", QuantityError::Format),
            ("1 Gi", QuantityError::Format),
            ("1Gx", QuantityError::Format),
            ("1K", QuantityError::Suffix),
            ("1e", QuantityError::Suffix),
            ("1mi", QuantityError::Suffix),
            ("1.2.3", QuantityError::Format),
        ];
        for (input, err) in table {
            assert_eq!(Quantity::parse(input).unwrap_err(), *err, "{input}");
        }
        assert_eq!(QuantityError::Format.to_string(), FORMAT_ERROR);
    }

    #[test]
    fn compares_by_value_and_caps() {
        assert_eq!(Quantity::parse("1").unwrap(), Quantity::parse("1000m").unwrap());
        assert!(Quantity::parse("1Gi").unwrap() > Quantity::parse("1G").unwrap());
        let huge = Quantity::parse("100E").unwrap();
        assert_eq!(huge.value(), i64::MAX);
        assert_eq!(Quantity::parse("1e-20").unwrap().to_string(), "1e-9");
        assert_eq!(Quantity::parse("0.00000000001").unwrap().to_string(), "1n");
        let sum = Quantity::parse("100m").unwrap().add(&Quantity::parse("1").unwrap());
        assert_eq!(sum.to_string(), "1100m");
    }

    #[test]
    fn cgroup_conversions() {
        for (millis, shares) in [(0, 2), (1, 2), (250, 256), (1000, 1024), (500_000, 262_144)] {
            assert_eq!(cpu_shares(millis), shares, "{millis}");
        }
        for (millis, quota) in [(0, 0), (5, 1000), (250, 25_000), (1500, 150_000)] {
            assert_eq!(cpu_quota(millis, DEFAULT_CPU_PERIOD), quota, "{millis}");
        }
    }
}
