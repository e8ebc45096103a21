//! SPDY/3.1 framing, server side, as much as Kubernetes' streaming
//! protocols use (kubectl-wire.md §10.4; moby/spdystream is the client).
//!
//! After the HTTP 101, the client opens one stream per channel with
//! SYN_STREAM (its headers say what the stream is: `streamtype`, and for
//! port-forward `port` and `requestID`); we answer each with SYN_REPLY and
//! exchange DATA frames, FIN meaning "no more data in this direction".
//! Header blocks are zlib-compressed with the SPDY/3 dictionary, one zlib
//! stream per direction for the whole connection.
//!
//! [`SpdySession`] runs a reader task (frames in: new streams, data, FIN,
//! RST, PING answered at once) and a writer task (frames out, in the order
//! they were queued, so a SYN_REPLY always precedes the data of its
//! stream). spdystream implements no flow control, so neither do we:
//! WINDOW_UPDATE and SETTINGS are read and ignored.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The SPDY/3 header compression dictionary (from the SPDY/3 specification).
pub static DICTIONARY: &[u8] = include_bytes!("spdy_dict.bin");

const CONTROL_BIT: u8 = 0x80;
const VERSION: u16 = 3;
const FLAG_FIN: u8 = 0x01;
/// Largest DATA payload we send in one frame.
const MAX_DATA: usize = 32 * 1024;
/// Largest frame we accept (the format allows 16 MiB).
const MAX_FRAME: usize = 16 * 1024 * 1024;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status codes we send.
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_REFUSED_STREAM: u32 = 3;

/// Errors of the SPDY layer.
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    #[error("SPDY connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("SPDY protocol error: {0}")]
    Protocol(String),
    #[error("SPDY header block: {0}")]
    Compression(String),
}

/// A stream's name/value headers (names lower-case, as on the wire).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        id: u32,
        fin: bool,
        headers: Headers,
    },
    SynReply {
        id: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        id: u32,
        status: u32,
    },
    Ping(u32),
    GoAway {
        last_good: u32,
    },
    Headers {
        id: u32,
        fin: bool,
        headers: Headers,
    },
    Data {
        id: u32,
        fin: bool,
        data: Bytes,
    },
    /// SETTINGS, WINDOW_UPDATE and unknown control frames.
    Ignored(u16),
}

/// Decodes header blocks: one inflate stream for the whole connection.
pub struct HeaderDecoder {
    z: Decompress,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        HeaderDecoder { z: Decompress::new(true) }
    }
}

impl HeaderDecoder {
    pub fn decode(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        let raw = self.inflate(block)?;
        parse_header_block(&raw)
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(out.capacity().max(1024));
            }
            let (before, produced) = (self.z.total_in(), out.len());
            let res = self.z.decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = (self.z.total_in() - before) as usize;
            input = &input[used..];
            match res {
                Ok(Status::Ok | Status::BufError) if input.is_empty() && out.capacity() > out.len() => return Ok(out),
                Ok(Status::StreamEnd) => return Ok(out),
                Ok(_) if used == 0 && out.len() == produced && out.capacity() > out.len() => {
                    return Err(SpdyError::Compression("no progress inflating a header block".into()));
                }
                Ok(_) => {}
                // The first block asks for the dictionary (its id is in the zlib header).
                Err(e) if e.needs_dictionary().is_some() => {
                    self.z.set_dictionary(DICTIONARY).map_err(|e| SpdyError::Compression(e.to_string()))?;
                }
                Err(e) => return Err(SpdyError::Compression(e.to_string())),
            }
        }
    }
}

/// Encodes header blocks: one deflate stream for the whole connection,
/// sync-flushed after each block.
pub struct HeaderEncoder {
    z: Compress,
}

impl Default for HeaderEncoder {
    fn default() -> Self {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(DICTIONARY).expect("setting the SPDY dictionary on a fresh stream");
        HeaderEncoder { z }
    }
}

