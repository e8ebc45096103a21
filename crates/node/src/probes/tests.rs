//! Probe logic on a paused clock: thresholds, delays, gating, handler inputs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ContainerPort, EnvVar, EnvVarSource, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn settings_defaults_and_minimums() {
    assert_eq!(
        Settings::of(&Probe::default()),
        Settings {
            initial_delay: secs(0),
            period: secs(10),
            timeout: secs(1),
            success_threshold: 1,
            failure_threshold: 3
        }
    );
    let p = Probe {
        initial_delay_seconds: Some(-4),
        period_seconds: Some(0),
        timeout_seconds: Some(5),
        success_threshold: Some(2),
        failure_threshold: Some(0),
        ..Default::default()
    };
    assert_eq!(
        Settings::of(&p),
        Settings {
            initial_delay: secs(0),
            period: secs(1),
            timeout: secs(5),
            success_threshold: 2,
            failure_threshold: 1
        }
    );
}

#[test]
fn thresholds_need_consecutive_results() {
    let s = Settings { success_threshold: 2, failure_threshold: 3, ..Settings::of(&Probe::default()) };
    // (results, verdict after each)
    let cases: &[(&[bool], &[Option<bool>])] = &[
        (&[false, false, false, false], &[None, None, Some(false), Some(false)]),
        (&[false, false, true, false, false, false], &[None, None, None, None, None, Some(false)]),
        (&[true, true, false, true, true], &[None, Some(true), None, None, Some(true)]),
    ];
    for (results, want) in cases {
        let mut run = ResultRun::default();
        let got: Vec<Option<bool>> = results.iter().map(|ok| run.record(*ok, &s)).collect();
        assert_eq!(&got, want, "{results:?}");
    }
}

#[test]
fn first_probe_waits_out_the_initial_delay() {
    let s = Settings { initial_delay: secs(5), period: secs(10), ..Settings::of(&Probe::default()) };
    assert_eq!(first_wait(&s, secs(2), "c1"), secs(3));
    assert_eq!(first_wait(&s, secs(7), "c1"), Duration::ZERO);
    // Long-running containers (a daemon restart) get a stable spread within the period.
    let spread = first_wait(&s, secs(3600), "c1");
    assert!(spread < secs(10));
    assert_eq!(spread, first_wait(&s, secs(7200), "c1"));
    assert_ne!(first_wait(&s, secs(3600), "c1"), first_wait(&s, secs(3600), "another-container-id"));
}

#[test]
fn ports_by_number_and_name() {
    let c = Container {
        name: "web".into(),
        ports: Some(vec![ContainerPort { name: Some("http".into()), container_port: 8080, ..Default::default() }]),
        ..Default::default()
    };
    assert_eq!(resolve_port(&IntOrString::Int(80), &c), Ok(80));
    assert_eq!(resolve_port(&IntOrString::String("http".into()), &c), Ok(8080));
    assert_eq!(resolve_port(&IntOrString::String("9090".into()), &c), Ok(9090));
    assert_eq!(
        resolve_port(&IntOrString::String("metrics".into()), &c),
        Err("strconv.Atoi: parsing \"metrics\": invalid syntax".into())
    );
    assert_eq!(resolve_port(&IntOrString::Int(0), &c), Err("invalid port number: 0".into()));
}

#[test]
fn exec_commands_expand_only_static_env() {
    let c = Container {
        name: "c".into(),
        env: Some(vec![
            EnvVar { name: "FILE".into(), value: Some("/tmp/healthy".into()), ..Default::default() },
            EnvVar { name: "FROM_API".into(), value_from: Some(EnvVarSource::default()), ..Default::default() },
        ]),
        ..Default::default()
    };
    let cmd: Vec<String> = ["cat", "$(FILE)", "$(FROM_API)", "$$(FILE)"].iter().map(|s| s.to_string()).collect();
    assert_eq!(static_command(&cmd, &c), vec!["cat", "/tmp/healthy", "$(FROM_API)", "$(FILE)"]);
    assert_eq!(combined_output(b"out\n", b"err\n"), "out\nerr\n");
    assert_eq!(combined_output(&vec![b'x'; 20_000], b"").len(), 10 * 1024);
}

