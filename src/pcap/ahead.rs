//! A capture stream read in blocks that whoever reads packets in them may
//! keep ([`Block`], [`ReadAhead`]): by a thread of its own, a few blocks
//! ahead of the packets being taken (the kernel's copy of each block out
//! of the page cache, or a decompressor's work, runs beside the meter
//! instead of in its loop), or on the reader's own thread, in turn (the
//! meter's workers walking a file take turns at that reading: a thread
//! beside them would take CPU from them).

use std::io::{self, BufRead, BufReader, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use super::CaptureReader;
use crate::source::DynRead;

/// The stream under a capture reader: buffered here, or read ahead by a
/// thread of its own ([`CaptureReader::read_ahead`]).
pub(super) enum Buffered<R> {
    Here(BufReader<R>),
    Ahead(ReadAhead),
}

impl<R: Read> Buffered<R> {
    #[inline]
    pub(super) fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Buffered::Here(b) => b.fill_buf(),
            Buffered::Ahead(a) => a.fill_buf(),
        }
    }

    #[inline]
    pub(super) fn consume(&mut self, n: usize) {
        match self {
            Buffered::Here(b) => b.consume(n),
            Buffered::Ahead(a) => a.consume(n),
        }
    }

    #[inline]
    pub(super) fn buffer(&self) -> &[u8] {
        match self {
            Buffered::Here(b) => b.buffer(),
            Buffered::Ahead(a) => a.buffer(),
        }
    }

    /// The block read ahead that [`Self::buffer`] is part of.
    #[inline]
    pub(super) fn block(&self) -> Option<&Arc<Block>> {
        match self {
            Buffered::Here(_) => None,
            Buffered::Ahead(a) => Some(&a.cur),
        }
    }
}

impl<R: Read> Read for Buffered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Buffered::Here(b) => b.read(buf),
            Buffered::Ahead(a) => a.read(buf),
        }
    }
}

impl CaptureReader<crate::source::DynRead> {
    /// Have a thread of its own read the stream, a few blocks ahead of the
    /// packets taken (this module): for an operating-system stream (a file,
    /// a pipe, a decompressor over one), whose reads the thread may make
    /// without the caller. A capture in memory is read in place as before.
    /// Call it before the first packet (later, it does nothing).
    pub fn read_ahead(&mut self) {
        self.read_blocks_with(ReadAhead::start);
    }

    /// Read the stream in blocks on the reader's own thread, each kept by
    /// whoever still reads packets in it ([`CaptureReader::block`]) and
    /// its buffer reused once they let go: what a thread reading ahead
    /// gives, without the thread. Call it before the first packet (later,
    /// or on a stream already read ahead, it does nothing).
    pub fn read_in_blocks(&mut self) {
        self.read_blocks_with(ReadAhead::here);
    }

    fn read_blocks_with(&mut self, make: fn(Vec<u8>, crate::source::DynRead) -> ReadAhead) {
        if self.whole.is_some() || self.number > 0 || self.consume > 0 {
            return;
        }
        let placeholder = Buffered::Here(BufReader::with_capacity(
            0,
            Box::new(io::empty()) as crate::source::DynRead,
        ));
        match std::mem::replace(&mut self.r, placeholder) {
            Buffered::Here(b) => {
                // What the buffer holds was read from the stream already:
                // it is the first block.
                let head = b.buffer().to_vec();
                self.r = Buffered::Ahead(make(head, b.into_inner()));
            }
            other @ Buffered::Ahead(_) => self.r = other,
        }
    }
}

/// Bytes asked of the stream at a time (each block is what one `read`
/// gave: a pipe's blocks are as short as its writes, so a live capture is
/// not held back).
const BLOCK: usize = 256 << 10;
/// Blocks read and not yet taken.
const IN_FLIGHT: usize = 4;
/// Spent blocks kept for reuse: blocks whose packets others still read
/// ([`Block`]) come back later and more at a time than the reader's own.
const KEPT: usize = 16;

/// What the thread sends: a block, or the error that ended the stream.
type Sent = io::Result<Vec<u8>>;

/// A block read from the stream, shared with whoever still reads packets
/// in it where they lie (the meter's workers, [`CaptureReader::block`]);
/// when the last lets go, its buffer goes back to whoever reads the
/// stream (the thread, or the reader itself) for reuse (a buffer made
/// afresh is given fresh pages, zeroed by the kernel).
pub struct Block {
    bytes: Vec<u8>,
    back: Option<SyncSender<Vec<u8>>>,
}

impl Block {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn new(bytes: Vec<u8>, back: Option<SyncSender<Vec<u8>>>) -> Arc<Self> {
        Arc::new(Block { bytes, back })
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if let (Some(back), true) = (&self.back, self.bytes.capacity() > 0) {
            // Another is made if this one is not taken back.
            let _ = back.try_send(std::mem::take(&mut self.bytes));
        }
    }
}

