//! Probe and lifecycle hook checks (`validateProbe`, `validateLifecycle`,
//! `validateHandler`): exactly one handler, valid ports and schemes,
//! non-negative timings, `successThreshold: 1` for liveness and startup.

use k8s_openapi::api::core::v1::{HTTPGetAction, LifecycleHandler, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::names::{is_http_header_name, is_valid_port_name, is_valid_port_num, push_invalid};
use super::or_empty as s;
use super::resources::NON_NEGATIVE;
use crate::field::{FieldError, Path};

/// Which probe is being validated: liveness and startup probes must have
/// `successThreshold: 1`; readiness probes may not set a grace period.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// One probe: a single valid handler, non-negative timings, and the
/// kind-specific rules.
pub(super) fn validate_probe(
    probe: Option<&Probe>,
    kind: ProbeKind,
    grace_period: Option<i64>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(p) = probe else { return errs };
    let handlers = Handlers {
        exec: p.exec.as_ref().map(|e| e.command.as_deref().unwrap_or(&[])),
        http_get: p.http_get.as_ref(),
        tcp_port: p.tcp_socket.as_ref().map(|t| t.port.clone()),
        grpc_port: p.grpc.as_ref().map(|g| g.port),
        sleep: None,
    };
    errs.extend(validate_handler(&handlers, grace_period, path));
    for (field, v) in [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ] {
        let v = v.unwrap_or(0);
        if v < 0 {
            errs.push(FieldError::invalid(&path.child(field), v, NON_NEGATIVE));
        }
    }
    if let Some(t) = p.termination_grace_period_seconds
        && t <= 0
    {
        errs.push(FieldError::invalid(&path.child("terminationGracePeriodSeconds"), t, "must be greater than 0"));
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let st = p.success_threshold.unwrap_or(0);
            if st != 1 {
                errs.push(FieldError::invalid(&path.child("successThreshold"), st, "must be 1"));
            }
        }
        ProbeKind::Readiness => {
            if let Some(t) = p.termination_grace_period_seconds {
                errs.push(FieldError::invalid(
                    &path.child("terminationGracePeriodSeconds"),
                    t,
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}

/// A `postStart`/`preStop` hook: a single valid handler (`sleep` must fit
/// in the grace period).
pub(super) fn validate_lifecycle_handler(
    h: &LifecycleHandler,
    grace_period: Option<i64>,
    path: &Path,
) -> Vec<FieldError> {
    let handlers = Handlers {
        exec: h.exec.as_ref().map(|e| e.command.as_deref().unwrap_or(&[])),
        http_get: h.http_get.as_ref(),
        tcp_port: h.tcp_socket.as_ref().map(|t| t.port.clone()),
        grpc_port: None,
        sleep: h.sleep.as_ref().map(|s| s.seconds),
    };
    validate_handler(&handlers, grace_period, path)
}

/// The handler variants shared by probes and lifecycle hooks.
struct Handlers<'a> {
    exec: Option<&'a [String]>,
    http_get: Option<&'a HTTPGetAction>,
    tcp_port: Option<IntOrString>,
    grpc_port: Option<i32>,
    sleep: Option<i64>,
}

fn validate_port_num_or_name(port: &IntOrString, path: &Path) -> Vec<FieldError> {
    match port {
        IntOrString::Int(n) => {
            is_valid_port_num(*n as i64).into_iter().map(|m| FieldError::invalid(path, *n, m)).collect()
        }
        IntOrString::String(name) => {
            let mut errs = Vec::new();
            push_invalid(&mut errs, path, name, is_valid_port_name(name));
            errs
        }
    }
}

fn validate_handler(h: &Handlers<'_>, grace_period: Option<i64>, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut n = 0;
    let mut one = |errs: &mut Vec<FieldError>, field: &str| -> bool {
        if n > 0 {
            errs.push(FieldError::forbidden(&path.child(field), "may not specify more than 1 handler type"));
            false
        } else {
            n += 1;
            true
        }
    };
    if let Some(cmd) = h.exec
        && one(&mut errs, "exec")
        && cmd.is_empty()
    {
        errs.push(FieldError::required(&path.child("exec").child("command"), ""));
    }
    if let Some(http) = h.http_get
        && one(&mut errs, "httpGet")
    {
        let p = path.child("httpGet");
        if s(&http.path).is_empty() {
            errs.push(FieldError::required(&p.child("path"), ""));
        }
        errs.extend(validate_port_num_or_name(&http.port, &p.child("port")));
        let scheme = s(&http.scheme);
        if !matches!(scheme, "HTTP" | "HTTPS") {
            errs.push(FieldError::not_supported(&p.child("scheme"), scheme, &["HTTP", "HTTPS"]));
        }
        for header in http.http_headers.iter().flatten() {
            push_invalid(&mut errs, &p.child("httpHeaders"), &header.name, is_http_header_name(&header.name));
        }
    }
    if let Some(port) = &h.tcp_port
        && one(&mut errs, "tcpSocket")
    {
        errs.extend(validate_port_num_or_name(port, &path.child("tcpSocket").child("port")));
    }
    if let Some(port) = h.grpc_port
        && one(&mut errs, "grpc")
    {
        errs.extend(validate_port_num_or_name(&IntOrString::Int(port), &path.child("grpc").child("port")));
    }
    if let Some(secs) = h.sleep
        && one(&mut errs, "sleep")
        && let Some(gp) = grace_period
        && (secs < 0 || secs > gp)
    {
        errs.push(FieldError::invalid(
            &path.child("sleep"),
            secs,
            format!("must be non-negative and less than terminationGracePeriodSeconds ({gp})"),
        ));
    }
    if n == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}
