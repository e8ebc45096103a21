//! The distribution protocol against a scripted registry (axum, in
//! process): the bearer-token flow, resuming a cut transfer with `Range`,
//! a registry that sends too many bytes, schema 1, the Accept header. The
//! fake answers like docker-registry does where it matters: an OCI
//! manifest is 404 unless the Accept header lists the OCI type.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use peapod_image::registry::{Credentials, PullAuth};
use peapod_image::{ImageError, ImageStore};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use common::list_dir;

const TOKEN: &str = "tok-123";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

#[derive(Default)]
struct Fake {
    addr: String,
    /// `repo/manifests/tag` or `repo/blobs/digest` → (content type, body).
    content: HashMap<String, (String, Vec<u8>)>,
    /// Required token credentials (`user:pass`); `None`: no auth at all.
    creds: Option<String>,
    /// Blob digests whose first GET is cut after this many bytes.
    cut: Mutex<HashMap<String, usize>>,
    /// Requests seen: "PATH range=... auth=...".
    log: Mutex<Vec<String>>,
}

async fn handle(State(fake): State<Arc<Fake>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let h = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    fake.log.lock().unwrap().push(format!(
        "{path} range={} auth={}",
        h(header::RANGE),
        h(header::AUTHORIZATION).split(' ').next().unwrap_or("")
    ));
    if path == "/token" {
        let want =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(fake.creds.as_deref().unwrap()));
        if h(header::AUTHORIZATION) != want {
            return (StatusCode::UNAUTHORIZED, r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad creds"}]}"#)
                .into_response();
        }
        return axum::Json(json!({"token": TOKEN, "expires_in": 300})).into_response();
    }
    let Some(key) = path.strip_prefix("/v2/") else { return StatusCode::NOT_FOUND.into_response() };
    if fake.creds.is_some() && h(header::AUTHORIZATION) != format!("Bearer {TOKEN}") {
        let challenge =
            format!(r#"Bearer realm="http://{}/token",service="fake",scope="repository:test/app:pull""#, fake.addr);
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)], "").into_response();
    }
    let Some((ctype, body)) = fake.content.get(key) else {
        return (StatusCode::NOT_FOUND, r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#)
            .into_response();
    };
    if key.contains("/manifests/") {
        if ctype == OCI_MANIFEST && !h(header::ACCEPT).contains(OCI_MANIFEST) {
            return (StatusCode::NOT_FOUND, "OCI manifest found, but accept header does not support OCI manifests")
                .into_response();
        }
        return (
            [(header::CONTENT_TYPE, ctype.clone()), ("docker-content-digest".parse().unwrap(), sha256(body))],
            body.clone(),
        )
            .into_response();
    }
    blob_response(&fake, key, body, &headers)
}

fn blob_response(fake: &Fake, key: &str, body: &[u8], headers: &HeaderMap) -> Response {
    let digest = key.rsplit('/').next().unwrap().to_string();
    let start: usize = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    let rest = body[start..].to_vec();
    let status = if start > 0 { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let mut builder = Response::builder().status(status).header(header::CONTENT_LENGTH, rest.len());
    if start > 0 {
        builder = builder.header(header::CONTENT_RANGE, format!("bytes {start}-{}/{}", body.len() - 1, body.len()));
    }
    if let Some(cut) = fake.cut.lock().unwrap().remove(&digest) {
        // Send `cut` bytes, then fail the body: the connection is aborted
        // mid-transfer, as a network failure would.
        let head = rest[..cut].to_vec();
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            vec![Ok(head), Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"))];
        return builder.body(Body::from_stream(futures_util::stream::iter(chunks))).unwrap();
    }
    builder.body(Body::from(rest)).unwrap()
}

/// An image with one gzip layer of `size` incompressible bytes.
struct TestImage {
    manifest: Vec<u8>,
    config: Vec<u8>,
    layer: Vec<u8>,
}

fn test_image(size: usize) -> TestImage {
    // xorshift: incompressible, so the gzip blob is about `size` long.
    let mut x = 0x2545F4914F6CDD1Du64;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut b = tar::Builder::new(Vec::new());
    let mut hdr = tar::Header::new_gnu();
    hdr.set_size(data.len() as u64);
    hdr.set_mode(0o644);
    hdr.set_cksum();
    b.append_data(&mut hdr, "data", &data[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, &tar).unwrap();
    let layer = e.finish().unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256(&tar)]}
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}]
    }))
    .unwrap();
    TestImage { manifest, config, layer }
}

/// Serve `fake` on a loopback port; returns it with its address filled in.
async fn serve(mut fake: Fake, img: &TestImage, layer_body: Option<Vec<u8>>) -> Arc<Fake> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    fake.addr = listener.local_addr().unwrap().to_string();
    let c = &mut fake.content;
    c.insert("test/app/manifests/v1".into(), (OCI_MANIFEST.into(), img.manifest.clone()));
    c.insert(
        format!("test/app/blobs/{}", sha256(&img.config)),
        ("application/octet-stream".into(), img.config.clone()),
    );
    let body = layer_body.unwrap_or_else(|| img.layer.clone());
    c.insert(format!("test/app/blobs/{}", sha256(&img.layer)), ("application/octet-stream".into(), body));
    let fake = Arc::new(fake);
    let app = Router::new().fallback(handle).with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    fake
}

