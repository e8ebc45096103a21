//! Human-readable durations, sizes and timestamps, as kubectl and podman
//! print them.

use jiff::{Timestamp, tz::TimeZone};

/// kubectl's `duration.HumanDuration` (AGE columns, describe's event ages):
/// `45s`, `2m30s`, `12m`, `5h10m`, `30h`, `3d4h`, `40d`, `2y100d`, `9y`.
pub fn k8s_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

/// Age of an RFC 3339 timestamp relative to `now`, kubectl style;
/// `<unknown>` when absent or unparsable.
pub fn age_since(ts: Option<&str>, now: Timestamp) -> String {
    match ts.and_then(|t| t.parse::<Timestamp>().ok()) {
        Some(t) => k8s_duration(now.as_second() - t.as_second()),
        None => "<unknown>".into(),
    }
}

/// go-units `HumanDuration` + " ago", as podman prints CREATED.
pub fn podman_ago(secs: i64) -> String {
    let d = if secs < 1 {
        "Less than a second".to_string()
    } else if secs == 1 {
        "1 second".to_string()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if secs / 60 == 1 {
        "About a minute".to_string()
    } else if secs / 60 < 60 {
        format!("{} minutes", secs / 60)
    } else {
        // go-units rounds hours to nearest: int(d.Hours() + 0.5).
        let hours = (secs as f64 / 3600.0 + 0.5) as i64;
        if hours == 1 {
            "About an hour".to_string()
        } else if hours < 48 {
            format!("{hours} hours")
        } else if hours < 24 * 7 * 2 {
            format!("{} days", hours / 24)
        } else if hours < 24 * 30 * 2 {
            format!("{} weeks", hours / 24 / 7)
        } else if hours < 24 * 365 * 2 {
            format!("{} months", hours / 24 / 30)
        } else {
            format!("{} years", secs / 3600 / 24 / 365)
        }
    };
    format!("{d} ago")
}

/// go-units `HumanSizeWithPrecision(size, 3)` (decimal units), as podman
/// prints SIZE: `123 B`, `1.98 MB`, `12.3 GB`.
pub fn podman_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{} {}", format_g(size, 3), UNITS[i])
}

/// Go's `%.{prec}g` for finite non-negative values: `prec` significant
/// digits, trailing zeros dropped, exponent form when the exponent is < -4
/// or >= prec (Go writes at least two exponent digits: `1e+03`).
pub fn format_g(x: f64, prec: usize) -> String {
    if x == 0.0 {
        return "0".into();
    }
    // Round to `prec` significant digits through scientific formatting.
    let sci = format!("{:.*e}", prec.saturating_sub(1), x);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let neg = x < 0.0;
    let body = if exp < -4 || exp >= prec as i32 {
        let mut m = mant.trim_start_matches('-').to_string();
        if m.contains('.') {
            m = m.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else if exp >= 0 {
        let point = exp as usize + 1;
        let mut s = if digits.len() > point {
            format!("{}.{}", &digits[..point], &digits[point..])
        } else {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        };
        if s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        s
    } else {
        let s = format!("0.{}{digits}", "0".repeat((-exp - 1) as usize));
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if neg { format!("-{body}") } else { body }
}

/// Go's `time.RFC1123Z` in the local time zone, as describe prints times:
/// `Sun, 22 Nov 2026 10:25:44 +0000`.
pub fn rfc1123z(ts: &str) -> String {
    match ts.parse::<Timestamp>() {
        Ok(t) => t.to_zoned(TimeZone::system()).strftime("%a, %d %b %Y %H:%M:%S %z").to_string(),
        Err(_) => ts.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k8s_durations() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (150, "2m30s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 600, "3h10m"),
            (8 * 3600, "8h"),
            (47 * 3600 + 3599, "47h"),
            (48 * 3600, "2d"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (800 * 86400, "2y70d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(k8s_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn age_of_timestamps() {
        let now: Timestamp = "2026-11-22T10:30:00Z".parse().unwrap();
        assert_eq!(age_since(Some("2026-11-22T10:25:00Z"), now), "5m");
        assert_eq!(age_since(None, now), "<unknown>");
        assert_eq!(age_since(Some("garbage"), now), "<unknown>");
    }

    #[test]
    fn podman_durations() {
        let cases = [
            (0, "Less than a second ago"),
            (1, "1 second ago"),
            (59, "59 seconds ago"),
            (60, "About a minute ago"),
            (300, "5 minutes ago"),
            (3600, "About an hour ago"),
            (5 * 3600, "5 hours ago"),
            (3 * 86400, "3 days ago"),
            (20 * 86400, "2 weeks ago"),
            (90 * 86400, "3 months ago"),
            (800 * 86400, "2 years ago"),
        ];
        for (secs, want) in cases {
            assert_eq!(podman_ago(secs), want, "{secs}");
        }
    }

    #[test]
    fn sizes_like_go_units() {
        let cases = [
            (0, "0 B"),
            (123, "123 B"),
            (999, "999 B"),
            (1000, "1 kB"),
            (1_984_512, "1.98 MB"),
            (5_870_000, "5.87 MB"),
            (12_345_678, "12.3 MB"),
            (123_456_789, "123 MB"),
            (999_999, "1e+03 kB"),
            (7_500_000_000, "7.5 GB"),
        ];
        for (n, want) in cases {
            assert_eq!(podman_size(n), want, "{n}");
        }
        assert_eq!(format_g(0.000012345, 3), "1.23e-05");
        assert_eq!(format_g(0.0123, 3), "0.0123");
    }
}
