//! Termination messages, as kubelet fills `state.terminated.message`: the
//! file the container wrote at its `terminationMessagePath` (the runtime
//! reads its last 4 KiB and reports it as the container's message); with
//! `terminationMessagePolicy: FallbackToLogsOnError`, a container that
//! failed without writing one gets the tail of its log instead (the last
//! 80 lines, at most 2 KiB).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use peapod_runtime::ContainerState;

use crate::plan::{Observed, app_containers, ephemeral_containers, init_containers};

/// kubelet's MaxContainerTerminationMessageLogLines / LogLength.
const LOG_LINES: usize = 80;
const LOG_BYTES: usize = 2 * 1024;
/// How much of the log file's end is read to find those lines.
const LOG_WINDOW: u64 = 64 * 1024;

/// Termination messages of exited containers, by container id.
pub(crate) fn termination_messages(pod: &Pod, observed: &Observed) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for c in observed.containers.iter().filter(|c| c.state == ContainerState::Exited) {
        if let Some(msg) = c.message.clone().filter(|m| !m.is_empty()) {
            out.insert(c.id.clone(), msg);
            continue;
        }
        let name = c.metadata.name.as_str();
        let spec = init_containers(pod).iter().chain(app_containers(pod)).find(|s| s.name == name);
        let policy = match spec {
            Some(s) => s.termination_message_policy.as_deref(),
            None => ephemeral_containers(pod)
                .iter()
                .find(|e| e.name == name)
                .and_then(|e| e.termination_message_policy.as_deref()),
        }
        .unwrap_or("File");
        if policy == "FallbackToLogsOnError"
            && c.exit_code != Some(0)
            && let Some(msg) = log_tail(&c.log_path)
        {
            out.insert(c.id.clone(), msg);
        }
    }
    out
}

/// The text of the last lines of a CRI log file (partial lines joined).
fn log_tail(path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(LOG_WINDOW);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.take(LOG_WINDOW).read_to_end(&mut buf).ok()?;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if start > 0 {
        // Drop the line the window cut in two.
        text = text.split_once('\n').map(|(_, rest)| rest.to_owned()).unwrap_or_default();
    }
    Some(tail_of_cri_log(&text))
}

/// `<time> <stream> <P|F> <text>` lines → the last 80 lines of text, at most 2 KiB.
pub fn tail_of_cri_log(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut partial = String::new();
    for e in text.lines().filter_map(|l| peapod_api::cri_log::parse_line(l.as_bytes())) {
        partial.push_str(&String::from_utf8_lossy(e.content));
        if !e.partial {
            lines.push(std::mem::take(&mut partial));
        }
    }
    if !partial.is_empty() {
        lines.push(partial);
    }
    let from = lines.len().saturating_sub(LOG_LINES);
    let mut msg = lines[from..].join("\n");
    if msg.len() > LOG_BYTES {
        let mut cut = msg.len() - LOG_BYTES;
        while !msg.is_char_boundary(cut) {
            cut += 1;
        }
        msg = msg[cut..].to_owned();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_log_tails() {
        let log = "2024-01-01T00:00:00Z stdout F one\n\
                   2024-01-01T00:00:01Z stderr P par\n\
                   2024-01-01T00:00:01Z stderr F tial\n\
                   2024-01-01T00:00:02Z stdout F three words here\n";
        assert_eq!(tail_of_cri_log(log), "one\npartial\nthree words here");
        let many: String = (0..100).map(|i| format!("2024-01-01T00:00:00Z stdout F line {i}\n")).collect();
        let t = tail_of_cri_log(&many);
        assert_eq!(t.lines().count(), 80);
        assert!(t.starts_with("line 20\n") && t.ends_with("line 99"));
        let long: String = (0..10).map(|_| format!("2024-01-01T00:00:00Z stdout F {}\n", "x".repeat(500))).collect();
        assert_eq!(tail_of_cri_log(&long).len(), 2048);
    }
}
