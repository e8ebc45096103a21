//! The CRI container log format, as the shim writes it and the log
//! endpoint reads it: one entry per line,
//! `<RFC3339Nano timestamp> <stdout|stderr> <P|F> <content>`, where `P`
//! marks a partial line (a long line split by the writer) and `F` a full
//! one. Parsing is pure and total (any byte string is handled without
//! panicking), which the `cri_log` fuzz target checks.

/// Width of the counter that tells apart rotations of a log within one
/// second; fixed so that names keep sorting as strings (a million
/// rotations in a second cannot happen: each costs a directory scan, a
/// rename and an open).
pub const COUNTER_WIDTH: usize = 6;
/// Length of kubelet's rotation stamp `YYYYMMDD-HHMMSS`.
const STAMP_LEN: usize = 15;

/// Whether `name` is a rotated copy of the log file named `live`:
/// `<live>.<YYYYMMDD-HHMMSS>` with an optional `.<counter>`.
pub fn is_rotated(live: &str, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(live).and_then(|r| r.strip_prefix('.')) else {
        return false;
    };
    let (stamp, counter) = match rest.split_once('.') {
        Some((s, c)) => (s, Some(c)),
        None => (rest, None),
    };
    let stamp_ok = stamp.len() == STAMP_LEN
        && stamp.bytes().enumerate().all(|(i, b)| if i == 8 { b == b'-' } else { b.is_ascii_digit() });
    stamp_ok && counter.is_none_or(|c| c.len() == COUNTER_WIDTH && c.bytes().all(|b| b.is_ascii_digit()))
}

/// One parsed CRI log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry<'a> {
    pub timestamp: &'a str,
    pub stream: &'a str,
    pub partial: bool,
    pub content: &'a [u8],
}

/// Parse `<RFC3339Nano> <stdout|stderr> <P|F> <content>` (without the
/// newline). As kubelet does, any tag other than `P` is a full line; a
/// line with an unknown stream or fewer than three fields is `None`.
pub fn parse_line(line: &[u8]) -> Option<LogEntry<'_>> {
    let mut it = line.splitn(4, |b| *b == b' ');
    let ts = std::str::from_utf8(it.next()?).ok()?;
    let stream = std::str::from_utf8(it.next()?).ok()?;
    if stream != "stdout" && stream != "stderr" {
        return None;
    }
    let tag = it.next()?;
    let content = it.next().unwrap_or(b"");
    Some(LogEntry { timestamp: ts, stream, partial: tag == b"P", content })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        type Want<'a> = Option<(&'a str, &'a str, bool, &'a [u8])>;
        let cases: &[(&[u8], Want<'_>)] = &[
            (
                b"2016-10-06T00:17:09.669794202Z stdout F hello world",
                Some(("2016-10-06T00:17:09.669794202Z", "stdout", false, b"hello world")),
            ),
            (b"2016 stderr P x", Some(("2016", "stderr", true, b"x"))),
            (b"2016 stdout F", Some(("2016", "stdout", false, b""))),
            // Content keeps its spaces and any bytes.
            (b"t stdout F  a  b \xff", Some(("t", "stdout", false, b" a  b \xff"))),
            (b"t stdout X y", Some(("t", "stdout", false, b"y"))),
            (b"garbage", None),
            (b"2016 other F x", None),
            (b"2016 stdout", None),
            (b"", None),
            (b"\xff stdout F x", None),
        ];
        for (line, want) in cases {
            let got = parse_line(line).map(|e| (e.timestamp, e.stream, e.partial, e.content));
            assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(line));
        }
    }
}