/// Drive `run_loop` with scripted outcomes; returns (seconds since start, report).
async fn drive(
    first: Duration,
    s: Settings,
    kind: ProbeType,
    gate: Arc<AtomicBool>,
    wake: Arc<Notify>,
    script: Vec<Outcome>,
    stop_after: Duration,
) -> Vec<(u64, Report)> {
    let start = Instant::now();
    let script = Mutex::new(VecDeque::from(script));
    let reports = Mutex::new(Vec::new());
    let fut = run_loop(
        first,
        s,
        kind,
        || gate.load(Ordering::SeqCst),
        wake,
        || std::future::ready(script.lock().unwrap().pop_front().unwrap_or(Outcome::Success(String::new()))),
        |r| reports.lock().unwrap().push((start.elapsed().as_secs(), r)),
    );
    let _ = tokio::time::timeout(stop_after, fut).await;
    reports.into_inner().unwrap()
}

fn verdicts(r: &[(u64, Report)]) -> Vec<(u64, bool)> {
    r.iter()
        .filter_map(|(t, r)| match r {
            Report::Verdict(v) => Some((*t, *v)),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn liveness_fails_after_the_threshold_and_stops() {
    let s = Settings { initial_delay: secs(5), period: secs(2), ..Settings::of(&Probe::default()) };
    let fail = || Outcome::Failure("boom".into());
    let r = drive(
        secs(5),
        s,
        ProbeType::Liveness,
        Arc::new(AtomicBool::new(true)),
        Arc::new(Notify::new()),
        vec![Outcome::Success(String::new()), fail(), fail(), fail(), Outcome::Success(String::new())],
        secs(60),
    )
    .await;
    let attempts: Vec<u64> = r.iter().filter(|(_, r)| matches!(r, Report::Attempt(_))).map(|(t, _)| *t).collect();
    assert_eq!(attempts, vec![5, 7, 9, 11], "probes every period from the initial delay, none after the verdict");
    assert_eq!(verdicts(&r), vec![(5, true), (11, false)]);
}

#[tokio::test(start_paused = true)]
async fn errors_keep_the_verdict() {
    let s = Settings { period: secs(1), failure_threshold: 1, ..Settings::of(&Probe::default()) };
    let r = drive(
        Duration::ZERO,
        s,
        ProbeType::Readiness,
        Arc::new(AtomicBool::new(true)),
        Arc::new(Notify::new()),
        vec![Outcome::Error("port".into()), Outcome::Warning("redirect".into()), Outcome::Failure("x".into())],
        Duration::from_millis(2500),
    )
    .await;
    assert_eq!(verdicts(&r), vec![(1, true), (2, false)]);
}

#[tokio::test(start_paused = true)]
async fn startup_gates_the_others_and_wakes_them() {
    let s = Settings { period: secs(10), ..Settings::of(&Probe::default()) };
    let gate = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Notify::new());
    let (g, w) = (gate.clone(), wake.clone());
    tokio::spawn(async move {
        tokio::time::sleep(secs(3)).await;
        g.store(true, Ordering::SeqCst);
        w.notify_waiters();
    });
    let r = drive(Duration::ZERO, s, ProbeType::Readiness, gate, wake, vec![], secs(4)).await;
    // Nothing while gated; probed at once when the startup probe succeeded, not a period later.
    assert_eq!(verdicts(&r), vec![(3, true)]);
}

#[tokio::test(start_paused = true)]
async fn startup_ends_with_its_verdict() {
    let s = Settings { period: secs(1), failure_threshold: 2, ..Settings::of(&Probe::default()) };
    let r = drive(
        Duration::ZERO,
        s,
        ProbeType::Startup,
        Arc::new(AtomicBool::new(true)),
        Arc::new(Notify::new()),
        vec![Outcome::Failure("a".into()), Outcome::Success(String::new())],
        secs(30),
    )
    .await;
    assert_eq!(verdicts(&r), vec![(1, true)]);
    assert_eq!(r.len(), 3, "two attempts and one verdict, then the worker ends: {r:?}");
}
