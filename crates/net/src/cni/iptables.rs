//! Just enough iptables to undo what a plugin fails to undo itself.
//!
//! The bridge plugin (containernetworking/plugins ≤ 1.9, issue #810, PR
//! #1078 still open) finds the addresses whose masquerade rules it must
//! delete by looking at `eth0` inside the pod's namespace. When the
//! namespace is gone (or we must pass an empty `CNI_NETNS` because the
//! pinned file is stale), DEL releases the IPAM lease but leaves
//! `POSTROUTING -s <ip> -j CNI-<hash>` and the `CNI-<hash>` chain behind.
//! `remove_masq_chains` removes them by their comment,
//! `name: "<network>" id: "<container id>"`, which the plugin puts on
//! every rule it creates for the attachment.
//!
//! Rules are read with `iptables -S` and deleted by feeding the same tokens
//! back with `-D`, exec'd without a shell.

use crate::NetError;

/// Split one line of `iptables -S` output into arguments: whitespace
/// separated, with `"…"` quoting in which `\"` and `\\` are escapes.
pub fn split_rule(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_token = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_token = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if in_token {
                    out.push(std::mem::take(&mut cur));
                    in_token = false;
                }
            }
            c => {
                cur.push(c);
                in_token = true;
            }
        }
    }
    if in_token {
        out.push(cur);
    }
    out
}

/// The value following `flag` in a rule (`--comment`, `-j`, `-s`, …).
pub fn rule_option<'a>(rule: &'a [String], flag: &str) -> Option<&'a str> {
    rule.iter().position(|t| t == flag).and_then(|i| rule.get(i + 1)).map(String::as_str)
}

/// The comment the bridge plugin puts on an attachment's masquerade rules
/// (its `utils.FormatComment`).
pub fn attachment_comment(network: &str, container_id: &str) -> String {
    format!("name: \"{network}\" id: \"{container_id}\"")
}

