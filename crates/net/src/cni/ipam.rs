//! What we need to know about host-local IPAM without running it: how
//! many addresses a network hands out (its capacity) and its lease files.
//!
//! host-local keeps one file per allocated address in
//! `<dataDir>/<network name>/<ip>`, holding `<container id>\r\n<ifname>`,
//! next to `last_reserved_ip.<n>` and `lock`. Ranges default to
//! `[network+1, last address]` (IPv4: the broadcast address excluded) and
//! the gateway (default `network+1`) is never handed out.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::NetError;
use crate::cni::config::NetworkList;

/// host-local's default dataDir.
pub(crate) const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// Parse `a.b.c.d/n` (or IPv6) into address and prefix length.
pub(crate) fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, prefix) = s.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some((ip, prefix))
}

/// An address with the prefix length stripped (`10.0.0.2/24` → `10.0.0.2`).
pub(crate) fn strip_prefix(addr: &str) -> &str {
    addr.split_once('/').map_or(addr, |(ip, _)| ip)
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// How many addresses host-local can allocate from one range object
/// (`subnet`, optional `rangeStart`, `rangeEnd`, `gateway`); 0 if invalid.
pub(crate) fn range_capacity(range: &Value) -> u128 {
    let Some((ip, prefix)) = range.get("subnet").and_then(Value::as_str).and_then(parse_cidr) else {
        return 0;
    };
    let bits: u32 = if ip.is_ipv4() { 32 } else { 128 };
    // host-local refuses IPv4 /31 and /32 (and IPv6 /127, /128).
    if u32::from(prefix) + 2 > bits {
        return 0;
    }
    let host_bits = bits - u32::from(prefix);
    let size: u128 = if host_bits >= 128 { u128::MAX } else { 1u128 << host_bits };
    let network = to_u128(ip) & !(size - 1);
    let last = network + (size - 1) - u128::from(ip.is_ipv4());
    let addr = |key: &str| range.get(key).and_then(Value::as_str).and_then(|s| s.parse::<IpAddr>().ok()).map(to_u128);
    let start = addr("rangeStart").unwrap_or(network + 1).max(network + 1);
    let end = addr("rangeEnd").unwrap_or(last).min(last);
    if end < start {
        return 0;
    }
    let gateway = addr("gateway").unwrap_or(network + 1);
    let n = end - start + 1;
    if (start..=end).contains(&gateway) { n - 1 } else { n }
}

/// The first host-local IPAM object of the list.
fn host_local_ipam(list: &NetworkList) -> Option<&Value> {
    list.plugins
        .iter()
        .filter_map(|p| p.raw.get("ipam"))
        .find(|i| i.get("type").and_then(Value::as_str) == Some("host-local"))
}

/// The range sets of a host-local IPAM object: `ranges`, or the legacy
/// top-level `subnet` form as one set of one range.
fn range_sets(ipam: &Value) -> Vec<Vec<Value>> {
    if let Some(sets) = ipam.get("ranges").and_then(Value::as_array) {
        return sets.iter().filter_map(|s| s.as_array().cloned()).collect();
    }
    if ipam.get("subnet").is_some() {
        return vec![vec![ipam.clone()]];
    }
    vec![]
}

/// How many pods the network can hold: each pod takes one address from
/// every range set, so the smallest set bounds it. 0 without host-local.
pub(crate) fn list_capacity(list: &NetworkList) -> u64 {
    let Some(ipam) = host_local_ipam(list) else {
        return 0;
    };
    range_sets(ipam)
        .iter()
        .map(|set| set.iter().map(range_capacity).fold(0u128, u128::saturating_add))
        .min()
        .map_or(0, |n| u64::try_from(n).unwrap_or(u64::MAX))
}

/// The IP families the list's host-local ranges allocate from.
pub(crate) fn list_families(list: &NetworkList) -> Vec<bool /* is_v6 */> {
    let mut out = Vec::new();
    if let Some(ipam) = host_local_ipam(list) {
        for r in range_sets(ipam).iter().flatten() {
            if let Some((ip, _)) = r.get("subnet").and_then(Value::as_str).and_then(parse_cidr)
                && !out.contains(&ip.is_ipv6())
            {
                out.push(ip.is_ipv6());
            }
        }
    }
    out
}

/// Directory holding the list's host-local leases, if it uses host-local.
pub(crate) fn lease_dir(list: &NetworkList) -> Option<PathBuf> {
    let ipam = host_local_ipam(list)?;
    let data_dir = ipam.get("dataDir").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or(DEFAULT_DATA_DIR);
    Some(Path::new(data_dir).join(&list.name))
}

/// One host-local allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease {
    pub ip: IpAddr,
    pub container_id: String,
    pub ifname: String,
}

/// Parse a lease file: its name is the address, its content the owner.
/// Other files (`lock`, `last_reserved_ip.0`) give `None`.
pub(crate) fn parse_lease(file_name: &str, contents: &str) -> Option<Lease> {
    let ip: IpAddr = file_name.parse().ok()?;
    let mut lines = contents.lines().map(|l| l.trim_end_matches('\r').trim());
    let container_id = lines.next().filter(|s| !s.is_empty())?.to_owned();
    let ifname = lines.next().unwrap_or_default().to_owned();
    Some(Lease { ip, container_id, ifname })
}

