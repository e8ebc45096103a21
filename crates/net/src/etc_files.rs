//! The files kubelet (and containerd) write for every pod and mount into
//! each container: /etc/hosts, /etc/resolv.conf, /etc/hostname. Pure text
//! generation, in kubelet's exact format.

/// kubelet's managed /etc/hosts for a pod on the pod network.
pub fn hosts_file(pod_ips: &[String], hostname: &str, fqdn: Option<&str>, aliases: &[(String, Vec<String>)]) -> String {
    let mut s = String::from("# Kubernetes-managed hosts file.\n");
    s.push_str("127.0.0.1\tlocalhost\n");
    s.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    s.push_str("fe00::0\tip6-localnet\n");
    s.push_str("fe00::0\tip6-mcastprefix\n");
    s.push_str("fe00::1\tip6-allnodes\n");
    s.push_str("fe00::2\tip6-allrouters\n");
    for ip in pod_ips {
        match fqdn {
            Some(f) if !f.is_empty() => s.push_str(&format!("{ip}\t{f}\t{hostname}\n")),
            _ => s.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    s.push_str(&host_aliases(aliases));
    s
}

/// kubelet's /etc/hosts for hostNetwork pods: the host's file plus aliases.
pub fn host_network_hosts_file(host_hosts: &str, aliases: &[(String, Vec<String>)]) -> String {
    let mut s = String::from("# Kubernetes-managed hosts file (host network).\n");
    s.push_str(host_hosts);
    if !host_hosts.ends_with('\n') && !host_hosts.is_empty() {
        s.push('\n');
    }
    s.push_str(&host_aliases(aliases));
    s
}

fn host_aliases(aliases: &[(String, Vec<String>)]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n# Entries added by HostAliases.\n");
    for (ip, names) in aliases {
        s.push_str(ip);
        for n in names {
            s.push('\t');
            s.push_str(n);
        }
        s.push('\n');
    }
    s
}

/// Parsed resolver configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolv {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// Parse resolv.conf text (nameserver, search/domain, options lines).
pub fn parse_resolv_conf(text: &str) -> Resolv {
    let mut r = Resolv::default();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("").trim();
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => r.nameservers.extend(f.next().map(str::to_owned)),
            Some("search") | Some("domain") => r.searches = f.map(str::to_owned).collect(),
            Some("options") => r.options.extend(f.map(str::to_owned)),
            _ => {}
        }
    }
    r
}

/// resolv.conf text as kubelet writes it (search, nameserver, options).
pub fn resolv_conf(r: &Resolv) -> String {
    let mut s = String::new();
    if !r.searches.is_empty() {
        s.push_str(&format!("search {}\n", r.searches.join(" ")));
    }
    for n in &r.nameservers {
        s.push_str(&format!("nameserver {n}\n"));
    }
    if !r.options.is_empty() {
        s.push_str(&format!("options {}\n", r.options.join(" ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_like_kubelet() {
        let h = hosts_file(&["10.88.0.5".into()], "web", None, &[("1.2.3.4".into(), vec!["foo".into(), "bar".into()])]);
        assert!(h.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.88.0.5\tweb\n"));
        assert!(h.ends_with("\n# Entries added by HostAliases.\n1.2.3.4\tfoo\tbar\n"));
        let h = hosts_file(&["10.0.0.2".into()], "a", Some("a.sub.default.svc.cluster.local"), &[]);
        assert!(h.contains("10.0.0.2\ta.sub.default.svc.cluster.local\ta\n"));
        let h = host_network_hosts_file("127.0.0.1 localhost", &[]);
        assert_eq!(h, "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n");
    }

    #[test]
    fn resolv_round_trip() {
        let r = parse_resolv_conf(
            "# c\nnameserver 10.0.0.1\nnameserver 10.0.0.2 ; x\nsearch a.b c.d\noptions ndots:5 edns0\n",
        );
        assert_eq!(r.nameservers, vec!["10.0.0.1", "10.0.0.2"]);
        assert_eq!(r.searches, vec!["a.b", "c.d"]);
        assert_eq!(
            resolv_conf(&r),
            "search a.b c.d\nnameserver 10.0.0.1\nnameserver 10.0.0.2\noptions ndots:5 edns0\n"
        );
    }
}