impl HeaderEncoder {
    pub fn encode(&mut self, headers: &Headers) -> Result<Vec<u8>, SpdyError> {
        let mut raw = Vec::new();
        raw.put_u32(headers.0.len() as u32);
        for (k, v) in &headers.0 {
            raw.put_u32(k.len() as u32);
            raw.extend_from_slice(k.to_ascii_lowercase().as_bytes());
            raw.put_u32(v.len() as u32);
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            out.reserve(256);
            let before = self.z.total_in();
            self.z
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::Compression(e.to_string()))?;
            input = &input[(self.z.total_in() - before) as usize..];
            // A sync flush is complete when the output did not fill up.
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// Parse an uncompressed name/value block (32-bit counts and lengths).
pub fn parse_header_block(mut b: &[u8]) -> Result<Headers, SpdyError> {
    let bad = || SpdyError::Protocol("truncated header block".into());
    let take = |b: &mut &[u8]| -> Result<String, SpdyError> {
        if b.remaining() < 4 {
            return Err(bad());
        }
        let n = b.get_u32() as usize;
        if b.remaining() < n {
            return Err(bad());
        }
        let s = String::from_utf8_lossy(&b[..n]).into_owned();
        b.advance(n);
        Ok(s)
    };
    if b.remaining() < 4 {
        return Err(bad());
    }
    let count = b.get_u32();
    let mut out = Vec::new();
    for _ in 0..count {
        let k = take(&mut b)?;
        let v = take(&mut b)?;
        // Several values of one name are separated by NUL.
        for part in v.split('\0') {
            out.push((k.clone(), part.to_owned()));
        }
    }
    Ok(Headers(out))
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.put_u16(0x8000 | VERSION);
    f.put_u16(kind);
    f.put_u32(((flags as u32) << 24) | payload.len() as u32);
    f.extend_from_slice(payload);
    f
}

fn data_frame(id: u32, fin: bool, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.put_u32(id & 0x7fff_ffff);
    f.put_u32(((if fin { FLAG_FIN } else { 0 } as u32) << 24) | data.len() as u32);
    f.extend_from_slice(data);
    f
}

/// Read one frame (None at a clean end of the connection).
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, dec: &mut HeaderDecoder) -> Result<Option<Frame>, SpdyError> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let flags = head[4];
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    if len > MAX_FRAME {
        return Err(SpdyError::Protocol(format!("frame of {len} bytes")));
    }
    let mut payload = BytesMut::zeroed(len);
    r.read_exact(&mut payload).await?;
    let mut p = payload.freeze();
    let fin = flags & FLAG_FIN != 0;
    if head[0] & CONTROL_BIT == 0 {
        let id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
        return Ok(Some(Frame::Data { id, fin, data: p }));
    }
    let kind = u16::from_be_bytes([head[2], head[3]]);
    let need = |n: usize, p: &Bytes| {
        if p.len() < n { Err(SpdyError::Protocol(format!("control frame {kind} too short"))) } else { Ok(()) }
    };
    Ok(Some(match kind {
        SYN_STREAM => {
            need(10, &p)?;
            let id = p.get_u32() & 0x7fff_ffff;
            p.advance(6); // associated stream id, priority, slot
            Frame::SynStream { id, fin, headers: dec.decode(&p)? }
        }
        SYN_REPLY | HEADERS => {
            need(4, &p)?;
            let id = p.get_u32() & 0x7fff_ffff;
            let headers = dec.decode(&p)?;
            if kind == SYN_REPLY { Frame::SynReply { id, fin, headers } } else { Frame::Headers { id, fin, headers } }
        }
        RST_STREAM => {
            need(8, &p)?;
            Frame::RstStream { id: p.get_u32() & 0x7fff_ffff, status: p.get_u32() }
        }
        PING => {
            need(4, &p)?;
            Frame::Ping(p.get_u32())
        }
        GOAWAY => {
            need(4, &p)?;
            Frame::GoAway { last_good: p.get_u32() & 0x7fff_ffff }
        }
        SETTINGS | WINDOW_UPDATE => Frame::Ignored(kind),
        other => Frame::Ignored(other),
    }))
}

