//! Reading a plugin chain's final result: the pod's addresses.

use serde_json::Value;

use crate::cni::ipam::strip_prefix;

/// The addresses (without prefix length) of a CNI result, in result order.
/// Understands the 0.3.0+ `ips` list and the 0.1/0.2 `ip4`/`ip6` objects.
pub(crate) fn result_ips(result: &Value) -> Vec<String> {
    if let Some(ips) = result.get("ips").and_then(Value::as_array) {
        return ips
            .iter()
            .filter_map(|ip| ip.get("address").and_then(Value::as_str))
            .map(|a| strip_prefix(a).to_owned())
            .collect();
    }
    ["ip4", "ip6"]
        .iter()
        .filter_map(|k| result.get(*k)?.get("ip")?.as_str())
        .map(|a| strip_prefix(a).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ips_of_results() {
        let cases: &[(Value, &[&str])] = &[
            (
                json!({"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/n"}],
                       "ips":[{"interface":0,"address":"10.2.0.5/24","gateway":"10.2.0.1"},
                              {"interface":0,"address":"fd00::5/64"}]}),
                &["10.2.0.5", "fd00::5"],
            ),
            (
                json!({"cniVersion":"0.2.0","ip4":{"ip":"10.1.0.3/16"},"ip6":{"ip":"fd01::3/64"}}),
                &["10.1.0.3", "fd01::3"],
            ),
            (json!({"cniVersion":"1.0.0","ips":[]}), &[]),
            (json!({"cniVersion":"1.0.0"}), &[]),
        ];
        for (r, want) in cases {
            assert_eq!(result_ips(r), *want, "{r}");
        }
    }
}
