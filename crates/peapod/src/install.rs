//! `peapod install-service`: run the daemon under systemd. The unit uses
//! `KillMode=process`, so stopping or restarting the service stops only the
//! daemon, never the pods (the shims and containers live on, as with kubelet).

use std::path::PathBuf;
use std::process::Command;

#[derive(clap::Args, Debug, Clone)]
pub struct InstallArgs {
    /// The peapod binary the unit runs (default: this one).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Where to write peapod.service.
    #[arg(long, default_value = "/etc/systemd/system")]
    pub unit_dir: PathBuf,
    /// Extra arguments for `peapod serve` (e.g. --listen 0.0.0.0:6443).
    #[arg(long, allow_hyphen_values = true)]
    pub serve_args: Option<String>,
    /// Only write the unit; do not run systemctl.
    #[arg(long)]
    pub no_enable: bool,
}

pub fn unit_text(binary: &str, serve_args: &str) -> String {
    let args = if serve_args.is_empty() { String::new() } else { format!(" {serve_args}") };
    format!(
        "[Unit]\n\
         Description=peapod: Kubernetes Pods on this machine\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={binary} serve{args}\n\
         Restart=always\n\
         RestartSec=2\n\
         # Stop the daemon only: pods keep running and are recovered on start.\n\
         KillMode=process\n\
         Delegate=yes\n\
         TimeoutStopSec=30\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

pub fn main(a: InstallArgs) -> i32 {
    let binary = match a.binary.clone().map(Ok).unwrap_or_else(std::env::current_exe) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: locating the peapod binary: {e}");
            return 1;
        }
    };
    let unit = a.unit_dir.join("peapod.service");
    let text = unit_text(&binary.to_string_lossy(), a.serve_args.as_deref().unwrap_or(""));
    if let Err(e) = std::fs::create_dir_all(&a.unit_dir).and_then(|_| std::fs::write(&unit, text)) {
        eprintln!("error: writing {}: {e}", unit.display());
        return 1;
    }
    println!("wrote {}", unit.display());
    if a.no_enable {
        return 0;
    }
    for args in [&["daemon-reload"][..], &["enable", "--now", "peapod.service"][..]] {
        match Command::new("systemctl").args(args).status() {
            Ok(s) if s.success() => {}
            Ok(s) => {
                eprintln!("error: systemctl {} failed ({s})", args.join(" "));
                return 1;
            }
            Err(e) => {
                eprintln!(
                    "error: running systemctl: {e} (is this a systemd machine? the unit is written; start `peapod serve` another way)"
                );
                return 1;
            }
        }
    }
    println!("peapod.service enabled and started");
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_keeps_pods_running_on_stop() {
        let t = unit_text("/usr/local/bin/peapod", "--listen 0.0.0.0:6443");
        assert!(t.contains("ExecStart=/usr/local/bin/peapod serve --listen 0.0.0.0:6443\n"));
        assert!(t.contains("KillMode=process\n"));
        assert!(t.contains("WantedBy=multi-user.target"));
    }
}
