//! Structure-aware generators of ferrofix inputs, for tests and fuzzing.
//!
//! Each generator turns a stream of choices ([`Choices`]: a fuzzer's bytes,
//! or a seeded PRNG for tests) into a VALID input of its kind, knowing what
//! a correct reader must find in it ([`Expect`]: records, RFC 6313 list
//! elements, capture timestamps), and records where its header fields,
//! lengths, counts, options and blocks are ([`Field`], [`Generated::blocks`]).
//! [`mutate`] then damages those places the way broken exporters and
//! capture tools do (a length or count off, an option value at its extreme,
//! a block duplicated or dropped, a cut end), so the fuzzer spends its time
//! past the first length check.
//!
//! Kinds: [`ipfix`] (RFC 7011 messages: templates, options templates,
//! withdrawals, variable-length fields, RFC 6313 lists), [`netflow`]
//! (NetFlow v9 and v5 packet streams), [`pcap`] and [`pcapng`] (captures of
//! those over UDP and TCP, [`frames`] building the packets), [`compress`]
//! (gzip and zstd wrappers of any of them).

pub mod compress;
pub mod frames;
pub mod ipfix;
pub mod netflow;
pub mod pcap;
pub mod pcapng;

use std::ops::Range;

/// The source of every choice a generator makes.
pub struct Choices<'a> {
    data: &'a [u8],
    pos: usize,
    /// xorshift64* state once `data` is used up (0: give zeros, so a short
    /// fuzz input means a small structure).
    rng: u64,
}

impl<'a> Choices<'a> {
    /// Choices read from a fuzzer's bytes; zeros once they run out.
    pub fn new(data: &'a [u8]) -> Self {
        Choices {
            data,
            pos: 0,
            rng: 0,
        }
    }

    /// Endless choices from a seed (deterministic across runs).
    pub fn seeded(seed: u64) -> Choices<'static> {
        Choices {
            data: &[],
            pos: 0,
            rng: seed | 1,
        }
    }

    /// The next byte.
    pub fn byte(&mut self) -> u8 {
        if let Some(&b) = self.data.get(self.pos) {
            self.pos += 1;
            return b;
        }
        if self.rng == 0 {
            return 0;
        }
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) << 32 | u64::from(self.u32())
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        if n <= 256 {
            usize::from(self.byte()) % n
        } else {
            self.u32() as usize % n
        }
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One of `xs` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    /// `n` chosen bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

/// What a correct reader finds in a valid (unmutated) generated input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    /// Data records, options records included (top level only).
    pub records: u64,
    /// RFC 6313 list elements at every depth: basicList values,
    /// subTemplateList and subTemplateMultiList records.
    pub list_elements: u64,
    /// For a capture: every packet's timestamp, nanoseconds since the epoch,
    /// in capture order.
    pub timestamps: Vec<i64>,
}

impl Expect {
    /// Add what `other` holds (its records, list elements, timestamps).
    pub fn add(&mut self, other: &Expect) {
        self.records += other.records;
        self.list_elements += other.list_elements;
        self.timestamps.extend_from_slice(&other.timestamps);
    }
}

/// What a field of the input means, for [`mutate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A length (of a message, set, block, option, field...).
    Length,
    /// A count (of records, fields, scope fields...).
    Count,
    /// An identifier (template id, set id, interface, link type, version).
    Id,
    /// An option's value (pcapng if_tsresol, if_tsoffset...).
    Option,
    /// A timestamp.
    Time,
}

/// A mutable place of a generated input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub at: usize,
    /// 1, 2, 4 or 8 bytes.
    pub width: u8,
    pub big: bool,
    pub role: Role,
}

/// A byte buffer that remembers where its fields and blocks are.
#[derive(Debug, Clone, Default)]
pub struct Out {
    pub bytes: Vec<u8>,
    pub fields: Vec<Field>,
    /// Whole structural units (messages, sets, packets, blocks) that may be
    /// duplicated, dropped or moved.
    pub blocks: Vec<Range<usize>>,
    /// Byte order of numbers written ([`Out::num`]).
    pub big: bool,
}

impl Out {
    /// An empty big-endian (network order) buffer.
    pub fn net() -> Self {
        Out {
            big: true,
            ..Out::default()
        }
    }

