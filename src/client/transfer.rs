//! Files sent and received: a file is sealed chunk by chunk
//! ([`crate::e2e::attachment`]), its chunks uploaded to the server under a random id,
//! then announced to the room in an MLS message that carries its key, size, digest,
//! name and media type ([`Body::File`]). A member downloads the chunks, opens them in
//! order into a temporary file and renames it into place once the digest matches.
//!
//! Each transfer keeps [`WINDOW`] chunk requests in flight on the connection (a new one
//! goes out as each answer comes), each of up to [`BLOB_BATCH`] chunks (256 KiB), so
//! that a chat message waits behind a few hundred KiB at most. It moves one answer per
//! step, and a client shared with a background thread ([`super::Background`]) is held
//! to send requests and to take an answer: not while the answer comes ([`Pending`]),
//! nor while chunks are sealed or opened.
//! A step cut by a lost connection fails as such; the transfer is then where the
//! server acknowledged it, and goes on from there once connected again (an upload asks
//! the server how many chunks it holds; a download goes on from the next chunk it
//! needs).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::state::Body;
use super::{Attachment, Background, Client, Message};
use crate::e2e::attachment::{Download, FileKey, SealedFile};
use crate::e2e::sealed::FileRef;
use crate::error::{AttachmentError, ClientError};
use crate::proto::{
    blob_chunks, BlobId, Refusal, Reply, Request, BLOB_BATCH, BLOB_CHUNK, MAX_NAME,
};
use tokio::sync::oneshot;

/// Chunk requests in flight on the connection at once, per transfer.
const WINDOW: usize = 2;

/// The media type of a file whose sender gave none.
const OCTET_STREAM: &str = "application/octet-stream";

/// The longest file name or media type a message carries, bytes (a longer one received
/// is cut).
pub(crate) const MAX_FILE_NAME: usize = 4 * MAX_NAME;

/// A file being uploaded.
pub(crate) struct Upload {
    room: String,
    file: SealedFile,
    name: String,
    mime: String,
    blob: BlobId,
    /// Chunks the server holds, from the first.
    held: u32,
    /// The next chunk to send.
    next: u32,
    in_flight: InFlight,
    /// Batches read and sealed ahead, without the client ([`Upload::prepare`]), oldest
    /// first.
    ready: VecDeque<Batch>,
    /// The connection was lost (or a chunk refused) since the last step: ask the
    /// server where it stands.
    resync: bool,
}

/// Chunks of an upload sealed together, for one request.
struct Batch {
    index: u32,
    count: u32,
    bytes: Vec<u8>,
}

/// A file being downloaded.
pub(crate) struct Downloading {
    blob: BlobId,
    size: u64,
    download: Download,
    /// The next chunk to ask for.
    next: u32,
    in_flight: InFlight,
    /// Chunks received and not opened yet (they are opened and written without the
    /// client: [`Downloading::settle`]), and how many they are.
    arrived: Option<(Vec<u8>, u32)>,
}

/// A chunk request sent: its id, and the chunks it moves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked {
    id: u64,
    count: u32,
    /// The chunk after the last one it moves.
    end: u32,
}

/// Chunk requests sent and not answered yet, oldest first: each one, and where its
/// answer comes.
#[derive(Default)]
struct InFlight(VecDeque<(Asked, oneshot::Receiver<Result<Reply, Refusal>>)>);

impl InFlight {
    /// Forgets every request in flight (their answers are dropped when they come).
    fn clear(&mut self, client: &Client) {
        for (asked, _) in self.0.drain(..) {
            client.forget(asked.id);
        }
    }

    /// Records request `sent` of `count` chunks from chunk `index` on.
    fn push(
        &mut self,
        (id, reply): (u64, oneshot::Receiver<Result<Reply, Refusal>>),
        index: u32,
        count: u32,
    ) {
        let end = index + count;
        self.0.push_back((Asked { id, count, end }, reply));
    }

