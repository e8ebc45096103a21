//! Masquerade and FORWARD accepts for the default network's whole subnet,
//! kept by the daemon instead of per pod by plugins.
//!
//! With `ipMasq` the bridge plugin makes a chain and four rules for every
//! pod and removes them again on DEL; the firewall plugin adds and removes
//! per-pod FORWARD accepts. Each is an `iptables` exec taking the xtables
//! lock: about 35 ms of a 58 ms ADD and 90 ms of a 110 ms DEL on this
//! machine, and the bound on how fast pods can be created and deleted.
//! The same traffic needs the same rules once per subnet, which is how
//! netavark, docker and kindnet's ip-masq-agent do it:
//!
//! ```text
//! nat     -A POSTROUTING -s SUBNET -m comment --comment C -j PEAPOD-MASQ-<bridge>
//!         -A PEAPOD-MASQ-<bridge> -d SUBNET -j RETURN
//!         -A PEAPOD-MASQ-<bridge> -d 224.0.0.0/4 -j RETURN
//!         -A PEAPOD-MASQ-<bridge> -j MASQUERADE
//! filter  -I FORWARD 1 -s SUBNET -m comment --comment C -j ACCEPT
//!         -I FORWARD 1 -d SUBNET -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment C -j ACCEPT
//! ```
//!
//! (the bridge plugin's per-pod chain, and the firewall plugin's per-pod
//! rules, for the whole subnet). They are ours only for the default
//! conflist the daemon wrote (see `config::load_network`); a conflist of
//! the user's keeps its own plugins' rules and gets none of these.

use crate::NetError;
use crate::cni::ipam::parse_cidr;
use crate::cni::iptables::{delete_chain, delete_rule, list_rules, rule_option, run};

/// The rules of one subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostRules {
    /// `iptables` or `ip6tables`.
    bin: &'static str,
    subnet: String,
    multicast: &'static str,
    /// The nat chain holding the masquerade decision.
    chain: String,
    /// On the two built-in chains' rules: how `remove` finds them.
    comment: String,
}

impl HostRules {
    /// `None` if `subnet` is not a CIDR (validated earlier, so not expected).
    pub fn new(network: &str, bridge: &str, subnet: &str) -> Option<Self> {
        let (addr, prefix) = parse_cidr(subnet)?;
        let (bin, multicast) = if addr.is_ipv6() { ("ip6tables", "ff00::/8") } else { ("iptables", "224.0.0.0/4") };
        Some(HostRules {
            bin,
            // As `iptables -S` prints it, so `install` recognises its rules.
            subnet: format!("{}/{prefix}", network_address(addr, prefix)),
            multicast,
            chain: chain_name(bridge),
            comment: comment(network, bridge),
        })
    }

    /// The commands that create the rules, as `iptables` arguments after
    /// `-w -t TABLE` (pure, for tests and `install`).
    pub fn commands(&self) -> Vec<(&'static str, Vec<String>)> {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
        let (subnet, chain, comment) = (self.subnet.as_str(), self.chain.as_str(), self.comment.as_str());
        vec![
            ("nat", s(&["-N", chain])),
            ("nat", s(&["-A", chain, "-d", subnet, "-j", "RETURN"])),
            ("nat", s(&["-A", chain, "-d", self.multicast, "-j", "RETURN"])),
            ("nat", s(&["-A", chain, "-j", "MASQUERADE"])),
            ("nat", s(&["-A", "POSTROUTING", "-s", subnet, "-m", "comment", "--comment", comment, "-j", chain])),
            (
                "filter",
                s(&[
                    "-I",
                    "FORWARD",
                    "1",
                    "-d",
                    subnet,
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "RELATED,ESTABLISHED",
                    "-m",
                    "comment",
                    "--comment",
                    comment,
                    "-j",
                    "ACCEPT",
                ]),
            ),
            ("filter", s(&["-I", "FORWARD", "1", "-s", subnet, "-m", "comment", "--comment", comment, "-j", "ACCEPT"])),
        ]
    }

    /// The rules as `iptables -S` lists them (`-I FORWARD 1` shows as `-A FORWARD`).
    fn listed(&self) -> Vec<Vec<String>> {
        self.commands()
            .into_iter()
            .filter_map(|(_, mut a)| match a[0].as_str() {
                "-A" => Some(a),
                "-I" => {
                    a[0] = "-A".into();
                    a.remove(2);
                    Some(a)
                }
                _ => None,
            })
            .collect()
    }