    /// An empty buffer in the given byte order.
    pub fn ordered(big: bool) -> Self {
        Out {
            big,
            ..Out::default()
        }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn put(&mut self, b: &[u8]) {
        self.bytes.extend_from_slice(b);
    }

    /// Append `v`'s low `width` bytes in this buffer's order.
    pub fn num(&mut self, v: u64, width: u8) {
        let be = v.to_be_bytes();
        let b = &be[8 - usize::from(width)..];
        if self.big {
            self.bytes.extend_from_slice(b);
        } else {
            self.bytes.extend(b.iter().rev());
        }
    }

    /// Append a number remembered as a field of `role`.
    pub fn field(&mut self, v: u64, width: u8, role: Role) {
        self.fields.push(Field {
            at: self.bytes.len(),
            width,
            big: self.big,
            role,
        });
        self.num(v, width);
    }

    /// Overwrite the number at `at` (a length known once what follows it is
    /// written).
    pub fn patch(&mut self, at: usize, v: u64, width: u8) {
        set(&mut self.bytes, at, width, self.big, v);
    }

    /// Zero bytes up to a multiple of `n`.
    pub fn pad_to(&mut self, n: usize) {
        while self.bytes.len() % n != 0 {
            self.bytes.push(0);
        }
    }

    /// Remember `start..` (to the current end) as a block.
    pub fn block_from(&mut self, start: usize) {
        self.blocks.push(start..self.bytes.len());
    }

    /// Append `inner` with its fields and blocks.
    pub fn embed(&mut self, inner: &Out) {
        let base = self.bytes.len();
        self.bytes.extend_from_slice(&inner.bytes);
        self.fields.extend(inner.fields.iter().map(|f| Field {
            at: f.at + base,
            ..*f
        }));
        self.blocks
            .extend(inner.blocks.iter().map(|b| b.start + base..b.end + base));
    }
}

fn get(b: &[u8], at: usize, width: u8, big: bool) -> u64 {
    let w = usize::from(width);
    let Some(s) = b.get(at..at + w) else {
        return 0;
    };
    let mut v = 0u64;
    for i in 0..w {
        let byte = if big { s[i] } else { s[w - 1 - i] };
        v = v << 8 | u64::from(byte);
    }
    v
}

fn set(b: &mut [u8], at: usize, width: u8, big: bool, v: u64) {
    let w = usize::from(width);
    let Some(s) = b.get_mut(at..at + w) else {
        return;
    };
    for i in 0..w {
        let byte = (v >> (8 * (w - 1 - i))) as u8;
        if big {
            s[i] = byte;
        } else {
            s[w - 1 - i] = byte;
        }
    }
}

/// A generated input and what reading it must give.
#[derive(Debug, Clone)]
pub struct Generated {
    pub out: Out,
    pub expect: Expect,
    /// Whether [`mutate`] changed it (then `expect` no longer holds).
    pub mutated: bool,
}

/// The input kinds there are generators for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ipfix,
    Netflow,
    Pcap,
    Pcapng,
    Compressed,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Ipfix,
        Kind::Netflow,
        Kind::Pcap,
        Kind::Pcapng,
        Kind::Compressed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Ipfix => "ipfix_lists",
            Kind::Netflow => "netflow",
            Kind::Pcap => "pcap",
            Kind::Pcapng => "pcapng",
            Kind::Compressed => "compressed",
        }
    }

    /// A valid input of this kind.
    pub fn generate(self, c: &mut Choices<'_>) -> Generated {
        match self {
            Kind::Ipfix => ipfix::generate(c),
            Kind::Netflow => netflow::generate(c),
            Kind::Pcap => pcap::generate(c),
            Kind::Pcapng => pcapng::generate(c),
            Kind::Compressed => compress::generate(c),
        }
    }
}

/// A valid input of `kind`, then (most of the time) mutated: what a fuzz
/// target runs.
pub fn generate_mutated(kind: Kind, c: &mut Choices<'_>) -> Generated {
    let mut g = match kind {
        Kind::Compressed => compress::wrapped(c, true),
        _ => kind.generate(c),
    };
    if !c.one_in(8) {
        mutate(&mut g, c);
    }
    g
}

/// Damage `g` in one to four structure-aware ways: fields set to extremes
/// or off by one, then at most one block duplicated, dropped or moved,
/// then perhaps a cut end.
pub fn mutate(g: &mut Generated, c: &mut Choices<'_>) {
    g.mutated = true;
    let out = &mut g.out;
    for _ in 0..c.range(1, 4) {
        if out.fields.is_empty() {
            break;
        }
        let f = out.fields[c.below(out.fields.len())];
        let bits = 8 * u32::from(f.width);
        let max = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let old = get(&out.bytes, f.at, f.width, f.big);
        let v = match c.below(8) {
            0 => 0,
            1 => max,
            2 => old.wrapping_add(1) & max,
            3 => old.wrapping_sub(1) & max,
            4 => (old << 1) & max,
            5 => max >> 1,
            6 => (max >> 1) + 1,
            _ => c.u64() & max,
        };
        set(&mut out.bytes, f.at, f.width, f.big, v);
    }
    if !out.blocks.is_empty() && c.one_in(2) {
        let b = out.blocks[c.below(out.blocks.len())].clone();
        if b.end <= out.bytes.len() && b.start < b.end {
            let piece = out.bytes[b.clone()].to_vec();
            match c.below(3) {
                0 => {
                    let at = b.end;
                    out.bytes.splice(at..at, piece);
                }
                1 => {
                    out.bytes.drain(b);
                }
                _ => {
                    out.bytes.drain(b);
                    let at = c.below(out.bytes.len() + 1);
                    out.bytes.splice(at..at, piece);
                }
            }
        }
    }
    if c.one_in(4) {
        let n = out.bytes.len();
        out.bytes.truncate(c.below(n + 1));
    }
    if c.one_in(8) {
        let n = out.bytes.len();
        if n > 0 {
            let i = c.below(n);
            out.bytes[i] ^= c.byte() | 1;
        }
    }
}