/// A stream the client opened.
pub struct SpdyStream {
    pub id: u32,
    pub headers: Headers,
    /// The client's data; ends at its FIN, a RST_STREAM or the end of the connection.
    pub data: mpsc::Receiver<Bytes>,
}

enum WriteCmd {
    Reply(u32),
    Data(u32, Bytes, bool),
    Reset(u32, u32),
    Pong(u32),
    GoAway,
    Shutdown(oneshot::Sender<()>),
}

/// Queues frames for the writer task. Cheap to clone.
#[derive(Clone)]
pub struct SpdyWriter {
    tx: mpsc::Sender<WriteCmd>,
}

/// The connection is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the SPDY connection is closed")]
pub struct Closed;

impl SpdyWriter {
    /// Send `data` on stream `id` (split into frames as needed).
    pub async fn data(&self, id: u32, data: Bytes) -> Result<(), Closed> {
        self.tx.send(WriteCmd::Data(id, data, false)).await.map_err(|_| Closed)
    }
    /// Half-close stream `id`: an empty DATA frame with FIN.
    pub async fn fin(&self, id: u32) -> Result<(), Closed> {
        self.tx.send(WriteCmd::Data(id, Bytes::new(), true)).await.map_err(|_| Closed)
    }
    /// Abort stream `id`.
    pub async fn reset(&self, id: u32, status: u32) -> Result<(), Closed> {
        self.tx.send(WriteCmd::Reset(id, status)).await.map_err(|_| Closed)
    }
}

/// A running SPDY connection and its writer (the streams the client opens
/// arrive on the receiver returned by [`SpdySession::start`]).
pub struct SpdySession {
    pub writer: SpdyWriter,
    reader: JoinHandle<()>,
    writer_task: JoinHandle<()>,
}

