//! Datagrams of flow export (from a capture or a socket) split into
//! messages, per transport session: each (exporter, collector) address
//! pair has its own NetFlow translator and message count, and a session
//! number the decoder keys templates and sequence numbers by (RFC 7011 §8).

use std::collections::HashMap;

use super::capture::Exporter;
use crate::error::Result;
use crate::netflow::{Translator, Version};

/// Most transport sessions followed at once.
pub const MAX_SESSIONS: usize = 65_536;

/// Whether a payload starts with a flow-export packet that fits it.
pub fn export_payload(p: &[u8]) -> bool {
    matches!(super::framing::frame(p), Ok(Some((_, len))) if len <= p.len())
}

struct Session {
    exporter: Exporter,
    translator: Translator,
    messages: u64,
}

/// Where the current message is.
pub struct Place {
    pub offset: u64,
    pub index: u64,
    pub session: u64,
    pub exporter: Exporter,
    pub frame: u64,
    /// The datagram came over UDP (not a TCP connection's message).
    pub udp: bool,
    /// When a listener received it (seconds since the epoch).
    pub received: Option<u32>,
}

/// The datagram being read and the sessions seen.
pub struct Datagrams {
    sessions: HashMap<(Exporter, Exporter), usize>,
    states: Vec<Session>,
    /// The buffer holding the datagram, and where in it the payload is.
    datagram: Vec<u8>,
    span: std::ops::Range<usize>,
    datagram_offset: u64,
    frame: u64,
    session: usize,
    at: usize,
    cur: std::ops::Range<usize>,
    pub version: Version,
    translated: Vec<u8>,
    /// A buffer to hand to the next reader of packets.
    spare: Vec<u8>,
    /// The current datagram came over UDP.
    udp: bool,
    received: Option<u32>,
    /// The datagram is `span` of the caller's bytes (a capture in
    /// memory), not of `datagram`.
    external: bool,
    /// The last session looked up (consecutive datagrams mostly share it).
    last: Option<((Exporter, Exporter), usize)>,
}

impl Default for Datagrams {
    fn default() -> Self {
        Datagrams {
            sessions: HashMap::new(),
            states: Vec::new(),
            datagram: Vec::new(),
            span: 0..0,
            datagram_offset: 0,
            frame: 0,
            session: 0,
            at: 0,
            cur: 0..0,
            version: Version::Ipfix,
            translated: Vec::new(),
            spare: Vec::new(),
            udp: true,
            received: None,
            external: false,
            last: None,
        }
    }
}

impl Datagrams {
    /// Take a datagram of session `key` (found at `offset` of the input, in
    /// its packet `frame`); `false` when a new session would pass
    /// [`MAX_SESSIONS`] (the datagram is not taken).
    pub fn load(
        &mut self,
        key: (Exporter, Exporter),
        payload: &[u8],
        offset: u64,
        frame: u64,
    ) -> bool {
        let mut buf = std::mem::take(&mut self.datagram);
        buf.clear();
        buf.extend_from_slice(payload);
        let n = buf.len();
        if self.load_owned(key, buf, 0..n, offset, frame).is_err() {
            return false;
        }
        true
    }

    /// As [`Datagrams::load`], the payload being `buf[span]`: the buffer
    /// is kept, no copy. On refusal the buffer comes back.
    pub fn load_owned(
        &mut self,
        key: (Exporter, Exporter),
        buf: Vec<u8>,
        span: std::ops::Range<usize>,
        offset: u64,
        frame: u64,
    ) -> std::result::Result<Vec<u8>, Vec<u8>> {
        let Some(session) = self.session_of(key) else {
            return Err(buf);
        };
        let start = span.start.min(buf.len());
        let span = start..span.end.min(buf.len()).max(start);
        self.start(session, span, false, offset, frame);
        Ok(std::mem::replace(&mut self.datagram, buf))
    }

    /// Take a datagram of session `key` that is `span` of the bytes the
    /// caller passes to [`Datagrams::next_in`] and [`Datagrams::bytes_in`]
    /// (a capture in memory: no copy); `false` as [`Datagrams::load`].
    pub fn load_external(
        &mut self,
        key: (Exporter, Exporter),
        span: std::ops::Range<usize>,
        offset: u64,
        frame: u64,
    ) -> bool {
        let Some(session) = self.session_of(key) else {
            return false;
        };
        self.start(session, span, true, offset, frame);
        true
    }

    /// Make `span` (of the own buffer, or of the caller's bytes when
    /// `external`) session `session`'s current datagram, read from its
    /// start; it came over UDP until [`Datagrams::set_udp`] says otherwise.
    fn start(
        &mut self,
        session: usize,
        span: std::ops::Range<usize>,
        external: bool,
        offset: u64,
        frame: u64,
    ) {
        self.external = external;
        self.datagram_offset = offset;
        self.frame = frame;
        self.at = span.start;
        self.span = span;
        self.session = session;
        self.udp = true;
        self.received = None;
    }

