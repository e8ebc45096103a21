//! Getting the image a container names, as kubelet's image manager does:
//! the pull policy decides whether to pull, pulls run with the pod's
//! `imagePullSecrets`, failures back off per (pod, image), and the events
//! and waiting reasons are kubelet's:
//!
//! | situation | waiting reason | events |
//! |---|---|---|
//! | unparsable name | InvalidImageName | Warning InspectFailed, Warning Failed `Error: InvalidImageName` |
//! | present, or policy Never and present | — | Normal Pulled `Container image "x" already present on machine` |
//! | policy Never, absent | ErrImageNeverPull | Warning ErrImageNeverPull, Warning Failed `Error: ErrImageNeverPull` |
//! | pulling | (sync waits) | Normal Pulling `Pulling image "x"` |
//! | pulled | — | Normal Pulled `Successfully pulled image "x" in 1.2s (1.3s including waiting). Image size: N bytes.` |
//! | pull failed | ErrImagePull | Warning Failed `Failed to pull image "x": …`, Warning Failed `Error: ErrImagePull` |
//! | within the back-off | ImagePullBackOff | Normal BackOff `Back-off pulling image "x"`, Warning Failed `Error: ImagePullBackOff` |
//!
//! The back-off is the node's (10 s doubling to 300 s), keyed like
//! kubelet's `<pod uid>_<image>`, counted from the last failure.
//!
//! A pull runs on its own task in the image store, shared by every pod and
//! CLI pull of the same image and credentials. The pod's worker waits for
//! it (other pods' workers are not blocked) and stops waiting when the pod
//! is deleted; the pull itself carries on for whoever else waits.
//!
//! One deviation from kubelet: `imagePullPolicy: Always` re-resolves only
//! images that came from a registry. An image imported or loaded locally
//! (`peapod image import`/`load`) has no registry to ask, so the local copy
//! is used, as for IfNotPresent.
//!
//! Image garbage collection ([`gc_loop`]) runs every five minutes with the
//! store's thresholds and never deletes an image a container uses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod, Secret};
use peapod_image::registry::{Keyring, PullAuth};
use peapod_image::{ImageError, ImageInfo, Reference};
use peapod_runtime::RuntimeService;
use peapod_store::ObjKey;

use crate::Ctx;
use crate::events::{EventType, Reason};
use crate::status::Waiting;
use crate::sync::{field_path, involved};

/// How often image GC checks the thresholds (kubelet's ImageGCPeriod).
const GC_PERIOD: Duration = Duration::from_secs(300);
/// How often a waiting pod checks whether it was deleted meanwhile.
const DELETION_POLL: Duration = Duration::from_millis(500);

/// Pull failures per back-off key (when the last one happened).
#[derive(Debug, Default)]
pub(crate) struct PullFailures {
    last: Mutex<HashMap<String, Timestamp>>,
}

impl PullFailures {
    fn record(&self, key: &str, at: Timestamp) {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_string(), at);
    }

    fn last(&self, key: &str) -> Option<Timestamp> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).get(key).copied()
    }

    /// Forget a pod's failures (it is gone).
    pub(crate) fn forget_pod(&self, uid: &str) {
        let prefix = format!("{uid}_");
        self.last.lock().unwrap_or_else(|e| e.into_inner()).retain(|k, _| !k.starts_with(&prefix));
    }
}

/// kubelet's default when the field is empty (the API server defaults it;
/// this covers objects that bypassed defaulting).
fn pull_policy<'a>(c: &'a Container, reference: &Reference) -> &'a str {
    match c.image_pull_policy.as_deref() {
        Some(p) if !p.is_empty() => p,
        _ if reference.digest.is_none() && reference.tag.as_deref() == Some("latest") => "Always",
        _ => "IfNotPresent",
    }
}