impl SpdySession {
    /// Start serving SPDY on an upgraded connection. The receiver yields the
    /// streams the client opens and ends with the connection (EOF, GOAWAY).
    pub fn start<S>(io: S) -> (SpdySession, mpsc::Receiver<SpdyStream>)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (r, w) = tokio::io::split(io);
        let (wtx, wrx) = mpsc::channel(64);
        let (itx, incoming) = mpsc::channel(16);
        let writer_task = tokio::spawn(write_loop(w, wrx));
        let reader = tokio::spawn(read_loop(r, itx, wtx.clone()));
        (SpdySession { writer: SpdyWriter { tx: wtx }, reader, writer_task }, incoming)
    }

    /// End the connection: GOAWAY, shut our side down, give the client
    /// `linger` to close its side (kubectl answers with RST_STREAM and
    /// GOAWAY), then drop the connection.
    pub async fn finish(self, linger: Duration) {
        let SpdySession { writer, mut reader, writer_task } = self;
        let _ = writer.tx.send(WriteCmd::GoAway).await;
        let (ack, done) = oneshot::channel();
        if writer.tx.send(WriteCmd::Shutdown(ack)).await.is_ok() {
            let _ = tokio::time::timeout(linger, done).await;
        }
        drop(writer);
        if tokio::time::timeout(linger, &mut reader).await.is_err() {
            reader.abort();
        }
        writer_task.abort();
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::Receiver<WriteCmd>) {
    let mut enc = HeaderEncoder::default();
    while let Some(cmd) = rx.recv().await {
        let mut buf = Vec::new();
        let mut next = Some(cmd);
        // Write everything queued in one go, then flush once.
        while let Some(cmd) = next.take() {
            match cmd {
                WriteCmd::Reply(id) => {
                    let Ok(block) = enc.encode(&Headers::default()) else { return };
                    let mut p = Vec::with_capacity(4 + block.len());
                    p.put_u32(id);
                    p.extend_from_slice(&block);
                    buf.extend(control(SYN_REPLY, 0, &p));
                }
                WriteCmd::Data(id, data, fin) => {
                    if data.is_empty() {
                        buf.extend(data_frame(id, fin, &[]));
                    }
                    let chunks = data.chunks(MAX_DATA).count();
                    for (i, chunk) in data.chunks(MAX_DATA).enumerate() {
                        buf.extend(data_frame(id, fin && i + 1 == chunks, chunk));
                    }
                }
                WriteCmd::Reset(id, status) => {
                    let mut p = Vec::with_capacity(8);
                    p.put_u32(id);
                    p.put_u32(status);
                    buf.extend(control(RST_STREAM, 0, &p));
                }
                WriteCmd::Pong(id) => buf.extend(control(PING, 0, &id.to_be_bytes())),
                WriteCmd::GoAway => buf.extend(control(GOAWAY, 0, &[0u8; 8])),
                WriteCmd::Shutdown(ack) => {
                    let _ = w.write_all(&buf).await;
                    let _ = w.flush().await;
                    let _ = w.shutdown().await;
                    let _ = ack.send(());
                    return;
                }
            }
            if buf.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        if w.write_all(&buf).await.is_err() || w.flush().await.is_err() {
            return;
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(mut r: R, incoming: mpsc::Sender<SpdyStream>, w: mpsc::Sender<WriteCmd>) {
    let mut dec = HeaderDecoder::default();
    let mut streams: HashMap<u32, mpsc::Sender<Bytes>> = HashMap::new();
    loop {
        let frame = match read_frame(&mut r, &mut dec).await {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "SPDY read");
                return;
            }
        };
        match frame {
            Frame::SynStream { id, fin, headers } => {
                let (tx, data) = mpsc::channel(32);
                // The reply goes out before anything the handler writes on the stream.
                if w.send(WriteCmd::Reply(id)).await.is_err() {
                    return;
                }
                if incoming.send(SpdyStream { id, headers, data }).await.is_err() {
                    let _ = w.send(WriteCmd::Reset(id, RST_REFUSED_STREAM)).await;
                    continue;
                }
                if !fin {
                    streams.insert(id, tx);
                }
            }
            Frame::Data { id, fin, data } => {
                if let Some(tx) = streams.get(&id)
                    && !data.is_empty()
                    && tx.send(data).await.is_err()
                {
                    streams.remove(&id);
                }
                if fin {
                    streams.remove(&id);
                }
            }
            Frame::Headers { id, fin: true, .. } | Frame::RstStream { id, .. } => {
                streams.remove(&id);
            }
            Frame::Ping(id) => {
                if w.send(WriteCmd::Pong(id)).await.is_err() {
                    return;
                }
            }
            Frame::GoAway { .. } => return,
            Frame::SynReply { .. } | Frame::Headers { .. } | Frame::Ignored(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn decodes_blocks_compressed_by_another_zlib() {
        // Two consecutive blocks of one connection, compressed by Python's
        // zlib with the SPDY dictionary (as Go's compress/zlib does).
        let mut d = HeaderDecoder::default();
        let h1 = d.decode(&hex("78bbe3c6a7c202a62346703a2b294a4dcc851625aca9a08006000000ffff")).unwrap();
        assert_eq!(h1, headers(&[("streamtype", "error")]));
        let h2 = d.decode(&hex("c22a054ccc29f9a52500000000ffff")).unwrap();
        assert_eq!(h2, headers(&[("streamtype", "stdout")]));
    }

    #[test]
    fn header_blocks_round_trip_across_one_stream() {
        let (mut e, mut d) = (HeaderEncoder::default(), HeaderDecoder::default());
        for h in [
            headers(&[]),
            headers(&[("streamtype", "data"), ("port", "8080"), ("requestid", "0")]),
            headers(&[("streamtype", "error"), ("port", "8080"), ("requestid", "0")]),
        ] {
            assert_eq!(d.decode(&e.encode(&h).unwrap()).unwrap(), h);
        }
    }

    #[test]
    fn parses_multi_valued_headers_and_rejects_truncation() {
        let mut raw = Vec::new();
        raw.put_u32(1);
        raw.put_u32(1);
        raw.extend_from_slice(b"a");
        raw.put_u32(3);
        raw.extend_from_slice(b"x\0y");
        assert_eq!(parse_header_block(&raw).unwrap(), headers(&[("a", "x"), ("a", "y")]));
        assert!(parse_header_block(&raw[..raw.len() - 1]).is_err());
        assert!(parse_header_block(&[0, 0]).is_err());
    }

    #[tokio::test]
    async fn reads_control_and_data_frames() {
        let mut enc = HeaderEncoder::default();
        let mut wire = Vec::new();
        let mut syn = Vec::new();
        syn.put_u32(3);
        syn.put_u32(0);
        syn.put_u16(0);
        syn.extend(enc.encode(&headers(&[("streamtype", "stdin")])).unwrap());
        wire.extend(control(SYN_STREAM, 0, &syn));
        wire.extend(data_frame(3, false, b"hello"));
        wire.extend(data_frame(3, true, b""));
        wire.extend(control(PING, 0, &1u32.to_be_bytes()));
        wire.extend(control(WINDOW_UPDATE, 0, &[0, 0, 0, 3, 0, 0, 1, 0]));
        wire.extend(control(RST_STREAM, 0, &[0, 0, 0, 5, 0, 0, 0, 5]));
        wire.extend(control(GOAWAY, 0, &[0u8; 8]));
        let mut r = &wire[..];
        let mut d = HeaderDecoder::default();
        let mut got = Vec::new();
        while let Some(f) = read_frame(&mut r, &mut d).await.unwrap() {
            got.push(f);
        }
        assert_eq!(
            got,
            vec![
                Frame::SynStream { id: 3, fin: false, headers: headers(&[("streamtype", "stdin")]) },
                Frame::Data { id: 3, fin: false, data: Bytes::from_static(b"hello") },
                Frame::Data { id: 3, fin: true, data: Bytes::new() },
                Frame::Ping(1),
                Frame::Ignored(WINDOW_UPDATE),
                Frame::RstStream { id: 5, status: 5 },
                Frame::GoAway { last_good: 0 },
            ]
        );
    }

    #[tokio::test]
    async fn session_replies_delivers_data_and_answers_pings() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (session, mut incoming) = SpdySession::start(server);
        let (mut cr, mut cw) = tokio::io::split(client);
        let mut enc = HeaderEncoder::default();
        let mut syn = Vec::new();
        syn.put_u32(1);
        syn.put_u32(0);
        syn.put_u16(0);
        syn.extend(enc.encode(&headers(&[("streamtype", "stdin")])).unwrap());
        cw.write_all(&control(SYN_STREAM, 0, &syn)).await.unwrap();
        cw.write_all(&data_frame(1, true, b"abc")).await.unwrap();
        cw.write_all(&control(PING, 0, &7u32.to_be_bytes())).await.unwrap();

        let mut s = incoming.recv().await.unwrap();
        assert_eq!((s.id, s.headers.get("streamType")), (1, Some("stdin")));
        assert_eq!(s.data.recv().await.unwrap(), Bytes::from_static(b"abc"));
        assert!(s.data.recv().await.is_none(), "FIN ends the stream's data");
        session.writer.data(1, Bytes::from_static(b"out")).await.unwrap();
        session.writer.fin(1).await.unwrap();

        let mut d = HeaderDecoder::default();
        let mut frames = Vec::new();
        for _ in 0..4 {
            frames.push(read_frame(&mut cr, &mut d).await.unwrap().unwrap());
        }
        assert_eq!(
            frames,
            vec![
                Frame::SynReply { id: 1, fin: false, headers: Headers::default() },
                Frame::Ping(7),
                Frame::Data { id: 1, fin: false, data: Bytes::from_static(b"out") },
                Frame::Data { id: 1, fin: true, data: Bytes::new() },
            ]
        );
        drop(cw);
        session.finish(Duration::from_secs(1)).await;
        assert_eq!(read_frame(&mut cr, &mut d).await.unwrap(), Some(Frame::GoAway { last_good: 0 }));
        assert_eq!(read_frame(&mut cr, &mut d).await.unwrap(), None);
    }
}