    /// The session number of `key`, a new one if there is room.
    fn session_of(&mut self, key: (Exporter, Exporter)) -> Option<usize> {
        if let Some((k, s)) = self.last {
            if k == key {
                return Some(s);
            }
        }
        let session = match self.sessions.get(&key) {
            Some(&s) => s,
            None if self.states.len() < MAX_SESSIONS => {
                self.states.push(Session {
                    exporter: key.0,
                    translator: Translator::holding(),
                    messages: 0,
                });
                // Just pushed: len >= 1.
                let s = self.states.len().saturating_sub(1);
                self.sessions.insert(key, s);
                s
            }
            None => return None,
        };
        self.last = Some((key, session));
        Some(session)
    }

    /// Whether the datagram just loaded came over UDP (the default) or is
    /// a TCP connection's message.
    pub fn set_udp(&mut self, udp: bool) {
        self.udp = udp;
    }

    /// When a listener received the datagram just loaded.
    pub fn set_received(&mut self, secs: u32) {
        self.received = Some(secs);
    }

    /// The spare buffer (empty if there is none).
    pub fn take_spare(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.spare)
    }

    /// Keep a buffer for [`Datagrams::take_spare`].
    pub fn put_spare(&mut self, buf: Vec<u8>) {
        self.spare = buf;
    }

    /// Fold the NetFlow translators' held data flowsets into `h`: those
    /// still held (or dropped) miss their template, those translated late
    /// were replayed.
    pub fn add_translator_health(&self, h: &mut crate::decode::Health) {
        for s in &self.states {
            let t = &s.translator;
            h.sets_held = h.sets_held.saturating_add(t.held());
            h.sets_replayed = h.sets_replayed.saturating_add(t.replayed);
            for (key, n) in t.missing() {
                h.sets_missing_template = h.sets_missing_template.saturating_add(n);
                let m = h.missing_templates.entry(key).or_default();
                *m = m.saturating_add(n);
            }
        }
    }

    /// Forget session `key` (a TCP connection closed: its templates go with
    /// it; a new connection from the same address is a new session).
    pub fn end_session(&mut self, key: &(Exporter, Exporter)) {
        self.sessions.remove(key);
        if self.last.is_some_and(|(k, _)| k == *key) {
            self.last = None;
        }
    }

    /// The current message's bytes (a NetFlow packet's IPFIX translation).
    pub fn bytes(&self) -> &[u8] {
        self.bytes_in(&[])
    }

    /// As [`Datagrams::bytes`], `ext` being the bytes a datagram loaded by
    /// [`Datagrams::load_external`] is in.
    pub fn bytes_in<'a>(&'a self, ext: &'a [u8]) -> &'a [u8] {
        if self.version == Version::Ipfix {
            let data = if self.external { ext } else { &self.datagram };
            data.get(self.cur.clone()).unwrap_or_default()
        } else {
            &self.translated
        }
    }

    /// Where the current message is.
    pub fn place(&self) -> Place {
        let s = &self.states[self.session];
        Place {
            // The message is inside the datagram's span.
            offset: self
                .datagram_offset
                .saturating_add(self.cur.start.saturating_sub(self.span.start) as u64),
            index: s.messages.saturating_sub(1),
            session: (self.session as u64).saturating_add(1),
            exporter: s.exporter,
            frame: self.frame,
            udp: self.udp,
            received: self.received,
        }
    }

    /// Move to the datagram's next message; `Ok(false)` when it has no
    /// more. After an error the rest of the datagram is dropped.
    pub fn next(&mut self) -> Result<bool> {
        self.next_in(&[])
    }

    /// As [`Datagrams::next`], `ext` being the bytes a datagram loaded by
    /// [`Datagrams::load_external`] is in.
    pub fn next_in(&mut self, ext: &[u8]) -> Result<bool> {
        let end = self.span.end;
        if self.at >= end {
            return Ok(false);
        }
        let own = std::mem::take(&mut self.datagram);
        let r = self.frame_next(if self.external { ext } else { &own });
        self.datagram = own;
        r
    }

    fn frame_next(&mut self, data: &[u8]) -> Result<bool> {
        let end = self.span.end.min(data.len());
        if self.at >= end {
            self.at = self.span.end;
            return Ok(false);
        }
        let start = self.at;
        // span.start <= at (at only moves forward from it).
        let rel0 = start.saturating_sub(self.span.start);
        let rest = &data[start..end];
        match super::framing::frame(rest) {
            Ok(Some((version, len))) => {
                self.at = self.at.saturating_add(len);
                self.cur = start..start.saturating_add(len);
                self.version = version;
                let s = &mut self.states[self.session];
                s.messages = s.messages.saturating_add(1);
                // Just counted: messages >= 1.
                let index = s.messages.saturating_sub(1);
                if version != Version::Ipfix {
                    let raw = data
                        .get(start..start.saturating_add(len))
                        .unwrap_or_default();
                    if let Err((e, rel)) =
                        s.translator.translate(version, raw, &mut self.translated)
                    {
                        let rel = rel0.saturating_add(rel) as u64;
                        return Err(e.at(self.datagram_offset.saturating_add(rel), index));
                    }
                }
                Ok(true)
            }
            Ok(None) => {
                self.at = end;
                Ok(false)
            }
            Err((e, rel)) => {
                self.at = end;
                let index = self.states[self.session].messages;
                let rel = rel0.saturating_add(rel) as u64;
                Err(e.at(self.datagram_offset.saturating_add(rel), index))
            }
        }
    }
}
