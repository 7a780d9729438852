//! The three-way handshake as the observation point sees it: its two
//! halves (SYN to SYN/ACK, SYN/ACK to the initiator's ACK), each the first
//! round-trip sample of one direction, and whether ECN was set up. A SYN or
//! SYN/ACK seen more than once makes its half ambiguous (Karn): not taken.

use super::opt::OptI64;
use super::{Conn, Segment};
use crate::packet::{ACK, CWR, ECE, SYN};

/// The handshake as seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Handshake {
    /// The SYN's time (none before one is seen), sender, sequence number
    /// and how often it was seen.
    syn_t: OptI64,
    syn_side: u8,
    syn_seq: u32,
    syns: u16,
    /// The SYN/ACK's time, sequence number and how often it was seen.
    synack_t: OptI64,
    synack_seq: u32,
    synacks: u16,
    /// The two halves, once measured.
    pub syn_to_synack: OptI64,
    pub synack_to_ack: OptI64,
    /// ECN set up (RFC 3168 §6.1.1): an ECN-setup SYN (ECE and CWR)
    /// answered by an ECN-setup SYN/ACK (ECE without CWR).
    pub ecn: bool,
}

impl Handshake {
    /// A SYN (without ACK) was seen.
    pub fn syn_seen(&self) -> bool {
        self.syn_t.is_some()
    }

    /// A SYN/ACK answering it was seen.
    pub fn synack_seen(&self) -> bool {
        self.synack_t.is_some()
    }

    /// The SYN's sender, time and sequence number, once seen.
    fn syn(&self) -> Option<(usize, i64, u32)> {
        let t = self.syn_t.get()?;
        Some((usize::from(self.syn_side), t, self.syn_seq))
    }

    fn set_syn(&mut self, side: usize, t: i64, seq: u32) {
        self.syn_t = OptI64::some(t);
        self.syn_side = u8::from(side != 0);
        self.syn_seq = seq;
    }

    /// The SYN/ACK's time and sequence number, once seen.
    fn synack(&self) -> Option<(i64, u32)> {
        Some((self.synack_t.get()?, self.synack_seq))
    }
}

impl Conn {
    /// The handshake; the sample this packet completes, if any.
    pub(super) fn handshake(&mut self, side: usize, s: &Segment) -> Option<i64> {
        let h = &mut self.hs;
        let t = s.ts_ns;
        let mut sample = None;
        if s.flags & SYN != 0 && s.flags & ACK == 0 {
            match h.syn() {
                None => {
                    h.set_syn(side, t, s.seq);
                    h.syns = 1;
                    h.ecn = false;
                    let setup = s.flags & (ECE | CWR) == ECE | CWR;
                    self.dir[side].marks.syn_ece_cwr = Some((setup, setup));
                }
                Some((sd, _, q)) if sd == side && q == s.seq => h.syns = h.syns.saturating_add(1),
                _ => {}
            }
        } else if s.flags & SYN != 0 {
            // A SYN/ACK answering the initiator's SYN.
            if let Some((sd, syn_t, _)) = h.syn().filter(|&(sd, _, _)| sd != side) {
                match h.synack() {
                    None => {
                        h.synack_t = OptI64::some(t);
                        h.synack_seq = s.seq;
                        h.synacks = 1;
                        if h.syns == 1 && t >= syn_t {
                            let v = t.saturating_sub(syn_t);
                            h.syn_to_synack = OptI64::some(v);
                            self.dir[sd].rtt.set_handshake(v);
                            sample = Some(v);
                        }
                        let syn_setup = self.dir[sd].marks.syn_ece_cwr.is_some_and(|x| x.0);
                        h.ecn = syn_setup && s.flags & (ECE | CWR) == ECE;
                    }
                    Some((_, q)) if q == s.seq => h.synacks = h.synacks.saturating_add(1),
                    _ => {}
                }
            }
        } else if s.flags & ACK != 0 {
            // The initiator's ACK of the SYN/ACK.
            if let (Some((sd, _, _)), Some((sa_t, sa_seq))) = (h.syn(), h.synack()) {
                if sd == side && h.synack_to_ack.is_none() && s.ack == sa_seq.wrapping_add(1) {
                    if h.synacks == 1 && t >= sa_t {
                        let v = t.saturating_sub(sa_t);
                        h.synack_to_ack = OptI64::some(v);
                        self.dir[side ^ 1].rtt.set_handshake(v);
                        sample = Some(v);
                    } else {
                        // Ambiguous: mark measured-as-nothing so a later
                        // ACK is not taken either.
                        h.synack_to_ack = OptI64::NONE;
                        h.synacks = u16::MAX;
                    }
                }
            }
        }
        sample
    }
}
