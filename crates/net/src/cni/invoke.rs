//! Running one CNI plugin: the `CNI_*` environment, the configuration on
//! stdin, the result or error object on stdout (SPEC §2, libcni's
//! `invoke` package). Plugins are exec'd directly (no shell) with
//! `tokio::process`; a plugin that hangs is killed after a timeout.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::NetError;

/// How long one plugin may run. bridge/portmap take tens of ms here;
/// the limit only stops a wedged plugin from blocking a pod forever.
pub(crate) const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// PATH for plugins when the daemon has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A CNI command (`VERSION` is only run at start-up, synchronously).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CniCommand {
    Add,
    Del,
    Check,
}

impl CniCommand {
    /// The `CNI_COMMAND` value.
    pub fn as_str(self) -> &'static str {
        match self {
            CniCommand::Add => "ADD",
            CniCommand::Del => "DEL",
            CniCommand::Check => "CHECK",
        }
    }
}

/// The parts of an invocation that become the `CNI_*` environment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Invocation<'a> {
    pub command: CniCommand,
    pub container_id: &'a str,
    /// Empty on DEL when the namespace is gone (SPEC: optional for DEL).
    pub netns: &'a str,
    pub ifname: &'a str,
    /// `CNI_ARGS`, already joined (`K=V;K=V`).
    pub cni_args: &'a str,
    /// `CNI_PATH`: plugin directories joined by `:`.
    pub cni_path: &'a str,
}

/// The environment a plugin gets on top of the daemon's own (plugins need
/// `PATH` to find `iptables`, as with libcni which appends to `os.Environ`).
pub(crate) fn plugin_env(inv: &Invocation<'_>) -> [(&'static str, String); 6] {
    [
        ("CNI_COMMAND", inv.command.as_str().to_owned()),
        ("CNI_CONTAINERID", inv.container_id.to_owned()),
        ("CNI_NETNS", inv.netns.to_owned()),
        ("CNI_IFNAME", inv.ifname.to_owned()),
        ("CNI_ARGS", inv.cni_args.to_owned()),
        ("CNI_PATH", inv.cni_path.to_owned()),
    ]
}