/// Resolve, and if the policy says so pull, the image container `c` names.
pub(crate) async fn ensure_image<R: RuntimeService>(
    ctx: &Arc<Ctx<R>>,
    pod: &Pod,
    c: &Container,
) -> Result<ImageInfo, Waiting> {
    let image = c.image.clone().unwrap_or_default();
    let obj = involved(pod, &field_path(pod, &c.name));
    let event = |t: EventType, reason: Reason, msg: &str| ctx.events.record(&obj, t, reason, msg);
    let event_from = |t: EventType, reason: &str, msg: &str| ctx.events.record_from("kubelet", &obj, t, reason, msg);

    let reference = match Reference::parse(&image) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("Failed to apply default image tag {image:?}: {e}");
            event_from(EventType::Warning, "InspectFailed", &msg);
            event(EventType::Warning, Reason::Failed, "Error: InvalidImageName");
            return Err(Waiting { reason: "InvalidImageName".into(), message: msg });
        }
    };
    let policy = pull_policy(c, &reference).to_string();
    let (present, pulled) = {
        let (images, name) = (ctx.images.clone(), image.clone());
        tokio::task::spawn_blocking(move || {
            let found = images.get(&name).ok().flatten();
            let pulled = found.is_some() && images.pulled_from_registry(&name).unwrap_or(false);
            (found, pulled)
        })
        .await
        .unwrap_or((None, false))
    };
    let must_pull = match (&present, policy.as_str()) {
        (Some(_), "Always") => pulled,
        (Some(_), _) => false,
        (None, "Never") => {
            let msg = format!("Container image \"{image}\" is not present with pull policy of Never");
            event_from(EventType::Warning, "ErrImageNeverPull", &msg);
            event(EventType::Warning, Reason::Failed, "Error: ErrImageNeverPull");
            return Err(Waiting { reason: "ErrImageNeverPull".into(), message: msg });
        }
        (None, _) => true,
    };
    if !must_pull && let Some(info) = present {
        event(EventType::Normal, Reason::Pulled, &format!("Container image \"{image}\" already present on machine"));
        return Ok(info);
    }

    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let key = format!("{uid}_{image}");
    let now = ctx.clock.now();
    if let Some(last) = ctx.pull_failures.last(&key)
        && ctx.backoff.lock().expect("lock").remaining(&key, last, now).is_some()
    {
        let msg = format!("Back-off pulling image \"{image}\"");
        event(EventType::Normal, Reason::BackOff, &msg);
        event(EventType::Warning, Reason::Failed, "Error: ImagePullBackOff");
        return Err(Waiting { reason: "ImagePullBackOff".into(), message: msg });
    }

    let auth = pull_auth(ctx, pod, |msg| event_from(EventType::Warning, "FailedToRetrieveImagePullSecret", msg));
    event_from(EventType::Normal, "Pulling", &format!("Pulling image \"{image}\""));
    let started = Instant::now();
    let result = match ctx.images.start_pull(&image, &auth) {
        Ok(handle) => wait_for_pull(ctx, &uid, handle).await,
        Err(e) => Some(Err(e)),
    };
    let Some(result) = result else {
        // The pod is being deleted: stop waiting (the pull goes on).
        return Err(Waiting {
            reason: "ErrImagePull".into(),
            message: "pull abandoned: the pod is being deleted".into(),
        });
    };
    match result {
        Ok(report) => {
            event_from(
                EventType::Normal,
                "Pulled",
                &format!(
                    "Successfully pulled image \"{image}\" in {} ({} including waiting). Image size: {} bytes.",
                    go_millis(report.elapsed),
                    go_millis(started.elapsed()),
                    report.image.size
                ),
            );
            Ok(report.image)
        }
        Err(e) => {
            let failed_at = ctx.clock.now();
            ctx.backoff.lock().expect("lock").next(&key, failed_at);
            ctx.pull_failures.record(&key, failed_at);
            let msg = e.chain();
            event(EventType::Warning, Reason::Failed, &format!("Failed to pull image \"{image}\": {msg}"));
            event(EventType::Warning, Reason::Failed, "Error: ErrImagePull");
            Err(Waiting { reason: "ErrImagePull".into(), message: msg })
        }
    }
}

/// Wait for a pull; `None` if the pod was deleted meanwhile.
async fn wait_for_pull<R: RuntimeService>(
    ctx: &Arc<Ctx<R>>,
    uid: &str,
    handle: peapod_image::PullHandle,
) -> Option<Result<peapod_image::PullReport, ImageError>> {
    let wait = handle.wait();
    tokio::pin!(wait);
    loop {
        tokio::select! {
            r = &mut wait => return Some(r),
            _ = tokio::time::sleep(DELETION_POLL) => {
                let gone = ctx.pods.lock().expect("lock").get(uid).is_none_or(|p| {
                    p.deleted || p.obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null())
                });
                if gone {
                    return None;
                }
            }
        }
    }
}

/// Credentials from the pod's `imagePullSecrets` (types
/// `kubernetes.io/dockerconfigjson` and `kubernetes.io/dockercfg`), in the
/// order listed. Missing or undecodable secrets are reported and skipped,
/// as kubelet does; the pull is still attempted.
fn pull_auth<R: RuntimeService>(ctx: &Ctx<R>, pod: &Pod, warn: impl Fn(&str)) -> PullAuth {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut keyring = Keyring::default();
    let mut missing = Vec::new();
    for r in pod.spec.as_ref().and_then(|s| s.image_pull_secrets.as_ref()).into_iter().flatten() {
        let secret: Option<Secret> = ctx
            .store
            .get(&ObjKey::new("secrets", ns, &r.name))
            .and_then(|v| serde_json::from_value(v.as_ref().clone()).ok());
        let Some(secret) = secret else {
            missing.push(r.name.clone());
            continue;
        };
        match secret_keyring(&secret) {
            Ok(Some(k)) => keyring.extend(k),
            Ok(None) => tracing::debug!(secret = %r.name, "imagePullSecret of another type ignored"),
            Err(e) => {
                tracing::warn!(secret = %r.name, error = %e, "undecodable imagePullSecret");
                missing.push(r.name.clone());
            }
        }
    }
    if !missing.is_empty() {
        warn(&format!(
            "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
            missing.join(", ")
        ));
    }
    PullAuth { credentials: None, keyring }
}

