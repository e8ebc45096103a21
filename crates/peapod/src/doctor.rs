//! `peapod doctor`: check what the node needs before it can run pods, and
//! say how to fix what is missing. `peapod serve` runs the same checks and
//! refuses to start on a fatal problem, with the same message.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args, Debug, Clone)]
pub struct DoctorArgs {
    /// The OCI runtime binary (name on PATH or a path).
    #[arg(long, default_value = "runc")]
    pub runc: PathBuf,
    /// Another runtime handler to check (repeatable), as `serve --runtime-handler NAME=PATH`.
    #[arg(long, value_name = "NAME=PATH", value_parser = crate::serve::parse_runtime_handler)]
    pub runtime_handler: Vec<(String, PathBuf)>,
    /// CNI plugin directories.
    #[arg(long, default_value = "/usr/lib/cni,/opt/cni/bin", value_delimiter = ',')]
    pub cni_plugin_dir: Vec<PathBuf>,
    /// Data directory (free disk is checked there).
    #[arg(long, default_value = "/var/lib/peapod")]
    pub data_dir: PathBuf,
    /// Configuration directory (permissions are checked).
    #[arg(long, default_value = "/etc/peapod")]
    pub config_dir: PathBuf,
    /// Skip the CNI checks (for `serve --no-cni`).
    #[arg(long)]
    pub no_cni: bool,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// Fatal problems stop `peapod serve`; warnings do not.
    pub fatal: bool,
    pub detail: String,
    pub fix: String,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, ok: true, fatal: false, detail: detail.into(), fix: String::new() }
    }
    fn problem(name: &'static str, fatal: bool, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, ok: false, fatal, detail: detail.into(), fix: fix.into() }
    }

    pub fn line(&self) -> String {
        if self.ok {
            format!("ok       {:<14} {}", self.name, self.detail)
        } else {
            let kind = if self.fatal { "PROBLEM" } else { "warning" };
            format!("{kind:<8} {:<14} {}\n         {:<14} fix: {}", self.name, self.detail, "", self.fix)
        }
    }
}

