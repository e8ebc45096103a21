//! Fetching one layer: download, verify, store and unpack in one pass,
//! resumable.
//!
//! The async side reads the HTTP body and hands each chunk over a bounded
//! channel to a blocking task. That task appends the chunk to the layer's
//! partial file (`ingest/<hex>`), hashes and counts it, and feeds the same
//! bytes to the unpacker, so a layer is written once, read from the network
//! once, and never held in memory: the channel holds at most a few chunks.
//!
//! Nothing becomes visible before it is verified. When the stream ends the
//! blob must have exactly the announced size and digest; only then is the
//! partial file fsynced and renamed into `blobs/`, and only after that is
//! the unpacked snapshot renamed into `snapshots/` (whose diff_id the
//! unpacker has checked). Any failure removes the partial file and the
//! staging directory, except a network failure: then the partial file
//! stays, and the next attempt (in this pull, or a later one) asks for the
//! rest with `Range: bytes=<len>-` and re-reads the kept prefix through the
//! hasher and unpacker.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use super::progress::{LayerState, ProgressHub};
use crate::content::sync_dir;
use crate::digest::Digest;
use crate::error::{ImageError, IoContext};
use crate::oci::Descriptor;
use crate::registry::client::Session;
use crate::registry::media::check_layer_media_type;
use crate::store::Inner;

/// Attempts per layer when the connection breaks mid-transfer.
const MAX_ATTEMPTS: u32 = 3;
/// Chunks buffered between the network and the disk. hyper hands out
/// chunks of up to a few hundred KiB on a fast link, so this bounds the
/// memory of a layer in flight to about a megabyte; when the disk or the
/// unpacker is slower than the network, TCP flow control does the rest.
const CHANNEL_CHUNKS: usize = 4;
/// Emit a progress event at most every this many bytes.
const PROGRESS_STEP: u64 = 512 << 10;

/// What [`ensure_layer`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LayerOutcome {
    /// Blob and snapshot were there already.
    Present,
    /// The blob was there; the snapshot was unpacked from it.
    Unpacked,
    /// Downloaded this many bytes (less than the size when resumed).
    Downloaded(u64),
}

/// Make sure the layer `desc` (uncompressed digest `diff_id`) has its blob
/// and its snapshot in the store. Concurrent calls for the same blob, from
/// this pull or another, wait for each other and the second finds it done.
pub(crate) async fn ensure_layer(
    inner: &Arc<Inner>,
    session: &Session<'_>,
    desc: &Descriptor,
    diff_id: &Digest,
    hub: &ProgressHub,
) -> Result<LayerOutcome, ImageError> {
    check_layer_media_type(&desc.media_type)?;
    let digest = desc.digest.to_string();
    let lock = inner.blob_lock(&desc.digest);
    let _held = lock.lock().await;

    let blob_present = inner.content.path(&desc.digest).is_file();
    let snapshot_present = inner.snapshots.exists(diff_id);
    if blob_present && snapshot_present {
        hub.layer(&digest, LayerState::Exists, desc.size, desc.size);
        return Ok(LayerOutcome::Present);
    }
    if blob_present {
        hub.layer(&digest, LayerState::Extracting, desc.size, desc.size);
        let (inner2, d, blob) = (inner.clone(), diff_id.clone(), desc.digest.clone());
        blocking(move || inner2.snapshots.ensure(&d, || inner2.content.open(&blob))).await??;
        hub.layer(&digest, LayerState::Done, desc.size, desc.size);
        return Ok(LayerOutcome::Unpacked);
    }

    let partial = inner.ingest.join(desc.digest.hex());
    let mut attempt = 0;
    loop {
        attempt += 1;
        let kept = match fs::metadata(&partial) {
            Ok(m) if m.len() < desc.size => m.len(),
            _ => 0,
        };
        let (resp, start) = session.get_blob(&desc.digest, kept).await?;
        if kept > 0 {
            tracing::info!(%digest, kept, resumed = start == kept, "resuming an interrupted layer download");
        }
        let url = resp.url().to_string();
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let job = {
            let (inner, partial, desc, diff_id) = (inner.clone(), partial.clone(), desc.clone(), diff_id.clone());
            let unpack = !snapshot_present;
            tokio::task::spawn_blocking(move || ingest(&inner, &partial, start, rx, &desc, &diff_id, unpack))
        };

        hub.layer(&digest, LayerState::Downloading, start, desc.size);
        let (received, network_error) = pump(resp, &tx, start, desc.size, |current| {
            hub.layer(&digest, LayerState::Downloading, current, desc.size);
        })
        .await;
        drop(tx);
        hub.layer(&digest, LayerState::Extracting, start + received, desc.size);
        let result = job.await.map_err(|e| ImageError::TaskFailed(e.to_string()))?;
        match (result, network_error) {
            (Ok(()), _) => {
                hub.layer(&digest, LayerState::Done, desc.size, desc.size);
                return Ok(LayerOutcome::Downloaded(received));
            }
            (Err(_), Some(source)) if attempt < MAX_ATTEMPTS => {
                tracing::warn!(%digest, attempt, error = %source, "layer download interrupted; retrying");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            (Err(_), Some(source)) => return Err(ImageError::Transport { url, source }),
            (Err(e), None) => return Err(e),
        }
    }
}

/// Forward the body to the ingest task. Returns the bytes forwarded and the
/// network error that ended the transfer early, if one did.
async fn pump(
    mut resp: reqwest::Response,
    tx: &mpsc::Sender<io::Result<Bytes>>,
    start: u64,
    total: u64,
    mut progress: impl FnMut(u64),
) -> (u64, Option<reqwest::Error>) {
    let mut received = 0u64;
    let mut reported = 0u64;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                received += chunk.len() as u64;
                // The ingest task stopped (bad archive, too long): stop
                // reading; dropping the response closes the connection.
                if tx.send(Ok(chunk)).await.is_err() {
                    return (received, None);
                }
                if received - reported >= PROGRESS_STEP && start + received < total {
                    reported = received;
                    progress(start + received);
                }
            }
            Ok(None) => return (received, None),
            Err(e) => {
                let _ = tx.send(Err(io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string()))).await;
                return (received, Some(e));
            }
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ImageError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ImageError::TaskFailed(e.to_string()))
}