/// The keyring of a docker config secret; `None` for other secret types.
pub(crate) fn secret_keyring(secret: &Secret) -> Result<Option<Keyring>, ImageError> {
    let key = match secret.type_.as_deref() {
        Some("kubernetes.io/dockerconfigjson") => ".dockerconfigjson",
        Some("kubernetes.io/dockercfg") => ".dockercfg",
        _ => return Ok(None),
    };
    let bytes = match secret.data.as_ref().and_then(|d| d.get(key)) {
        Some(b) => b.0.clone(),
        None => match secret.string_data.as_ref().and_then(|d| d.get(key)) {
            Some(s) => s.clone().into_bytes(),
            None => return Err(ImageError::InvalidCredentials(format!("the secret has no {key} key"))),
        },
    };
    Keyring::from_docker_config(&bytes).map(Some)
}

/// A duration as Go prints a millisecond-truncated `time.Duration`
/// (`523ms`, `1.234s`, `1m2.5s`), as kubelet's Pulled event shows it.
pub(crate) fn go_millis(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let secs = if frac == 0 { format!("{s}s") } else { format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0')) };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// Image garbage collection every [`GC_PERIOD`], protecting every image a
/// container on this node uses.
pub(crate) async fn gc_loop<R: RuntimeService>(ctx: Arc<Ctx<R>>) {
    loop {
        tokio::time::sleep(GC_PERIOD).await;
        let in_use = ctx.images_in_use();
        let images = ctx.images.clone();
        match tokio::task::spawn_blocking(move || images.collect_images(&in_use)).await {
            Ok(Ok(r)) if r.triggered => {
                tracing::info!(freed = r.freed, to_free = r.to_free, deleted = ?r.deleted, "image garbage collection")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e.chain(), "image garbage collection failed"),
            Err(e) => tracing::warn!(error = %e, "image garbage collection task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    #[test]
    fn go_durations() {
        for (ms, want) in [
            (0, "0s"),
            (7, "7ms"),
            (523, "523ms"),
            (1000, "1s"),
            (1234, "1.234s"),
            (15_980, "15.98s"),
            (62_500, "1m2.5s"),
            (3_600_000 + 61_000, "1h1m1s"),
        ] {
            assert_eq!(go_millis(Duration::from_millis(ms)), want, "{ms}");
        }
        assert_eq!(go_millis(Duration::from_micros(1_234_999)), "1.234s", "truncated, not rounded");
    }

    #[test]
    fn policy_defaults_like_the_api_server() {
        let c = |p: Option<&str>| Container { image_pull_policy: p.map(String::from), ..Default::default() };
        let r = |s: &str| Reference::parse(s).unwrap();
        let d = format!("busybox@sha256:{}", "a".repeat(64));
        assert_eq!(pull_policy(&c(None), &r("busybox")), "Always");
        assert_eq!(pull_policy(&c(None), &r("busybox:latest")), "Always");
        assert_eq!(pull_policy(&c(None), &r("busybox:1.36")), "IfNotPresent");
        assert_eq!(pull_policy(&c(None), &r(&d)), "IfNotPresent");
        assert_eq!(pull_policy(&c(Some("Never")), &r("busybox")), "Never");
    }

    #[test]
    fn docker_config_secrets_decode() {
        let json = br#"{"auths":{"r.io":{"auth":"dTpw"}}}"#.to_vec();
        let mk = |t: &str, key: &str| Secret {
            type_: Some(t.into()),
            data: Some(BTreeMap::from([(key.to_string(), ByteString(json.clone()))])),
            ..Default::default()
        };
        let k = secret_keyring(&mk("kubernetes.io/dockerconfigjson", ".dockerconfigjson")).unwrap().unwrap();
        assert_eq!(k.lookup("r.io", "x")[0].username, "u");
        assert!(secret_keyring(&mk("kubernetes.io/dockercfg", ".dockercfg")).unwrap().is_some());
        assert!(secret_keyring(&mk("Opaque", "x")).unwrap().is_none());
        assert!(secret_keyring(&mk("kubernetes.io/dockerconfigjson", "wrong-key")).is_err());
        let mut string_data = mk("kubernetes.io/dockerconfigjson", "unused");
        string_data.data = None;
        string_data.string_data =
            Some(BTreeMap::from([(".dockerconfigjson".to_string(), String::from_utf8(json.clone()).unwrap())]));
        assert!(secret_keyring(&string_data).unwrap().is_some());
    }

    #[test]
    fn failures_are_forgotten_per_pod() {
        let f = PullFailures::default();
        let t = Timestamp::now();
        f.record("uid1_busybox", t);
        f.record("uid2_busybox", t);
        f.forget_pod("uid1");
        assert!(f.last("uid1_busybox").is_none());
        assert_eq!(f.last("uid2_busybox"), Some(t));
    }
}
