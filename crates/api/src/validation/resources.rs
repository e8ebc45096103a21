//! Resource requirement checks (`ValidateContainerResourceRequirements`):
//! resource names, quantities, requests ≤ limits, extended resources and
//! hugepages, and claim references.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ResourceRequirements;

use super::names::{is_dns1123_label, is_qualified_name, push_invalid};
use super::or_empty as s;
use crate::field::{FieldError, Path};
use crate::quantity::{FORMAT_ERROR, Quantity};

/// Go's `isNegativeErrorMsg`.
pub(super) const NON_NEGATIVE: &str = "must be greater than or equal to 0";

const STANDARD_RESOURCES: [&str; 19] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
];

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_extended(name: &str) -> bool {
    !is_native(name) && !name.starts_with("requests.") && is_qualified_name(&format!("requests.{name}")).is_empty()
}

fn validate_container_resource_name(name: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    push_invalid(&mut errs, path, name, is_qualified_name(name));
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') {
        if !STANDARD_RESOURCES.contains(&name) && name != "services.loadbalancers" && !is_hugepages(name) {
            errs.push(FieldError::invalid(path, name, "must be a standard resource type or fully qualified"));
        }
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_hugepages(name) {
            errs.push(FieldError::invalid(path, name, "must be a standard resource for containers"));
        }
    } else if !is_native(name) && !is_extended(name) {
        errs.push(FieldError::invalid(path, name, "doesn't follow extended resource name standard"));
    }
    errs
}

/// Validates requests/limits: names, quantities (which must parse, be
/// non-negative, and be whole for extended resources), requests ≤ limits,
/// request = limit for non-overcommitable resources, and claim names.
pub(super) fn validate_resource_requirements(
    r: Option<&ResourceRequirements>,
    claim_names: &BTreeSet<&str>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(r) = r else { return errs };
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let empty = BTreeMap::new();
    let limits = r.limits.as_ref().unwrap_or(&empty);
    let requests = r.requests.as_ref().unwrap_or(&empty);
    let (mut lim_cpu_mem, mut req_cpu_mem, mut lim_huge, mut req_huge) = (false, false, false, false);
    let mut parsed_limits = BTreeMap::new();
    for (name, q) in limits {
        let p = lim_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        if let Some(q) = check_quantity(name, &q.0, &p, &mut errs) {
            parsed_limits.insert(name.as_str(), q);
            if is_hugepages(name) {
                lim_huge = true;
                errs.extend(check_hugepages(name, &q, &p));
            }
        }
        lim_cpu_mem |= matches!(name.as_str(), "cpu" | "memory");
    }
    for (name, q) in requests {
        let p = req_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        let Some(q) = check_quantity(name, &q.0, &p, &mut errs) else {
            continue;
        };
        let overcommit = is_native(name) && !is_hugepages(name);
        match (limits.contains_key(name), parsed_limits.get(name.as_str())) {
            (true, Some(limit)) => {
                if q != *limit && !overcommit {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.to_string(),
                        format!("must be equal to {name} limit of {limit}"),
                    ));
                } else if q > *limit {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.to_string(),
                        format!("must be less than or equal to {name} limit of {limit}"),
                    ));
                }
            }
            (true, None) => {}
            (false, _) => {
                if !overcommit {
                    errs.push(FieldError::required(&lim_path, "Limit must be set for non overcommitable resources"));
                }
            }
        }
        if is_hugepages(name) {
            req_huge = true;
            errs.extend(check_hugepages(name, &q, &p));
        }
        req_cpu_mem |= matches!(name.as_str(), "cpu" | "memory");
    }
    if !lim_cpu_mem && !req_cpu_mem && (req_huge || lim_huge) {
        errs.push(FieldError::forbidden(path, "HugePages require cpu or memory"));
    }
    let claims_path = path.child("claims");
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (i, claim) in r.claims.iter().flatten().enumerate() {
        let p = claims_path.index(i);
        if claim.name.is_empty() {
            errs.push(FieldError::required(&p, ""));
            continue;
        }
        let request = s(&claim.request);
        let key = if request.is_empty() {
            claim.name.clone()
        } else {
            push_invalid(&mut errs, &p.child("request"), request, is_dns1123_label(request));
            format!("{}/{request}", claim.name)
        };
        if seen.contains(&claim.name) || !seen.insert(key.clone()) {
            errs.push(FieldError::duplicate(&p, key));
        }
        if !claim_names.contains(claim.name.as_str()) {
            let mut e = FieldError::not_found(&p, claim.name.as_str());
            e.detail = if claim_names.is_empty() {
                "must be one of the names in pod.spec.resourceClaims which is empty".into()
            } else {
                let names: Vec<&str> = claim_names.iter().copied().collect();
                format!("must be one of the names in pod.spec.resourceClaims: {}", names.join(", "))
            };
            errs.push(e);
        }
    }
    errs
}

/// Parses a quantity and checks it is non-negative (and whole for
/// extended resources); `None` when it does not parse.
fn check_quantity(name: &str, raw: &str, path: &Path, errs: &mut Vec<FieldError>) -> Option<Quantity> {
    match Quantity::parse(raw) {
        Ok(q) => {
            if q.is_negative() {
                errs.push(FieldError::invalid(path, q.to_string(), NON_NEGATIVE));
            }
            if is_extended(name) && !q.is_integer() {
                errs.push(FieldError::invalid(path, q.to_string(), "must be an integer"));
            }
            Some(q)
        }
        Err(_) => {
            errs.push(FieldError::invalid(path, raw, FORMAT_ERROR));
            None
        }
    }
}

fn check_hugepages(name: &str, q: &Quantity, path: &Path) -> Vec<FieldError> {
    let page = Quantity::parse(&name["hugepages-".len()..]).ok();
    let divisible =
        page.is_some_and(|p| p.value() > 0 && q.is_integer() && q.value() > 0 && q.value() % p.value() == 0);
    if divisible {
        vec![]
    } else {
        vec![FieldError::invalid(path, q.to_string(), format!("{q} is not positive integer multiple of {name}"))]
    }
}