fn open_store(dir: &std::path::Path) -> ImageStore {
    ImageStore::open(&dir.join("images")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_token_flow_and_resume_after_a_cut_connection() {
    let img = test_image(3 << 20);
    let layer_digest = sha256(&img.layer);
    let fake = Fake { creds: Some("bob:pw".into()), ..Default::default() };
    fake.cut.lock().unwrap().insert(layer_digest.clone(), 1 << 20);
    let fake = serve(fake, &img, None).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let auth = PullAuth { credentials: Some(Credentials::parse_user_pass("bob:pw").unwrap()), ..Default::default() };
    let report = store.pull(&format!("{}/test/app:v1", fake.addr), &auth).await.unwrap();
    assert_eq!(report.layers_fetched, 1);
    // The second attempt asked only for the rest.
    assert!(report.downloaded_bytes < img.layer.len() as u64, "{}", report.downloaded_bytes);

    let log = fake.log.lock().unwrap().clone();
    let manifest = "/v2/test/app/manifests/v1";
    assert_eq!(log[0], format!("{manifest} range= auth="), "first request is anonymous: {log:#?}");
    assert_eq!(log[1], "/token range= auth=Basic", "{log:#?}");
    assert_eq!(log[2], format!("{manifest} range= auth=Bearer"), "{log:#?}");
    let blob_requests: Vec<&String> = log.iter().filter(|l| l.contains(&layer_digest)).collect();
    assert_eq!(blob_requests.len(), 2, "{log:#?}");
    assert!(blob_requests[0].contains("range= "), "{log:#?}");
    assert!(blob_requests[1].contains("range=bytes="), "{log:#?}");
    // One token for the whole pull: every later request reuses it.
    assert_eq!(log.iter().filter(|l| l.starts_with("/token")).count(), 1, "{log:#?}");
    assert_eq!(list_dir(&store.root().join("ingest")), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kept_partial_download_is_resumed_by_the_next_pull() {
    let img = test_image(1 << 20);
    let fake = serve(Fake::default(), &img, None).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    // What an interrupted earlier pull left: the first 300 KiB.
    let hex = &sha256(&img.layer)[7..];
    std::fs::write(store.root().join("ingest").join(hex), &img.layer[..300 << 10]).unwrap();
    let report = store.pull(&format!("{}/test/app:v1", fake.addr), &PullAuth::anonymous()).await.unwrap();
    assert_eq!(report.downloaded_bytes, (img.layer.len() - (300 << 10)) as u64);
    let log = fake.log.lock().unwrap().clone();
    assert!(log.iter().any(|l| l.contains(hex) && l.contains(&format!("range=bytes={}-", 300 << 10))), "{log:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_token_credentials_are_a_clear_error() {
    let img = test_image(1000);
    let fake = serve(Fake { creds: Some("bob:pw".into()), ..Default::default() }, &img, None).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let auth = PullAuth { credentials: Some(Credentials::parse_user_pass("bob:wrong").unwrap()), ..Default::default() };
    let err = store.pull(&format!("{}/test/app:v1", fake.addr), &auth).await.unwrap_err().chain();
    assert!(err.contains("pull access denied") && err.contains("rejected the credentials"), "{err}");
    assert!(err.contains("UNAUTHORIZED: bad creds"), "the registry's message is kept: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_longer_than_its_descriptor_is_refused() {
    let img = test_image(200_000);
    let mut longer = img.layer.clone();
    longer.extend_from_slice(&[0u8; 4096]);
    let fake = serve(Fake::default(), &img, Some(longer)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let err = store.pull(&format!("{}/test/app:v1", fake.addr), &PullAuth::anonymous()).await.unwrap_err();
    let ImageError::Pull { source, .. } = &err else { panic!("{err:?}") };
    assert!(matches!(**source, ImageError::SizeMismatch { .. }), "{}", err.chain());
    for d in ["ingest", "tmp", "snapshots"] {
        assert_eq!(list_dir(&store.root().join(d)), Vec::<String>::new(), "{d}");
    }
    assert!(store.list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn schema1_and_unknown_tags_are_errors() {
    let img = test_image(1000);
    let mut fake = Fake::default();
    fake.content.insert(
        "test/app/manifests/old".into(),
        ("application/vnd.docker.distribution.manifest.v1+prettyjws".into(), br#"{"schemaVersion":1}"#.to_vec()),
    );
    let fake = serve(fake, &img, None).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let err = store.pull(&format!("{}/test/app:old", fake.addr), &PullAuth::anonymous()).await.unwrap_err().chain();
    assert!(err.contains("unsupported media type application/vnd.docker.distribution.manifest.v1+prettyjws"), "{err}");
    let err = store.pull(&format!("{}/test/app:nope", fake.addr), &PullAuth::anonymous()).await.unwrap_err().chain();
    assert!(err.contains("not found") && err.contains("MANIFEST_UNKNOWN"), "{err}");
}
