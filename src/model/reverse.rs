//! RFC 5103 reverse Information Elements: PEN 29305 mirrors the IANA space
//! (§6.1) and enterprise IEs use bit 14 of the element id (§6.2); names are
//! the forward name with a `reverse` prefix and its first letter in capitals.

/// The private enterprise number reserved for reverse IANA IEs (RFC 5103 §6.1).
pub const REVERSE_PEN: u32 = 29305;

/// `octetDeltaCount` -> `reverseOctetDeltaCount`.
pub fn reverse_name(forward: &str) -> String {
    let mut chars = forward.chars();
    match chars.next() {
        Some(c) => {
            let mut s = String::with_capacity(forward.len() + 7);
            s.push_str("reverse");
            s.extend(c.to_uppercase());
            s.push_str(chars.as_str());
            s
        }
        None => "reverse".to_string(),
    }
}