/// The error a failed plugin reports: its CNI error object if stdout holds
/// one, otherwise the exit status with stderr (or stdout) as the message.
pub(crate) fn parse_plugin_error(stdout: &[u8], stderr: &[u8], status: Option<i32>) -> (u32, String, String) {
    if let Ok(v) = serde_json::from_slice::<Value>(stdout)
        && let Some(msg) = v.get("msg").and_then(Value::as_str)
    {
        let code = v.get("code").and_then(Value::as_u64).and_then(|c| u32::try_from(c).ok()).unwrap_or(999);
        let details = v.get("details").and_then(Value::as_str).unwrap_or_default();
        return (code, msg.to_owned(), details.to_owned());
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
    let mut msg = text(stderr);
    if msg.is_empty() {
        msg = text(stdout);
    }
    let status = status.map_or_else(|| "killed by a signal".to_owned(), |c| format!("exit {c}"));
    if msg.is_empty() {
        msg = status;
    } else {
        msg = format!("{status}: {msg}");
    }
    (999, msg, String::new())
}

/// Run `bin` with the CNI environment and `stdin`; on success return its
/// stdout. `plugin_type` names the plugin in errors and logs.
pub(crate) async fn exec_plugin(
    bin: &Path,
    plugin_type: &str,
    inv: &Invocation<'_>,
    stdin: &[u8],
) -> Result<Vec<u8>, NetError> {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(bin);
    if std::env::var_os("PATH").is_none() {
        // Plugins exec iptables, ip6tables, … through PATH.
        cmd.env("PATH", DEFAULT_PATH);
    }
    cmd.envs(plugin_env(inv))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A timed-out (dropped) plugin must not linger.
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| NetError::io(format!("running CNI plugin {}", bin.display()), e))?;
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let write = async move {
        // A plugin may exit without reading stdin (e.g. an early error):
        // a broken pipe is not our error, its exit status tells.
        let _ = pipe.write_all(stdin).await;
        drop(pipe);
    };
    let run = async {
        let (_, out) = tokio::join!(write, child.wait_with_output());
        out
    };
    let out = match tokio::time::timeout(PLUGIN_TIMEOUT, run).await {
        Ok(out) => out.map_err(|e| NetError::io(format!("waiting for {}", bin.display()), e))?,
        Err(_) => {
            return Err(NetError::Timeout {
                plugin: plugin_type.to_owned(),
                command: inv.command.as_str().to_owned(),
                secs: PLUGIN_TIMEOUT.as_secs(),
            });
        }
    };
    tracing::debug!(
        plugin = plugin_type,
        command = inv.command.as_str(),
        container = inv.container_id,
        ms = started.elapsed().as_secs_f64() * 1e3,
        ok = out.status.success(),
        "CNI plugin ran"
    );
    if out.status.success() {
        return Ok(out.stdout);
    }
    let (code, msg, details) = parse_plugin_error(&out.stdout, &out.stderr, out.status.code());
    Err(NetError::Plugin {
        plugin: plugin_type.to_owned(),
        command: inv.command.as_str().to_owned(),
        code,
        msg,
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_is_complete() {
        let inv = Invocation {
            command: CniCommand::Del,
            container_id: "abc",
            netns: "",
            ifname: "eth0",
            cni_args: "IgnoreUnknown=1",
            cni_path: "/a:/b",
        };
        let env = plugin_env(&inv);
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CNI_COMMAND"), Some("DEL"));
        assert_eq!(get("CNI_CONTAINERID"), Some("abc"));
        assert_eq!(get("CNI_NETNS"), Some(""));
        assert_eq!(get("CNI_IFNAME"), Some("eth0"));
        assert_eq!(get("CNI_ARGS"), Some("IgnoreUnknown=1"));
        assert_eq!(get("CNI_PATH"), Some("/a:/b"));
    }

    #[test]
    fn plugin_errors() {
        // (stdout, stderr, exit code, expected (code, msg, details))
        type Case<'a> = (&'a str, &'a str, Option<i32>, (u32, &'a str, &'a str));
        let cases: &[Case] = &[
            (
                r#"{"cniVersion":"1.0.0","code":7,"msg":"invalid network config","details":"bad subnet"}"#,
                "",
                Some(1),
                (7, "invalid network config", "bad subnet"),
            ),
            (r#"{"code":999,"msg":"unknown FS magic"}"#, "log line", Some(1), (999, "unknown FS magic", "")),
            ("", "panic: boom", Some(2), (999, "exit 2: panic: boom", "")),
            ("not json", "", Some(1), (999, "exit 1: not json", "")),
            ("", "", None, (999, "killed by a signal", "")),
        ];
        for (stdout, stderr, status, (code, msg, details)) in cases {
            let got = parse_plugin_error(stdout.as_bytes(), stderr.as_bytes(), *status);
            assert_eq!(got, (*code, msg.to_string(), details.to_string()), "{stdout}");
        }
    }

    #[test]
    fn plugin_error_display_names_the_plugin() {
        let e = NetError::Plugin {
            plugin: "portmap".into(),
            command: "ADD".into(),
            code: 7,
            msg: "invalid config".into(),
            details: "must be called as chained plugin".into(),
        };
        assert_eq!(e.to_string(), "CNI plugin portmap failed (ADD): invalid config (must be called as chained plugin)");
    }

    #[tokio::test]
    async fn exec_passes_env_and_stdin() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("echoenv");
        std::fs::write(
            &bin,
            "#!/bin/sh\nprintf '{\"cmd\":\"%s\",\"id\":\"%s\",\"in\":' \"$CNI_COMMAND\" \"$CNI_CONTAINERID\"\ncat\nprintf '}'\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let inv = Invocation {
            command: CniCommand::Add,
            container_id: "c1",
            netns: "/n",
            ifname: "eth0",
            cni_args: "",
            cni_path: "",
        };
        let out = exec_plugin(&bin, "echoenv", &inv, br#"{"x":1}"#).await.unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!({"cmd":"ADD","id":"c1","in":{"x":1}}));

        let fail = d.path().join("fail");
        std::fs::write(&fail, "#!/bin/sh\necho '{\"code\":11,\"msg\":\"try again\"}'\nexit 1\n").unwrap();
        std::fs::set_permissions(&fail, std::fs::Permissions::from_mode(0o755)).unwrap();
        match exec_plugin(&fail, "fail", &inv, b"{}").await {
            Err(NetError::Plugin { plugin, code, msg, .. }) => {
                assert_eq!((plugin.as_str(), code, msg.as_str()), ("fail", 11, "try again"));
            }
            other => panic!("{other:?}"),
        }
    }
}