/// A stream as blocks, read ahead by a thread or here in turn, with
/// [`BufRead`]'s buffer semantics (`fill_buf` gives the rest of the
/// current block, and the next block once it is consumed). After an error
/// or the end the thread is gone and the stream ends. When no thread can
/// be started, the blocks are read here.
pub(crate) struct ReadAhead {
    cur: Arc<Block>,
    at: usize,
    /// Blocks from the thread (`None` once it ended).
    from: Option<Receiver<Sent>>,
    /// Spent blocks back to the thread, or here, for reuse.
    back: Option<SyncSender<Vec<u8>>>,
    /// The stream itself, when read here, and the spent blocks back.
    here: Option<(DynRead, Receiver<Vec<u8>>)>,
}

impl ReadAhead {
    /// Read `r` ahead, after `head` (bytes already read from it).
    pub(crate) fn start(head: Vec<u8>, r: DynRead) -> Self {
        let (tx, from) = sync_channel::<Sent>(IN_FLIGHT);
        let (back, spent) = sync_channel::<Vec<u8>>(KEPT);
        // The stream goes to the thread once it runs, so that a thread
        // that cannot be started leaves it here.
        let (give, take) = sync_channel::<DynRead>(1);
        let spawned = std::thread::Builder::new()
            .name("ferrofix-read-ahead".into())
            .spawn(move || {
                if let Ok(r) = take.recv() {
                    read_blocks(r, &tx, &spent);
                }
            });
        if spawned.is_err() {
            return Self::here(head, r);
        }
        match give.send(r) {
            Ok(()) => ReadAhead {
                cur: Block::new(head, None),
                at: 0,
                from: Some(from),
                back: Some(back),
                here: None,
            },
            Err(std::sync::mpsc::SendError(r)) => Self::here(head, r),
        }
    }

    /// Read `r` here, a block at a time as the packets come to its end,
    /// after `head` (bytes already read from it).
    pub(crate) fn here(head: Vec<u8>, r: DynRead) -> Self {
        let (back, spent) = sync_channel::<Vec<u8>>(KEPT);
        ReadAhead {
            cur: Block::new(head, None),
            at: 0,
            from: None,
            back: Some(back),
            here: Some((r, spent)),
        }
    }

    /// The bytes of the current block not yet consumed.
    pub(crate) fn buffer(&self) -> &[u8] {
        self.cur.bytes.get(self.at..).unwrap_or_default()
    }

    /// No bytes left (the end, or an error).
    fn empty(&mut self) {
        self.cur = Block::new(Vec::new(), None);
        self.at = 0;
    }

    /// The next block (empty at the end).
    fn next_block(&mut self) -> io::Result<()> {
        let next = if let Some((r, spent)) = &mut self.here {
            // The spent block's buffer, unless another still reads it;
            // then one that came back, or a new one.
            let mut b = Arc::get_mut(&mut self.cur)
                .map(|c| std::mem::take(&mut c.bytes))
                .filter(|b| b.capacity() > 0)
                .or_else(|| spent.try_recv().ok())
                .unwrap_or_default();
            b.resize(BLOCK, 0);
            let k = loop {
                match r.read(&mut b) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.empty();
                        return Err(e);
                    }
                    Ok(k) => break k,
                }
            };
            b.truncate(k);
            Block::new(b, self.back.clone())
        } else {
            let Some(from) = &self.from else {
                self.empty();
                return Ok(());
            };
            match from.recv() {
                Ok(Ok(b)) => Block::new(b, self.back.clone()),
                Ok(Err(e)) => {
                    self.from = None;
                    self.empty();
                    return Err(e);
                }
                Err(_) => {
                    // The thread ended: the stream did.
                    self.from = None;
                    Block::new(Vec::new(), None)
                }
            }
        };
        // The spent block goes back to the thread once no one reads it.
        self.cur = next;
        self.at = 0;
        Ok(())
    }
}

impl BufRead for ReadAhead {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.at >= self.cur.bytes.len() {
            self.next_block()?;
        }
        Ok(self.buffer())
    }

    fn consume(&mut self, n: usize) {
        self.at = self.at.saturating_add(n).min(self.cur.bytes.len());
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let have = self.fill_buf()?;
        let n = have.len().min(buf.len());
        buf.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(have.get(..n).unwrap_or_default());
        self.consume(n);
        Ok(n)
    }
}

/// The thread: a block per `read` until the end, an error, or the reader
/// is dropped (its side of the channel closed).
fn read_blocks(mut r: DynRead, to: &SyncSender<Sent>, spent: &Receiver<Vec<u8>>) {
    loop {
        // A spent block back from the reader, or a new one.
        let mut b = spent.try_recv().unwrap_or_default();
        b.resize(BLOCK, 0);
        let got = loop {
            match r.read(&mut b) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        match got {
            Ok(0) => return,
            Ok(k) => {
                b.truncate(k);
                if to.send(Ok(b)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = to.send(Err(e));
                return;
            }
        }
    }
}
