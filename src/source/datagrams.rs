//! Datagrams of flow export (from a capture or a socket) split into
//! messages, per transport session: each (exporter, collector) address
//! pair has its own NetFlow translator and message count, and a session
//! number the decoder keys templates and sequence numbers by (RFC 7011 §8).

use std::collections::HashMap;

use super::capture::Exporter;
use crate::error::Result;
use crate::netflow::{self, Translator, Version};

/// Most transport sessions followed at once.
pub const MAX_SESSIONS: usize = 65_536;

/// Whether a payload starts with a flow-export packet that fits it.
pub fn export_payload(p: &[u8]) -> bool {
    matches!(netflow::frame(p), Ok(Some((_, len))) if len <= p.len())
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
}

/// The datagram being read and the sessions seen.
pub struct Datagrams {
    sessions: HashMap<(Exporter, Exporter), usize>,
    states: Vec<Session>,
    datagram: Vec<u8>,
    datagram_offset: u64,
    frame: u64,
    session: usize,
    at: usize,
    cur: std::ops::Range<usize>,
    pub version: Version,
    translated: Vec<u8>,
}

impl Default for Datagrams {
    fn default() -> Self {
        Datagrams {
            sessions: HashMap::new(),
            states: Vec::new(),
            datagram: Vec::new(),
            datagram_offset: 0,
            frame: 0,
            session: 0,
            at: 0,
            cur: 0..0,
            version: Version::Ipfix,
            translated: Vec::new(),
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
        let session = match self.sessions.get(&key) {
            Some(&s) => s,
            None if self.states.len() < MAX_SESSIONS => {
                self.states.push(Session {
                    exporter: key.0,
                    translator: Translator::new(),
                    messages: 0,
                });
                self.sessions.insert(key, self.states.len() - 1);
                self.states.len() - 1
            }
            None => return false,
        };
        self.datagram_offset = offset;
        self.frame = frame;
        self.datagram.clear();
        self.datagram.extend_from_slice(payload);
        self.session = session;
        self.at = 0;
        true
    }

    /// Forget session `key` (a TCP connection closed: its templates go with
    /// it; a new connection from the same address is a new session).
    pub fn end_session(&mut self, key: &(Exporter, Exporter)) {
        self.sessions.remove(key);
    }

    /// The current message's bytes (a NetFlow packet's IPFIX translation).
    pub fn bytes(&self) -> &[u8] {
        if self.version == Version::Ipfix {
            self.datagram.get(self.cur.clone()).unwrap_or_default()
        } else {
            &self.translated
        }
    }

    /// Where the current message is.
    pub fn place(&self) -> Place {
        let s = &self.states[self.session];
        Place {
            offset: self.datagram_offset + self.cur.start as u64,
            index: s.messages.saturating_sub(1),
            session: self.session as u64 + 1,
            exporter: s.exporter,
            frame: self.frame,
        }
    }

    /// Move to the datagram's next message; `Ok(false)` when it has no
    /// more. After an error the rest of the datagram is dropped.
    pub fn next(&mut self) -> Result<bool> {
        if self.at >= self.datagram.len() {
            return Ok(false);
        }
        let start = self.at;
        let rest = &self.datagram[start..];
        match netflow::frame(rest) {
            Ok(Some((version, len))) => {
                self.at += len;
                self.cur = start..start + len;
                self.version = version;
                let s = &mut self.states[self.session];
                s.messages += 1;
                let index = s.messages - 1;
                if version != Version::Ipfix {
                    let raw = &self.datagram[start..start + len];
                    if let Err((e, rel)) =
                        s.translator.translate(version, raw, &mut self.translated)
                    {
                        return Err(e.at(self.datagram_offset + (start + rel) as u64, index));
                    }
                }
                Ok(true)
            }
            Ok(None) => {
                self.at = self.datagram.len();
                Ok(false)
            }
            Err((e, rel)) => {
                self.at = self.datagram.len();
                let index = self.states[self.session].messages;
                Err(e.at(self.datagram_offset + (start + rel) as u64, index))
            }
        }
    }
}