/// All leases in `dir` (none if it does not exist).
pub(crate) fn read_leases(dir: &Path) -> Result<Vec<Lease>, NetError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(NetError::io(format!("reading {}", dir.display()), e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| NetError::io(format!("reading {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<IpAddr>().is_err() {
            continue;
        }
        let path = entry.path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            // Released between read_dir and read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(NetError::io(format!("reading {}", path.display()), e)),
        };
        if let Some(l) = parse_lease(&name, &text) {
            out.push(l);
        }
    }
    out.sort_by_key(|l| l.ip);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cidr() {
        assert_eq!(parse_cidr("10.1.2.0/24"), Some(("10.1.2.0".parse().unwrap(), 24)));
        assert_eq!(parse_cidr("fd00::/64"), Some(("fd00::".parse().unwrap(), 64)));
        for bad in ["10.1.2.0", "10.1.2.0/33", "x/24", "10.1.2.0/-1", "fd00::/129"] {
            assert_eq!(parse_cidr(bad), None, "{bad}");
        }
        assert_eq!(strip_prefix("10.1.2.3/24"), "10.1.2.3");
        assert_eq!(strip_prefix("10.1.2.3"), "10.1.2.3");
    }

    #[test]
    fn range_capacities() {
        let cases: &[(Value, u128)] = &[
            (json!({"subnet": "10.0.0.0/24"}), 253),
            (json!({"subnet": "10.0.0.0/16"}), 65533),
            (json!({"subnet": "10.0.0.0/30"}), 1),
            (json!({"subnet": "10.0.0.0/31"}), 0),
            (json!({"subnet": "10.0.0.0/32"}), 0),
            // Host bits set: host-local masks them too.
            (json!({"subnet": "10.0.0.7/24"}), 253),
            (json!({"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.100", "rangeEnd": "10.0.0.199"}), 100),
            (json!({"subnet": "10.0.0.0/24", "gateway": "10.0.0.254"}), 253),
            (json!({"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.10", "gateway": "10.0.0.1"}), 245),
            (json!({"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.200", "rangeEnd": "10.0.0.100"}), 0),
            (json!({"subnet": "fd00::/120"}), 254),
            (json!({"subnet": "fd00::/64"}), (1u128 << 64) - 2),
            (json!({"subnet": "nope"}), 0),
            (json!({}), 0),
        ];
        for (r, want) in cases {
            assert_eq!(range_capacity(r), *want, "{r}");
        }
    }

    fn list(ipam: Value) -> NetworkList {
        let v = json!({"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","ipam":ipam},{"type":"portmap"}]});
        crate::cni::config::parse_network(&serde_json::to_vec(&v).unwrap(), Path::new("/x.conflist")).unwrap()
    }

    #[test]
    fn list_capacity_and_dirs() {
        let l = list(
            json!({"type":"host-local","ranges":[[{"subnet":"10.0.0.0/24"},{"subnet":"10.0.1.0/24"}],[{"subnet":"fd00::/120"}]],"dataDir":"/d"}),
        );
        assert_eq!(list_capacity(&l), 254);
        assert_eq!(list_families(&l), [false, true]);
        assert_eq!(lease_dir(&l), Some(PathBuf::from("/d/n")));
        let legacy = list(json!({"type":"host-local","subnet":"10.9.0.0/24"}));
        assert_eq!(list_capacity(&legacy), 253);
        assert_eq!(lease_dir(&legacy), Some(PathBuf::from("/var/lib/cni/networks/n")));
        let dhcp = list(json!({"type":"dhcp"}));
        assert_eq!(list_capacity(&dhcp), 0);
        assert_eq!(lease_dir(&dhcp), None);
        assert!(list_families(&dhcp).is_empty());
    }

    #[test]
    fn leases() {
        assert_eq!(
            parse_lease("10.0.0.5", "abc123\r\neth0"),
            Some(Lease { ip: "10.0.0.5".parse().unwrap(), container_id: "abc123".into(), ifname: "eth0".into() })
        );
        // Old host-local versions wrote only the id.
        assert_eq!(
            parse_lease("fd00::5", "abc\n").map(|l| (l.container_id, l.ifname)),
            Some(("abc".into(), String::new()))
        );
        assert_eq!(parse_lease("last_reserved_ip.0", "10.0.0.5"), None);
        assert_eq!(parse_lease("lock", ""), None);
        assert_eq!(parse_lease("10.0.0.6", ""), None);

        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("10.0.0.9"), "b\r\neth0").unwrap();
        std::fs::write(d.path().join("10.0.0.3"), "a\r\neth0").unwrap();
        std::fs::write(d.path().join("last_reserved_ip.0"), "10.0.0.9").unwrap();
        std::fs::write(d.path().join("lock"), "").unwrap();
        let got: Vec<_> = read_leases(d.path()).unwrap().into_iter().map(|l| l.container_id).collect();
        assert_eq!(got, ["a", "b"]);
        assert!(read_leases(&d.path().join("none")).unwrap().is_empty());
    }
}