    /// The oldest request's answer, to wait for.
    fn oldest(&mut self, client: &Client) -> Option<Pending> {
        self.0.pop_front().map(|(asked, reply)| Pending {
            asked,
            reply,
            limit: client.request_timeout(),
        })
    }
}

/// A server's answer that it holds `held` chunks of `upload`, more than the file has.
fn past_the_end(held: u32, upload: &Upload) -> ClientError {
    ClientError::Protocol(format!(
        "the server says it holds {held} chunks of a file of {}",
        upload.file.chunk_count()
    ))
}

/// Bytes of a file of `size` bytes in its first `chunks` chunks.
fn bytes_in(size: u64, chunks: u32) -> u64 {
    (u64::from(chunks) * BLOB_CHUNK as u64).min(size)
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub(crate) fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

impl Upload {
    /// Bytes the server holds, and the file's size.
    pub(crate) fn progress(&self) -> (u64, u64) {
        (bytes_in(self.file.size(), self.held), self.file.size())
    }

    /// Whether the server holds every chunk.
    pub(crate) fn complete(&self) -> bool {
        self.held == self.file.chunk_count()
    }

    /// Reads and seals the batches the next step will send, so that the step holds a
    /// shared client only to send them: a chat message waits for no file's reading
    /// or sealing.
    fn prepare(&mut self) -> Result<(), ClientError> {
        if self.resync {
            // Where the upload goes on is not known yet.
            return Ok(());
        }
        let count = self.file.chunk_count();
        let mut at = self.ready.back().map_or(self.next, |b| b.index + b.count);
        while self.in_flight.0.len() + self.ready.len() < WINDOW && at < count {
            let n = BLOB_BATCH.min(count - at);
            let bytes = self.file.chunks(at, n)?;
            self.ready.push_back(Batch {
                index: at,
                count: n,
                bytes,
            });
            at += n;
        }
        Ok(())
    }

    /// The batch from the next chunk to send on: prepared ahead, or read and sealed
    /// now.
    fn next_batch(&mut self) -> Result<Batch, ClientError> {
        match self.ready.pop_front() {
            Some(batch) if batch.index == self.next => Ok(batch),
            _ => {
                self.ready.clear();
                let n = BLOB_BATCH.min(self.file.chunk_count() - self.next);
                Ok(Batch {
                    index: self.next,
                    count: n,
                    bytes: self.file.chunks(self.next, n)?,
                })
            }
        }
    }
}

impl Downloading {
    /// Bytes received, and the file's size.
    pub(crate) fn progress(&self) -> (u64, u64) {
        (bytes_in(self.size, self.download.next_chunk()), self.size)
    }

    /// Whether every chunk was received.
    pub(crate) fn complete(&self) -> bool {
        self.download.next_chunk() == blob_chunks(self.size).unwrap_or(0)
    }

    /// Opens the chunks received last and appends them to the file: the work a step
    /// does without the client.
    fn settle(&mut self) -> Result<(), ClientError> {
        if let Some((bytes, count)) = self.arrived.take() {
            self.download.push(bytes, count)?;
        }
        Ok(())
    }
}

impl Client {
    /// Sends the file at `path` to `room`, end-to-end encrypted: its chunks are sealed
    /// under a fresh key and uploaded, then a message announces it to the members with
    /// its key, size, SHA-256, `name` (the file's own name by default) and `mime`
    /// (`application/octet-stream` by default). `progress(done, total)` is called as
    /// the upload proceeds, and returns whether to go on (`false` stops it:
    /// [`crate::ErrorKind::Cancelled`]). The server sees only sealed chunks and the
    /// size. Returns the message as stored.
    pub fn send_file(
        &mut self,
        room: &str,
        path: impl AsRef<Path>,
        name: Option<&str>,
        mime: Option<&str>,
        mut progress: impl FnMut(u64, u64) -> bool,
    ) -> Result<Message, ClientError> {
        let mut upload = self.begin_upload(room, path.as_ref(), name, mime)?;
        while !upload.complete() {
            self.upload_step(&mut upload)?;
            let (done, total) = upload.progress();
            if !progress(done, total) {
                return Err(AttachmentError::Cancelled.into());
            }
        }
        self.finish_upload(upload)
    }

    /// Downloads the file of `attachment` into `path`: every chunk fetched, opened and
    /// checked, then the SHA-256 of the whole; only then is `path` created (or
    /// replaced). A tampered, truncated or reordered file leaves nothing there
    /// ([`crate::ErrorKind::Undecryptable`]). `progress(done, total)` is called as it
    /// proceeds, and returns whether to go on (as for [`Client::send_file`]).
    pub fn download(
        &mut self,
        attachment: &Attachment,
        path: impl AsRef<Path>,
        mut progress: impl FnMut(u64, u64) -> bool,
    ) -> Result<PathBuf, ClientError> {
        let mut download = self.begin_download(attachment, path.as_ref())?;
        while !download.complete() {
            self.download_step(&mut download)?;
            let (done, total) = download.progress();
            if !progress(done, total) {
                return Err(AttachmentError::Cancelled.into());
            }
        }
        Ok(download.download.finish()?)
    }

    /// Opens the file and begins its upload to `room` (of which this user must be a
    /// member).
    pub(crate) fn begin_upload(
        &mut self,
        room: &str,
        path: &Path,
        name: Option<&str>,
        mime: Option<&str>,
    ) -> Result<Upload, ClientError> {
        self.require_group(room)?;
        let file = SealedFile::open(path)?;
        let name = match name {
            Some(name) => name.to_owned(),
            None => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let mime = mime.filter(|m| !m.is_empty()).unwrap_or(OCTET_STREAM);
        let blob = match self.request(Request::BeginUpload {
            room: room.to_owned(),
            size: file.size(),
        })? {
            Reply::Upload { blob } => blob,
            other => return Err(ClientError::Protocol(format!("{other:?}"))),
        };
        Ok(Upload {
            room: room.to_owned(),
            file,
            name: cut(&name, MAX_FILE_NAME),
            mime: cut(mime, MAX_FILE_NAME),
            blob,
            held: 0,
            next: 0,
            in_flight: InFlight::default(),
            ready: VecDeque::new(),
            resync: false,
        })
    }

    /// One step of `upload`: [`Client::upload_fill`], the wait, [`Client::upload_take`].
    pub(crate) fn upload_step(&mut self, upload: &mut Upload) -> Result<(), ClientError> {
        match self.upload_fill(upload)? {
            Some(pending) => {
                let (asked, answer) = pending.wait();
                self.upload_take(upload, asked, answer)
            }
            None => Ok(()),
        }
    }

    /// Sends chunks of `upload` until [`WINDOW`] are in flight (after asking the
    /// server where the upload stands, if it must), and hands back the oldest one's
    /// answer to wait for.
    fn upload_fill(&mut self, upload: &mut Upload) -> Result<Option<Pending>, ClientError> {
        if upload.resync {
            upload.in_flight.clear(self);
            upload.ready.clear();
            match self.request(Request::UploadState { blob: upload.blob })? {
                Reply::Stored { held } if held <= upload.file.chunk_count() => upload.held = held,
                Reply::Stored { held } => return Err(past_the_end(held, upload)),
                other => return Err(ClientError::Protocol(format!("{other:?}"))),
            }
            upload.next = upload.held;
            upload.resync = false;
        }
        let count = upload.file.chunk_count();
        while upload.in_flight.0.len() < WINDOW && upload.next < count {
            let Batch {
                index,
                count: n,
                bytes,
            } = upload.next_batch()?;
            let request = Request::PutChunks {
                blob: upload.blob,
                index,
                bytes,
            };
            match self.submit(&request) {
                Ok(sent) => upload.in_flight.push(sent, index, n),
                Err(e) => {
                    upload.resync = true;
                    return Err(e);
                }
            }
            upload.next += n;
        }
        if upload.in_flight.0.is_empty() && !upload.complete() {
            // Everything sent and answered, and the server holds less: never spin.
            return Err(ClientError::Protocol(format!(
                "the server holds {} of the file's {count} chunks, with none left to send",
                upload.held
            )));
        }
        Ok(upload.in_flight.oldest(self))
    }

    /// Takes the `answer` to chunk request `asked` of `upload`.
    fn upload_take(
        &mut self,
        upload: &mut Upload,
        asked: Asked,
        answer: Result<Reply, ClientError>,
    ) -> Result<(), ClientError> {
        match answer {
            // A server stores a batch whole, in order: it holds at least up to its end
            // once it answers, and never more than the file. An answer that says
            // otherwise would leave the upload with nothing left to send and never
            // complete: it fails instead.
            Ok(Reply::Stored { held }) if held > upload.file.chunk_count() => {
                Err(past_the_end(held, upload))
            }
            Ok(Reply::Stored { held }) if held < asked.end => Err(ClientError::Protocol(format!(
                "the server says it holds {held} chunks of the file once given chunks up to {}",
                asked.end
            ))),
            Ok(Reply::Stored { held }) => {
                upload.held = upload.held.max(held);
                Ok(())
            }
            Ok(other) => Err(ClientError::Protocol(format!("{other:?}"))),
            // Waits; the chunks after it were refused as out of order: the upload goes
            // on from where the server stands.
            Err(ClientError::Refused(Refusal::RateLimited { retry_after_ms })) => {
                upload.resync = true;
                std::thread::sleep(Duration::from_millis(retry_after_ms));
                Ok(())
            }
            Err(e) => {
                self.forget(asked.id);
                upload.resync = true;
                Err(e)
            }
        }
    }

    /// Announces the uploaded file to its room.
    pub(crate) fn finish_upload(&mut self, upload: Upload) -> Result<Message, ClientError> {
        let sha256 = upload
            .file
            .digest()
            .ok_or_else(|| ClientError::Protocol("the file's upload is not complete".to_owned()))?;
        let file = FileRef {
            blob: upload.blob.0,
            key: *upload.file.key().as_bytes(),
            size: upload.file.size(),
            sha256,
            name: upload.name.clone(),
            mime: upload.mime.clone(),
        };
        self.send_body(&upload.room, Body::File(Box::new(file)))
    }

    /// Begins the download of `attachment` into `path` (a temporary file beside it).
    pub(crate) fn begin_download(
        &mut self,
        attachment: &Attachment,
        path: &Path,
    ) -> Result<Downloading, ClientError> {
        let file = &attachment.0;
        let key = FileKey::from_bytes(&file.key)
            .ok_or_else(|| ClientError::Protocol("a file key of the wrong length".to_owned()))?;
        Ok(Downloading {
            blob: BlobId(file.blob),
            size: file.size,
            download: Download::begin(path, &key, file.size, file.sha256)?,
            next: 0,
            in_flight: InFlight::default(),
            arrived: None,
        })
    }

    /// One step of `downloading`: [`Client::download_fill`], the wait,
    /// [`Client::download_take`].
    pub(crate) fn download_step(
        &mut self,
        downloading: &mut Downloading,
    ) -> Result<(), ClientError> {
        match self.download_fill(downloading)? {
            Some(pending) => {
                let (asked, answer) = pending.wait();
                self.download_take(downloading, asked, answer)?;
                downloading.settle()
            }
            None => Ok(()),
        }
    }

    /// Asks for chunks of `downloading` until [`WINDOW`] are in flight, and hands back
    /// the oldest one's answer to wait for.
    fn download_fill(
        &mut self,
        downloading: &mut Downloading,
    ) -> Result<Option<Pending>, ClientError> {
        let count = blob_chunks(downloading.size).unwrap_or(0);
        while downloading.in_flight.0.len() < WINDOW && downloading.next < count {
            let n = BLOB_BATCH.min(count - downloading.next);
            let request = Request::FetchChunks {
                blob: downloading.blob,
                index: downloading.next,
                count: n,
            };
            match self.submit(&request) {
                Ok(sent) => downloading.in_flight.push(sent, downloading.next, n),
                Err(e) => {
                    downloading.restart(self);
                    return Err(e);
                }
            }
            downloading.next += n;
        }
        Ok(downloading.in_flight.oldest(self))
    }

    /// Takes the `answer` to chunk request `asked` of `downloading`: the chunks, to be
    /// opened and written by [`Downloading::settle`].
    fn download_take(
        &mut self,
        downloading: &mut Downloading,
        asked: Asked,
        answer: Result<Reply, ClientError>,
    ) -> Result<(), ClientError> {
        match answer {
            Ok(Reply::Chunk(bytes)) => {
                downloading.arrived = Some((bytes, asked.count));
                Ok(())
            }
            Ok(other) => Err(ClientError::Protocol(format!("{other:?}"))),
            Err(e) => {
                // Asked again from the next chunk needed (after a wait, if the server
                // said so).
                self.forget(asked.id);
                downloading.restart(self);
                if let ClientError::Refused(Refusal::RateLimited { retry_after_ms }) = e {
                    std::thread::sleep(Duration::from_millis(retry_after_ms));
                    return Ok(());
                }
                Err(e)
            }
        }
    }
}

/// The answer to a chunk request, waited for without the client: a client shared with
/// a background thread is free for others meanwhile.
pub(crate) struct Pending {
    asked: Asked,
    reply: oneshot::Receiver<Result<Reply, Refusal>>,
    limit: Duration,
}

impl Pending {
    /// Waits for the answer, up to the request timeout: the request's id and its
    /// answer (a timeout or a lost connection as errors).
    fn wait(self) -> (Asked, Result<Reply, ClientError>) {
        let Pending {
            asked,
            reply,
            limit,
        } = self;
        let answer = super::connection::runtime()
            .map_err(ClientError::from)
            .and_then(|rt| {
                match rt.block_on(async move { tokio::time::timeout(limit, reply).await }) {
                    Err(_) => Err(ClientError::Timeout(limit)),
                    Ok(Err(_)) => Err(ClientError::ConnectionClosed),
                    Ok(Ok(result)) => Ok(result?),
                }
            });
        (asked, answer)
    }
}

impl Downloading {
    /// Forgets the requests in flight: the next step asks again from the next chunk
    /// needed.
    fn restart(&mut self, client: &Client) {
        self.in_flight.clear(client);
        self.next = self.download.next_chunk();
    }
}

/// How long a transfer lets other callers of its client go first, at most, per step.
const YIELD: Duration = Duration::from_millis(100);

/// How long a transfer waits between tries while its connection is being restored.
const RETRY: Duration = Duration::from_millis(50);

/// A transfer that moves in steps: requests sent, an answer waited for (without the
/// client), the answer taken.
trait Transfer {
    /// Sends what may be sent: the answer to wait for next, if any.
    fn fill(&mut self, client: &mut Client) -> Result<Option<Pending>, ClientError>;
    /// Takes the answer to request `asked`.
    fn take(
        &mut self,
        client: &mut Client,
        asked: Asked,
        answer: Result<Reply, ClientError>,
    ) -> Result<(), ClientError>;
    /// The work of the next step that needs no client (reading and sealing chunks).
    fn prepare(&mut self) -> Result<(), ClientError>;
    /// The work of the last step that needs no client (opening and writing chunks).
    fn settle(&mut self) -> Result<(), ClientError>;
    /// Whether it is done.
    fn complete(&self) -> bool;
    /// Bytes moved, and the file's size.
    fn progress(&self) -> (u64, u64);
}

impl Transfer for Upload {
    fn fill(&mut self, client: &mut Client) -> Result<Option<Pending>, ClientError> {
        client.upload_fill(self)
    }
    fn take(
        &mut self,
        client: &mut Client,
        asked: Asked,
        answer: Result<Reply, ClientError>,
    ) -> Result<(), ClientError> {
        client.upload_take(self, asked, answer)
    }
    fn prepare(&mut self) -> Result<(), ClientError> {
        Upload::prepare(self)
    }
    fn settle(&mut self) -> Result<(), ClientError> {
        Ok(())
    }
    fn complete(&self) -> bool {
        Upload::complete(self)
    }
    fn progress(&self) -> (u64, u64) {
        Upload::progress(self)
    }
}

impl Transfer for Downloading {
    fn fill(&mut self, client: &mut Client) -> Result<Option<Pending>, ClientError> {
        client.download_fill(self)
    }
    fn take(
        &mut self,
        client: &mut Client,
        asked: Asked,
        answer: Result<Reply, ClientError>,
    ) -> Result<(), ClientError> {
        client.download_take(self, asked, answer)
    }
    fn prepare(&mut self) -> Result<(), ClientError> {
        Ok(())
    }
    fn settle(&mut self) -> Result<(), ClientError> {
        Downloading::settle(self)
    }
    fn complete(&self) -> bool {
        Downloading::complete(self)
    }
    fn progress(&self) -> (u64, u64) {
        Downloading::progress(self)
    }
}

impl Background {
    /// [`Client::send_file`], holding the client one step (a few chunks) at a time, so
    /// that messages are received and sent meanwhile. A transfer cut by a lost
    /// connection goes on where the server stopped once the client has reconnected
    /// (it fails if no step succeeds within the request timeout).
    pub fn send_file(
        &self,
        room: &str,
        path: impl AsRef<Path>,
        name: Option<&str>,
        mime: Option<&str>,
        progress: impl FnMut(u64, u64) -> bool,
    ) -> Result<Message, ClientError> {
        let path = path.as_ref();
        let mut upload = self.with(|c| c.begin_upload(room, path, name, mime))?;
        self.drive(&mut upload, progress)?;
        self.with(|c| c.finish_upload(upload))
    }

    /// [`Client::download`], one step at a time (see [`Background::send_file`]).
    pub fn download(
        &self,
        attachment: &Attachment,
        path: impl AsRef<Path>,
        progress: impl FnMut(u64, u64) -> bool,
    ) -> Result<PathBuf, ClientError> {
        let path = path.as_ref();
        let mut downloading = self.with_local(|c| c.begin_download(attachment, path))?;
        self.drive(&mut downloading, progress)?;
        Ok(downloading.download.finish()?)
    }

    /// Moves `transfer` to its end, step by step, through reconnections.
    fn drive(
        &self,
        transfer: &mut impl Transfer,
        mut progress: impl FnMut(u64, u64) -> bool,
    ) -> Result<(), ClientError> {
        let timeout = self.with_local(|c| Ok(c.request_timeout()))?;
        let mut stalled: Option<Instant> = None;
        while !transfer.complete() {
            self.yield_to_others(YIELD);
            // The client is held to send and to take an answer, not while it comes,
            // nor while chunks are read and sealed, or opened and written (and its
            // readiness is not asked about: a step makes no events).
            let step = transfer
                .prepare()
                .and_then(|()| self.with_transfer(true, |c| transfer.fill(c)))
                .and_then(|pending| match pending {
                    Some(pending) => {
                        let (asked, answer) = pending.wait();
                        self.with_transfer(false, |c| transfer.take(c, asked, answer))
                    }
                    None => Ok(()),
                })
                .and_then(|()| transfer.settle());
            match step {
                Ok(()) => {
                    stalled = None;
                    let (done, total) = transfer.progress();
                    if !progress(done, total) {
                        return Err(AttachmentError::Cancelled.into());
                    }
                }
                Err(e) if e.kind().is_disconnect() && self.keeps_connected() => {
                    if stalled.get_or_insert_with(Instant::now).elapsed() > timeout {
                        return Err(e);
                    }
                    std::thread::sleep(RETRY);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
