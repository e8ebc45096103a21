//! Human-readable durations, as apimachinery's `util/duration` prints them
//! for AGE and LAST SEEN columns.

use jiff::SignedDuration;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// `duration.HumanDuration`: about two significant units, e.g. `45s`,
/// `2m30s`, `15m`, `3h20m`, `30h`, `3d4h`, `40d`, `2y45d`, `10y`.
/// Up to one second in the future reads as `0s`; more is `<invalid>`.
pub fn human_duration(d: SignedDuration) -> String {
    let nanos = d.as_nanos();
    let seconds = nanos / NANOS_PER_SECOND;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// `duration.ShortHumanDuration`: one unit, e.g. `45s`, `2m`, `5h`, `3d`, `2y`.
pub fn short_human_duration(d: SignedDuration) -> String {
    let seconds = d.as_nanos() / NANOS_PER_SECOND;
    if seconds < -1 {
        "<invalid>".to_string()
    } else if seconds < 0 {
        "0s".to_string()
    } else if seconds < 60 {
        format!("{seconds}s")
    } else if seconds / 60 < 60 {
        format!("{}m", seconds / 60)
    } else if seconds / 3600 < 24 {
        format!("{}h", seconds / 3600)
    } else if seconds / 3600 < 24 * 365 {
        format!("{}d", seconds / 3600 / 24)
    } else {
        format!("{}y", seconds / 3600 / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> SignedDuration {
        SignedDuration::from_secs(s)
    }

    #[test]
    fn human_duration_table() {
        const M: i64 = 60;
        const H: i64 = 3600;
        const D: i64 = 24 * H;
        let table: &[(SignedDuration, &str)] = &[
            (SignedDuration::from_millis(-1500), "0s"),
            (secs(-2), "<invalid>"),
            (secs(0), "0s"),
            (secs(4), "4s"),
            (secs(119), "119s"),
            (secs(2 * M), "2m"),
            (secs(2 * M + 30), "2m30s"),
            (secs(9 * M + 59), "9m59s"),
            (secs(10 * M + 30), "10m"),
            (secs(179 * M), "179m"),
            (secs(3 * H), "3h"),
            (secs(3 * H + 20 * M), "3h20m"),
            (secs(8 * H + 59 * M), "8h"),
            (secs(47 * H), "47h"),
            (secs(2 * D), "2d"),
            (secs(3 * D + 4 * H), "3d4h"),
            (secs(8 * D), "8d"),
            (secs(729 * D), "729d"),
            (secs(730 * D), "2y"),
            (secs(2 * 365 * D + 45 * D), "2y45d"),
            (secs(8 * 365 * D), "8y"),
            (secs(12 * 365 * D + 100 * D), "12y"),
        ];
        for (d, want) in table {
            assert_eq!(human_duration(*d), *want, "{d:?}");
        }
    }

    #[test]
    fn short_human_duration_table() {
        let table: &[(i64, &str)] = &[
            (-5, "<invalid>"),
            (-1, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3599, "59m"),
            (3600, "1h"),
            (86399, "23h"),
            (86400, "1d"),
            (365 * 86400, "1y"),
        ];
        for (s, want) in table {
            assert_eq!(short_human_duration(secs(*s)), *want, "{s}");
        }
    }
}
