//! The generator's datagram payload: sequence number, send timestamp, client id, fill.
//!
//! Layout (little endian), for a datagram of `size` bytes:
//!
//! | bytes  | field     | meaning                                                   |
//! |--------|-----------|-----------------------------------------------------------|
//! | 0..8   | `seq`     | sequence number within the client, from 0 (warm-up first) |
//! | 8..16  | `send_ns` | (intended) send time, ns since the generator started      |
//! | 16..20 | `client`  | client index (0 for ping-pong and open loop)              |
//! | 20..24 | magic     | `0x4b505331` ("KPS1" read big endian)                     |
//! | 24..   | fill      | `fill_byte(seq, client, i)`, a pattern that detects corruption |
//!
//! A datagram shorter than [`HEADER_LEN`] carries only the first `size` bytes of that header,
//! so a 1-byte datagram carries the low 8 bits of `seq`; the generator then recovers the full
//! sequence number from the ones it has sent ([`unwrap_seq`]). Every reply is checked byte for
//! byte against what was sent ([`encode`] again), so any change is reported as corrupt.

/// Bytes of the full header.
pub const HEADER_LEN: usize = 24;
/// The magic number at bytes 20..24.
pub const MAGIC: u32 = 0x4b50_5331;
/// The largest UDP payload over IPv4.
pub const MAX_SIZE: usize = 65_507;

/// The fields a datagram carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Sequence number within the client.
    pub seq: u64,
    /// (Intended) send time in ns since the generator started.
    pub send_ns: u64,
    /// Client index.
    pub client: u32,
}

fn header_bytes(h: &Header) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[0..8].copy_from_slice(&h.seq.to_le_bytes());
    b[8..16].copy_from_slice(&h.send_ns.to_le_bytes());
    b[16..20].copy_from_slice(&h.client.to_le_bytes());
    b[20..24].copy_from_slice(&MAGIC.to_le_bytes());
    b
}

/// Fill byte `i` (an offset in the datagram) for `seq` and `client`.
pub fn fill_byte(seq: u64, client: u32, i: usize) -> u8 {
    let x = (seq as u32).wrapping_mul(0x9e37_79b1) ^ client.wrapping_mul(0x85eb_ca6b);
    (x >> 24) as u8 ^ (i as u8).wrapping_mul(31)
}

/// Writes the payload for `h` into `buf` (its length is the datagram size).
pub fn encode(buf: &mut [u8], h: &Header) {
    let head = header_bytes(h);
    let n = buf.len().min(HEADER_LEN);
    buf[..n].copy_from_slice(&head[..n]);
    for (i, b) in buf.iter_mut().enumerate().skip(HEADER_LEN) {
        *b = fill_byte(h.seq, h.client, i);
    }
}

/// Whether `got` is exactly the payload for `h` of `size` bytes, possibly reversed.
pub fn matches(got: &[u8], h: &Header, size: usize, reversed: bool, scratch: &mut Vec<u8>) -> bool {
    if got.len() != size {
        return false;
    }
    scratch.resize(size, 0);
    encode(scratch, h);
    if reversed {
        scratch.reverse();
    }
    got == scratch.as_slice()
}

/// The sequence bits a datagram of `len` bytes carries, and how many bits they are.
///
/// With `reversed`, the bytes are read from the end (a reverse-mode server's reply).
pub fn seq_bits(buf: &[u8], reversed: bool) -> (u64, u32) {
    let n = buf.len().min(8);
    let mut b = [0u8; 8];
    for (i, slot) in b.iter_mut().enumerate().take(n) {
        *slot = if reversed {
            buf[buf.len() - 1 - i]
        } else {
            buf[i]
        };
    }
    (u64::from_le_bytes(b), (n * 8) as u32)
}

/// The sequence number in a full-header datagram, for the server's timestamp records.
pub fn seq_of(buf: &[u8]) -> Option<u64> {
    if buf.len() < HEADER_LEN || buf[20..24] != MAGIC.to_le_bytes() {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[0..8]);
    Some(u64::from_le_bytes(b))
}

/// The largest sequence number ≤ `latest` whose low `bits` bits equal `low`
/// (or `low` itself when it carries all 64 bits or no such number exists).
pub fn unwrap_seq(low: u64, bits: u32, latest: u64) -> u64 {
    if bits >= 64 {
        return low;
    }
    let modulus = 1u64 << bits;
    let low = low & (modulus - 1);
    let base = latest & !(modulus - 1);
    let cand = base | low;
    if cand <= latest {
        cand
    } else if base >= modulus {
        cand - modulus
    } else {
        low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_full_header() {
        let h = Header {
            seq: 123_456,
            send_ns: 99,
            client: 7,
        };
        let mut buf = vec![0; 64];
        encode(&mut buf, &h);
        assert_eq!(seq_of(&buf), Some(123_456));
        assert_eq!(seq_bits(&buf, false), (123_456, 64));
        let mut scratch = Vec::new();
        assert!(matches(&buf, &h, 64, false, &mut scratch));
        buf[40] ^= 1;
        assert!(!matches(&buf, &h, 64, false, &mut scratch));
    }

    #[test]
    fn reversed_and_short() {
        let h = Header {
            seq: 0x1234,
            send_ns: 5,
            client: 0,
        };
        let mut buf = vec![0; 1];
        encode(&mut buf, &h);
        assert_eq!(buf, vec![0x34]);
        assert_eq!(seq_bits(&buf, false), (0x34, 8));
        let mut long = vec![0; 40];
        encode(&mut long, &h);
        long.reverse();
        assert_eq!(seq_bits(&long, true).0, 0x1234);
        let mut scratch = Vec::new();
        assert!(matches(&long, &h, 40, true, &mut scratch));
        assert!(!matches(&long, &h, 40, false, &mut scratch));
    }

    #[test]
    fn unwrap_recovers_recent_sequence_numbers() {
        assert_eq!(unwrap_seq(0x34, 8, 0x1240), 0x1234);
        assert_eq!(unwrap_seq(0x40, 8, 0x1240), 0x1240);
        assert_eq!(unwrap_seq(0x41, 8, 0x1240), 0x1141);
        assert_eq!(unwrap_seq(5, 8, 3), 5);
        assert_eq!(unwrap_seq(77, 64, 3), 77);
    }
}