/// Find an executable by name on PATH (or take a path as it is).
pub fn which(bin: &Path) -> Option<PathBuf> {
    if bin.components().count() > 1 {
        return is_executable(bin).then(|| bin.to_path_buf());
    }
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(bin)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

pub fn run_checks(a: &DoctorArgs) -> Vec<Check> {
    let mut out = Vec::new();

    out.push(if rustix::process::geteuid().is_root() {
        Check::ok("root", "running as root")
    } else {
        Check::problem("root", true, "not running as root", "run peapod serve as root (sudo)")
    });

    // cgroups: v1 (hybrid here) or v2, with the controllers pods need.
    let unified = peapod_runtime::cgroups::is_unified();
    let needed = ["memory", "cpu", "pids"];
    let missing: Vec<&str> = if unified {
        let ctl = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
        needed.iter().copied().filter(|c| !ctl.split_whitespace().any(|x| x == *c)).collect()
    } else {
        needed.iter().copied().filter(|c| !Path::new("/sys/fs/cgroup").join(c).join("tasks").exists()).collect()
    };
    out.push(if missing.is_empty() {
        Check::ok(
            "cgroups",
            if unified { "cgroup v2 with memory, cpu, pids" } else { "cgroup v1 with memory, cpu, pids" },
        )
    } else {
        Check::problem(
            "cgroups",
            true,
            format!("missing cgroup controllers: {}", missing.join(", ")),
            "mount the cgroup hierarchies (cgroupfs) with these controllers enabled",
        )
    });

    let fs = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    out.push(if fs.lines().any(|l| l.trim_end().ends_with("overlay")) {
        Check::ok("overlayfs", "overlay filesystem available")
    } else {
        Check::problem(
            "overlayfs",
            true,
            "the kernel has no overlay filesystem",
            "load the overlay module: modprobe overlay",
        )
    });

    match which(&a.runc) {
        Some(p) => {
            let v = Command::new(&p)
                .arg("--version")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_owned());
            match v {
                Some(v) if !v.is_empty() => out.push(Check::ok("runc", format!("{} ({v})", p.display()))),
                _ => out.push(Check::problem(
                    "runc",
                    true,
                    format!("{} does not answer --version", p.display()),
                    "reinstall it: apt-get install runc",
                )),
            }
        }
        None => out.push(Check::problem(
            "runc",
            true,
            format!("{} not found on PATH", a.runc.display()),
            "install it: apt-get install runc (or pass --runc PATH)",
        )),
    }

    let hybrid = hybrid_cgroup_controllers();
    for (name, binary) in &a.runtime_handler {
        out.push(handler_check(name, binary, hybrid.as_deref()));
    }

    if !a.no_cni {
        let plugins = ["bridge", "host-local", "portmap"];
        let dirs: Vec<&PathBuf> = a.cni_plugin_dir.iter().filter(|d| d.is_dir()).collect();
        let missing: Vec<&str> =
            plugins.iter().copied().filter(|p| !dirs.iter().any(|d| is_executable(&d.join(p)))).collect();
        let dirs_text = a.cni_plugin_dir.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
        out.push(if dirs.is_empty() {
            Check::problem(
                "cni plugins",
                true,
                format!("no CNI plugin directory found (looked in {dirs_text})"),
                "install them: apt-get install containernetworking-plugins (or pass --cni-plugin-dir, or run with --no-cni)",
            )
        } else if !missing.is_empty() {
            Check::problem(
                "cni plugins",
                true,
                format!("missing CNI plugins in {dirs_text}: {}", missing.join(", ")),
                "install them: apt-get install containernetworking-plugins",
            )
        } else {
            Check::ok("cni plugins", format!("bridge, host-local, portmap in {}", dirs[0].display()))
        });
        out.push(match which(Path::new("iptables")) {
            Some(p) => Check::ok("iptables", p.display().to_string()),
            None => {
                Check::problem("iptables", true, "iptables not found on PATH", "install it: apt-get install iptables")
            }
        });
    }

    // Credentials directory: readable by root only.
    out.push(match std::fs::metadata(&a.config_dir) {
        Err(_) => Check::ok("permissions", format!("{} will be created (mode 0700)", a.config_dir.display())),
        Ok(m) => {
            use std::os::unix::fs::PermissionsExt;
            let kc = a.config_dir.join("kubeconfig");
            let kc_mode = std::fs::metadata(&kc).map(|m| m.permissions().mode() & 0o777).ok();
            match kc_mode {
                Some(mode) if mode & 0o077 != 0 => Check::problem(
                    "permissions",
                    false,
                    format!("{} is mode {mode:o}: other users can read the admin token", kc.display()),
                    format!("chmod 600 {}", kc.display()),
                ),
                _ if m.permissions().mode() & 0o002 != 0 => Check::problem(
                    "permissions",
                    false,
                    format!("{} is world-writable", a.config_dir.display()),
                    format!("chmod 755 {}", a.config_dir.display()),
                ),
                _ => Check::ok("permissions", format!("{} and its kubeconfig are private", a.config_dir.display())),
            }
        }
    });

    // Free disk where images and volumes go.
    let probe = a.data_dir.ancestors().find(|p| p.exists()).unwrap_or(Path::new("/")).to_path_buf();
    out.push(match rustix::fs::statvfs(&probe) {
        Ok(s) => {
            let free = s.f_bavail * s.f_frsize;
            let gib = free as f64 / (1u64 << 30) as f64;
            if free < (1u64 << 30) {
                Check::problem(
                    "disk",
                    false,
                    format!("only {gib:.1} GiB free at {}", probe.display()),
                    "free some disk space or use another --data-dir",
                )
            } else {
                Check::ok("disk", format!("{gib:.1} GiB free at {}", probe.display()))
            }
        }
        Err(e) => {
            Check::problem("disk", false, format!("cannot stat {}: {e}", probe.display()), "check the --data-dir")
        }
    });

    // Clock: certificates and timestamps need a sane time.
    let now = jiff::Timestamp::now();
    out.push(if now.as_second() > 1_700_000_000 {
        Check::ok("clock", now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
    } else {
        Check::problem("clock", true, format!("the system clock says {now}"), "set the clock (e.g. with an NTP client)")
    });
    out
}

/// The controllers on the cgroup2 mount of a hybrid host
/// (`/sys/fs/cgroup/unified`), if it has any: crun refuses to run there.
fn hybrid_cgroup_controllers() -> Option<String> {
    let unified = peapod_runtime::cgroups::is_unified();
    if unified {
        return None;
    }
    let ctl = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers").ok()?;
    let ctl = ctl.split_whitespace().collect::<Vec<_>>().join(" ");
    (!ctl.is_empty()).then_some(ctl)
}

/// One runtime handler: its binary exists and answers `--version`. A
/// missing or broken binary is fatal (a configuration mistake); crun on a
/// hybrid cgroup host (`hybrid` = the cgroup2 controllers) is a warning,
/// since every pod of that handler would fail to start.
fn handler_check(name: &str, binary: &Path, hybrid: Option<&str>) -> Check {
    let fix_config = format!("install it, or fix --runtime-handler {name}=PATH (runtimeHandlers: in the config file)");
    let Some(p) = which(binary) else {
        return Check::problem("handler", true, format!("{name}: {} not found", binary.display()), fix_config);
    };
    let version = Command::new(&p)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").trim().to_owned())
        .filter(|v| !v.is_empty());
    match (version, hybrid) {
        (None, _) => {
            Check::problem("handler", true, format!("{name}: {} does not answer --version", p.display()), fix_config)
        }
        (Some(v), Some(ctl)) if v.starts_with("crun") => Check::problem(
            "handler",
            false,
            format!(
                "{name}: {} ({v}) cannot run containers on this host: crun refuses hybrid cgroups (\"cgroups in hybrid mode not supported, drop all controllers from cgroupv2\"), and /sys/fs/cgroup/unified has: {ctl}",
                p.display()
            ),
            format!(
                "use runc (or youki built with --features v1,v2) for the {name} handler, or boot with cgroup v2 only"
            ),
        ),
        (Some(v), _) => Check::ok("handler", format!("{name}: {} ({v})", p.display())),
    }
}

/// `peapod doctor`: print every check; exit 1 if any is a problem.
pub fn main(a: DoctorArgs) -> i32 {
    let checks = run_checks(&a);
    for c in &checks {
        println!("{}", c.line());
    }
    let problems = checks.iter().filter(|c| !c.ok).count();
    if problems == 0 {
        println!("\nall checks passed");
        0
    } else {
        println!("\n{problems} problem(s) found");
        1
    }
}

/// The fatal problems, as one message for `serve` to refuse with.
pub fn fatal_problems(a: &DoctorArgs) -> Option<String> {
    let bad: Vec<String> = run_checks(a)
        .into_iter()
        .filter(|c| !c.ok && c.fatal)
        .map(|c| format!("{}: {} (fix: {})", c.name, c.detail, c.fix))
        .collect();
    (!bad.is_empty()).then(|| {
        format!("the node is not ready to run pods:\n  {}\n(run `peapod doctor` for all checks)", bad.join("\n  "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_runc_and_cni_dir_are_problems() {
        let a = DoctorArgs {
            runc: "/nonexistent/runc".into(),
            runtime_handler: vec![("crun".into(), "/nonexistent/crun".into())],
            cni_plugin_dir: vec!["/nonexistent/cni".into()],
            data_dir: "/tmp".into(),
            config_dir: "/nonexistent/etc".into(),
            no_cni: false,
        };
        let checks = run_checks(&a);
        let find = |n: &str| checks.iter().find(|c| c.name == n).unwrap().clone();
        assert!(!find("runc").ok && find("runc").fatal);
        assert!(find("runc").fix.contains("apt-get install runc"));
        assert!(!find("cni plugins").ok);
        let msg = fatal_problems(&a).unwrap();
        assert!(msg.contains("runc") && msg.contains("cni plugins"), "{msg}");
        assert!(msg.contains("handler: crun: /nonexistent/crun not found"), "{msg}");
        assert!(which(Path::new("sh")).is_some());
    }

    #[test]
    fn handler_binaries_answer_version() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = |name: &str, body: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            p
        };
        let runc = script("wrapped", "echo 'runc version 1.1.5'");
        let crun = script("crun", "echo 'crun version 1.8.1'");
        let broken = script("broken", "exit 1");
        let c = handler_check("traced", &runc, Some("hugetlb"));
        assert!(c.ok && c.detail.contains("traced:") && c.detail.contains("runc version 1.1.5"), "{c:?}");
        let c = handler_check("crun", &crun, Some("hugetlb"));
        assert!(!c.ok && !c.fatal, "a warning: {c:?}");
        assert!(c.detail.contains("hybrid cgroups") && c.detail.contains("hugetlb"), "{c:?}");
        assert!(handler_check("crun", &crun, None).ok, "fine on cgroup v2 or pure v1");
        let c = handler_check("bad", &broken, None);
        assert!(!c.ok && c.fatal && c.detail.contains("does not answer --version"), "{c:?}");
    }
}