pub(crate) async fn run(bin: &str, args: &[&str]) -> Result<String, NetError> {
    let out = tokio::process::Command::new(bin)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| NetError::io(format!("running {bin}"), e))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(NetError::Iptables {
        args: format!("{bin} {}", args.join(" ")),
        stderr: String::from_utf8_lossy(&out.stderr)
            .lines()
            // iptables-nft warns on every call here when legacy tables exist.
            .filter(|l| !l.starts_with("# Warning"))
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// Every `-A` rule of `table`, split into arguments.
pub async fn list_rules(bin: &str, table: &str) -> Result<Vec<Vec<String>>, NetError> {
    let text = run(bin, &["-w", "-t", table, "-S"]).await?;
    Ok(text.lines().map(split_rule).filter(|r| r.first().is_some_and(|t| t == "-A")).collect())
}

/// Names of the chains `table` has (`-N` lines).
pub async fn list_chains(bin: &str, table: &str) -> Result<Vec<String>, NetError> {
    let text = run(bin, &["-w", "-t", table, "-S"]).await?;
    Ok(text.lines().map(split_rule).filter(|r| r.len() == 2 && r[0] == "-N").map(|mut r| r.swap_remove(1)).collect())
}

/// Delete a rule given as listed by `list_rules` (`-A CHAIN …`).
pub async fn delete_rule(bin: &str, table: &str, rule: &[String]) -> Result<(), NetError> {
    let mut args: Vec<&str> = vec!["-w", "-t", table, "-D"];
    args.extend(rule.iter().skip(1).map(String::as_str));
    run(bin, &args).await.map(drop)
}

/// Flush and delete `chain`; a chain that does not exist is fine.
pub async fn delete_chain(bin: &str, table: &str, chain: &str) -> Result<(), NetError> {
    if !list_chains(bin, table).await?.iter().any(|c| c == chain) {
        return Ok(());
    }
    run(bin, &["-w", "-t", table, "-F", chain]).await?;
    run(bin, &["-w", "-t", table, "-X", chain]).await.map(drop)
}

/// A chain one attachment owns (`CNI-<hash>` of the bridge plugin, the
/// portmap and firewall plugins' per-container chains), as opposed to the
/// chains every attachment shares (`CNI-HOSTPORT-*`, `CNI-FORWARD`,
/// `CNI-ADMIN`), which flushing would break for the other pods.
pub fn is_per_pod_chain(chain: &str) -> bool {
    chain.starts_with("CNI-") && !chain.starts_with("CNI-HOSTPORT") && !matches!(chain, "CNI-FORWARD" | "CNI-ADMIN")
}

/// Remove every rule of the nat and filter tables that names `prefix` (the
/// start of a pod subnet, `10.200.3.`), then the per-pod chains those rules
/// were in or jumped to. For a clean-up after a daemon that could not clean
/// up itself (the bench, the test harness); blocking. Returns the rules it
/// removed, as `<table> <rule>`.
pub fn remove_subnet_rules(prefix: &str) -> Vec<String> {
    use std::process::{Command, Stdio};
    let mut removed = Vec::new();
    for table in ["nat", "filter"] {
        let rules = Command::new("iptables-save")
            .args(["-t", table])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut chains = std::collections::BTreeSet::new();
        for l in rules.lines().filter(|l| l.starts_with("-A") && l.contains(prefix)) {
            removed.push(format!("{table} {l}"));
            // Quoted comments hold spaces: split like the shell would.
            let rule = split_rule(l);
            chains.insert(rule[1].clone());
            if let Some(target) = rule_option(&rule, "-j") {
                chains.insert(target.to_owned());
            }
            let _ = Command::new("iptables")
                .args(["-w", "-t", table, "-D"])
                .args(&rule[1..])
                .stderr(Stdio::null())
                .output();
        }
        // Per-pod chains, and the daemon's per-network one (`hostrules`).
        let doomed: Vec<&String> = chains.iter().filter(|c| is_per_pod_chain(c) || c.starts_with("PEAPOD-")).collect();
        // Jumps to them that name no pod address (portmap's
        // `CNI-HOSTPORT-DNAT … -j CNI-DN-…`) would keep them from going.
        for l in rules.lines().filter(|l| l.starts_with("-A") && !l.contains(prefix)) {
            let rule = split_rule(l);
            if rule_option(&rule, "-j").is_some_and(|t| doomed.iter().any(|c| c.as_str() == t)) {
                removed.push(format!("{table} {l}"));
                let _ = Command::new("iptables")
                    .args(["-w", "-t", table, "-D"])
                    .args(&rule[1..])
                    .stderr(Stdio::null())
                    .output();
            }
        }
        for c in doomed {
            for op in ["-F", "-X"] {
                let _ = Command::new("iptables").args(["-w", "-t", table, op, c]).stderr(Stdio::null()).output();
            }
        }
    }
    removed
}

/// Remove the bridge plugin's masquerade rules and chains of one attachment
/// (see the module docs). Returns how many chains were removed.
pub(crate) async fn remove_masq_chains(bin: &str, network: &str, container_id: &str) -> Result<usize, NetError> {
    let comment = attachment_comment(network, container_id);
    let mut chains: Vec<String> = Vec::new();
    for rule in list_rules(bin, "nat").await? {
        if rule.get(1).map(String::as_str) != Some("POSTROUTING")
            || rule_option(&rule, "--comment") != Some(comment.as_str())
        {
            continue;
        }
        let Some(target) = rule_option(&rule, "-j").filter(|t| t.starts_with("CNI-")) else {
            continue;
        };
        let target = target.to_owned();
        delete_rule(bin, "nat", &rule).await?;
        if !chains.contains(&target) {
            chains.push(target);
        }
    }
    for c in &chains {
        delete_chain(bin, "nat", c).await?;
    }
    if !chains.is_empty() {
        tracing::info!(network, container = container_id, chains = ?chains, "removed masquerade rules the bridge plugin left");
    }
    Ok(chains.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_per_pod_chains_are_per_pod() {
        for c in ["CNI-f1627cd2db11548c8f20ef8f", "CNI-DN-f1627cd2db11548c8f20ef8f"] {
            assert!(is_per_pod_chain(c), "{c}");
        }
        for c in ["CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-DNAT", "CNI-FORWARD", "CNI-ADMIN", "POSTROUTING", "MASQUERADE"]
        {
            assert!(!is_per_pod_chain(c), "{c}");
        }
    }

    #[test]
    fn split_iptables_lines() {
        let cases: &[(&str, &[&str])] = &[
            (
                r#"-A POSTROUTING -s 10.233.0.2/32 -m comment --comment "name: \"cxnet\" id: \"id1\"" -j CNI-0fe20544c6f73d85dfd7ea0b"#,
                &[
                    "-A",
                    "POSTROUTING",
                    "-s",
                    "10.233.0.2/32",
                    "-m",
                    "comment",
                    "--comment",
                    r#"name: "cxnet" id: "id1""#,
                    "-j",
                    "CNI-0fe20544c6f73d85dfd7ea0b",
                ],
            ),
            ("-N CNI-HOSTPORT-DNAT", &["-N", "CNI-HOSTPORT-DNAT"]),
            ("-P INPUT ACCEPT", &["-P", "INPUT", "ACCEPT"]),
            (
                r#"-A X -m comment --comment "a \\ b" -j RETURN"#,
                &["-A", "X", "-m", "comment", "--comment", r"a \ b", "-j", "RETURN"],
            ),
            (r#"-A X --comment """#, &["-A", "X", "--comment", ""]),
            ("  ", &[]),
        ];
        for (line, want) in cases {
            assert_eq!(split_rule(line), *want, "{line}");
        }
    }

    #[test]
    fn options_and_comment() {
        let r = split_rule(r#"-A POSTROUTING -s 10.0.0.2/32 -m comment --comment "name: \"n\" id: \"c\"" -j CNI-x"#);
        assert_eq!(rule_option(&r, "-j"), Some("CNI-x"));
        assert_eq!(rule_option(&r, "-s"), Some("10.0.0.2/32"));
        assert_eq!(rule_option(&r, "--comment"), Some(attachment_comment("n", "c").as_str()));
        assert_eq!(rule_option(&r, "-d"), None);
    }
}