/// The blocking half: store (and unpack) what arrives on `rx` after the
/// first `start` bytes already in `partial`.
fn ingest(
    inner: &Inner,
    partial: &Path,
    start: u64,
    rx: mpsc::Receiver<io::Result<Bytes>>,
    desc: &Descriptor,
    diff_id: &Digest,
    unpack: bool,
) -> Result<(), ImageError> {
    let mut file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(partial).at("open", partial)?;
    // Anything past `start` is not part of what this response continues
    // (a registry that ignored the Range starts over at 0).
    file.set_len(start).at("truncate", partial)?;
    file.seek(SeekFrom::End(0)).at("seek", partial)?;
    let mut reader = IngestReader {
        file,
        path: partial.to_path_buf(),
        prefix: start,
        pos: 0,
        received: start,
        limit: desc.size,
        rx,
        pending: Bytes::new(),
        hasher: Sha256::new(),
        network_failed: false,
        over_limit: false,
    };
    let commit = |r: &mut IngestReader| -> Result<(), ImageError> {
        r.drain()?;
        r.verify(desc)?;
        r.commit(inner, &desc.digest)
    };
    let result = if unpack {
        inner.snapshots.ensure_streaming(diff_id, &mut reader, commit).map(|_| ())
    } else {
        commit(&mut reader)
    };
    let Err(err) = result else { return Ok(()) };
    if reader.network_failed {
        // Keep the partial file for a resumed attempt.
        return Err(err);
    }
    // A blob that does not match its descriptor makes any unpack error
    // beside the point: report the mismatch.
    let err = match reader.drain().and_then(|()| reader.verify(desc)) {
        Err(mismatch @ (ImageError::DigestMismatch { .. } | ImageError::SizeMismatch { .. })) => mismatch,
        _ => err,
    };
    if !reader.network_failed {
        let _ = fs::remove_file(partial);
    }
    Err(err)
}

/// Reads the kept prefix of the partial file, then the chunks arriving on
/// the channel, appending each to the file; hashes and counts everything.
struct IngestReader {
    file: File,
    path: PathBuf,
    /// Bytes that were in the file before this attempt.
    prefix: u64,
    /// Bytes of the prefix read back so far.
    pos: u64,
    /// Bytes in the file (prefix plus appended).
    received: u64,
    limit: u64,
    rx: mpsc::Receiver<io::Result<Bytes>>,
    /// Appended but not yet read.
    pending: Bytes,
    hasher: Sha256,
    network_failed: bool,
    over_limit: bool,
}

impl Read for IngestReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.pos < self.prefix {
            let want = buf.len().min((self.prefix - self.pos) as usize);
            let n = self.file.read_at(&mut buf[..want], self.pos)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "partial download shrank"));
            }
            self.hasher.update(&buf[..n]);
            self.pos += n as u64;
            return Ok(n);
        }
        while self.pending.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => {
                    self.network_failed = true;
                    return Err(e);
                }
                Some(Ok(chunk)) => self.append(chunk)?,
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.advance(n);
        Ok(n)
    }
}

impl IngestReader {
    /// Store and hash a chunk; refuse bytes past the announced size.
    fn append(&mut self, chunk: Bytes) -> io::Result<()> {
        if self.received + chunk.len() as u64 > self.limit {
            self.over_limit = true;
            self.received += chunk.len() as u64;
            return Err(io::Error::other("the registry sent more bytes than the descriptor's size"));
        }
        self.file.write_all(&chunk)?;
        self.hasher.update(&chunk);
        self.received += chunk.len() as u64;
        self.pending = chunk;
        Ok(())
    }

    /// Read whatever the consumer left, so the digest covers the whole blob.
    fn drain(&mut self) -> Result<(), ImageError> {
        if self.over_limit {
            return Ok(());
        }
        match io::copy(self, &mut io::sink()) {
            Ok(_) => Ok(()),
            Err(_) if self.over_limit => Ok(()),
            Err(e) => Err(e).at("download", &self.path),
        }
    }

    /// Size first (cheap and the clearer message), then the digest.
    fn verify(&mut self, desc: &Descriptor) -> Result<(), ImageError> {
        if self.received != desc.size {
            return Err(ImageError::SizeMismatch {
                digest: desc.digest.to_string(),
                expected: desc.size,
                actual: self.received,
            });
        }
        let actual = Digest::from_hasher(self.hasher.clone());
        if actual != desc.digest {
            return Err(ImageError::DigestMismatch { expected: desc.digest.to_string(), actual: actual.to_string() });
        }
        Ok(())
    }

    /// fsync the verified file and move it to `blobs/`.
    fn commit(&mut self, inner: &Inner, digest: &Digest) -> Result<(), ImageError> {
        // Why fsync before the rename: a blob path must always hold its
        // verified bytes, even after a crash.
        self.file.sync_all().at("sync", &self.path)?;
        let dest = inner.content.path(digest);
        fs::rename(&self.path, &dest).at("rename blob into place", &dest)?;
        sync_dir(dest.parent().unwrap_or(Path::new("/")))
    }
}
