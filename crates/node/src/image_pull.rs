//! Getting the image a container names: look it up in the image store
//! (and, with imagePullPolicy, pull it), with kubelet's reasons and events:
//! ErrImagePull, then ImagePullBackOff while the back-off runs,
//! ErrImageNeverPull, InvalidImageName.

use k8s_openapi::api::core::v1::{Container, Pod};
use peapod_image::ImageInfo;
use peapod_runtime::RuntimeService;

use crate::Ctx;
use crate::events::{EventType, Reason};
use crate::status::Waiting;
use crate::sync::{field_path, involved};

/// Resolve the image a container names (pull comes with the registry client).
pub(crate) async fn ensure_image<R: RuntimeService>(
    ctx: &Ctx<R>,
    pod: &Pod,
    c: &Container,
) -> Result<ImageInfo, Waiting> {
    let image = c.image.clone().unwrap_or_default();
    if let Err(e) = peapod_image::reference::Reference::parse(&image) {
        return Err(Waiting {
            reason: "InvalidImageName".into(),
            message: format!("Failed to apply default image tag {image:?}: {e}"),
        });
    }
    let images = ctx.images.clone();
    let i2 = image.clone();
    let found = tokio::task::spawn_blocking(move || images.get(&i2)).await.ok().and_then(|r| r.ok()).flatten();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let fp = field_path(pod, &c.name);
    match found {
        Some(info) => {
            ctx.events.record(
                &involved(pod, &fp),
                EventType::Normal,
                Reason::Pulled,
                &format!("Container image \"{image}\" already present on machine"),
            );
            Ok(info)
        }
        None if c.image_pull_policy.as_deref() == Some("Never") => {
            let msg = format!("Container image \"{image}\" is not present with pull policy of Never");
            ctx.events.record(&involved(pod, &fp), EventType::Warning, Reason::Failed, "Error: ErrImageNeverPull");
            Err(Waiting { reason: "ErrImageNeverPull".into(), message: msg })
        }
        None => {
            // ErrImagePull first, then ImagePullBackOff while the back-off runs.
            let key = format!("{uid}/~pull/{}", c.name);
            let now = ctx.clock.now();
            let mut b = ctx.backoff.lock().expect("lock");
            if b.remaining(&key, now, now).is_some() {
                ctx.events.record(
                    &involved(pod, &fp),
                    EventType::Normal,
                    Reason::BackOff,
                    &format!("Back-off pulling image \"{image}\""),
                );
                return Err(Waiting {
                    reason: "ImagePullBackOff".into(),
                    message: format!("Back-off pulling image \"{image}\""),
                });
            }
            b.next(&key, now);
            let msg = format!(
                "failed to pull and unpack image \"{image}\": image not found in the local store (import it with `peapod image import`)"
            );
            ctx.events.record(
                &involved(pod, &fp),
                EventType::Warning,
                Reason::Failed,
                &format!("Failed to pull image \"{image}\": {msg}"),
            );
            Err(Waiting { reason: "ErrImagePull".into(), message: msg })
        }
    }
}