    /// Create the rules. A daemon restarted while pods run finds them in
    /// place and leaves them (no moment without masquerade); anything else
    /// of ours, like a half-made set, is removed first.
    pub async fn install(&self) -> Result<(), NetError> {
        let mut present = list_rules(self.bin, "nat").await?;
        present.extend(list_rules(self.bin, "filter").await?);
        let ours =
            |r: &Vec<String>| r.get(1) == Some(&self.chain) || rule_option(r, "--comment") == Some(&self.comment);
        let mut have: Vec<&Vec<String>> = present.iter().filter(|r| ours(r)).collect();
        let mut want = self.listed();
        have.sort();
        want.sort();
        if have.len() == want.len() && have.iter().zip(&want).all(|(h, w)| *h == w) {
            tracing::debug!(subnet = %self.subnet, "the pod network's masquerade and forward rules are in place");
            return Ok(());
        }
        self.remove().await?;
        for (table, args) in self.commands() {
            let mut all: Vec<&str> = vec!["-w", "-t", table];
            all.extend(args.iter().map(String::as_str));
            run(self.bin, &all).await?;
        }
        tracing::info!(subnet = %self.subnet, chain = %self.chain, "installed the pod network's masquerade and forward rules");
        Ok(())
    }

    /// Remove the rules; those already gone are fine. Returns how many
    /// rules of the built-in chains were removed.
    pub async fn remove(&self) -> Result<usize, NetError> {
        let mut removed = 0;
        for table in ["nat", "filter"] {
            for rule in list_rules(self.bin, table).await? {
                if rule_option(&rule, "--comment") == Some(self.comment.as_str()) {
                    delete_rule(self.bin, table, &rule).await?;
                    removed += 1;
                }
            }
        }
        delete_chain(self.bin, "nat", &self.chain).await?;
        Ok(removed)
    }
}

/// `PEAPOD-MASQ-<bridge>`: at most 27 bytes for a 15-byte interface name,
/// within iptables' 28.
fn chain_name(bridge: &str) -> String {
    format!("PEAPOD-MASQ-{bridge}")
}

/// The comment on the rules in built-in chains. The bridge makes it one
/// daemon's own: daemons side by side all call their network "peapod".
pub fn comment(network: &str, bridge: &str) -> String {
    format!("peapod network {network} bridge {bridge}")
}

/// `addr` with the host bits cleared (`10.85.0.1`/16 → `10.85.0.0`).
fn network_address(addr: std::net::IpAddr, prefix: u8) -> std::net::IpAddr {
    use std::net::IpAddr;
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_for_a_v4_and_a_v6_subnet() {
        let r = HostRules::new("peapod", "pp0", "10.85.0.0/16").unwrap();
        let lines: Vec<String> = r.commands().iter().map(|(t, a)| format!("{t} {}", a.join(" "))).collect();
        assert_eq!(
            lines,
            [
                "nat -N PEAPOD-MASQ-pp0",
                "nat -A PEAPOD-MASQ-pp0 -d 10.85.0.0/16 -j RETURN",
                "nat -A PEAPOD-MASQ-pp0 -d 224.0.0.0/4 -j RETURN",
                "nat -A PEAPOD-MASQ-pp0 -j MASQUERADE",
                "nat -A POSTROUTING -s 10.85.0.0/16 -m comment --comment peapod network peapod bridge pp0 -j \
                 PEAPOD-MASQ-pp0",
                "filter -I FORWARD 1 -d 10.85.0.0/16 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \
                 peapod network peapod bridge pp0 -j ACCEPT",
                "filter -I FORWARD 1 -s 10.85.0.0/16 -m comment --comment peapod network peapod bridge pp0 -j ACCEPT",
            ]
        );
        let r6 = HostRules::new("n", "averyverylongbr", "fd00:1::/64").unwrap();
        assert_eq!(r6.bin, "ip6tables");
        assert_eq!(r6.commands()[2].1, ["-A", "PEAPOD-MASQ-averyverylongbr", "-d", "ff00::/8", "-j", "RETURN"]);
        assert!(chain_name("averyverylongbr").len() <= 28);
        assert_eq!(HostRules::new("n", "b", "nonsense"), None);
        let listed: Vec<String> = r.listed().iter().map(|a| a.join(" ")).collect();
        assert_eq!(
            listed[4],
            "-A FORWARD -d 10.85.0.0/16 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment peapod \
             network peapod bridge pp0 -j ACCEPT"
        );
        assert_eq!(listed.len(), 6);
        // Subnets as iptables prints them.
        assert_eq!(HostRules::new("n", "b", "10.85.3.7/16").unwrap().subnet, "10.85.0.0/16");
        assert_eq!(HostRules::new("n", "b", "FD00:1::5/64").unwrap().subnet, "fd00:1::/64");
        assert_eq!(HostRules::new("n", "b", "10.1.2.3/0").unwrap().subnet, "0.0.0.0/0");
    }
}
