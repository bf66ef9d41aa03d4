//! Ethernet MAC addresses as UML's `ethN=` switches give them.

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

/// A MAC text that is not six `:`-separated hex bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Failed to parse '{0}' as an ethernet address")]
pub struct MacParseError(pub String);

impl Mac {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Mac = Mac([0xff; 6]);

    /// The group bit: broadcast and multicast destinations.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }

    /// The locally administered bit (0x02 of the first byte).
    pub fn is_local(&self) -> bool {
        self.0[0] & 2 != 0
    }

    /// Whether a NIC may use it as its own address (Linux's
    /// is_valid_ether_addr: neither multicast nor zero).
    pub fn is_valid_unicast(&self) -> bool {
        !self.is_multicast() && !self.is_zero()
    }

    /// A random locally administered unicast address, as Linux's
    /// eth_hw_addr_random (UML 6.1's default for every transport).
    pub fn random_local() -> Mac {
        let mut b = [0u8; 6];
        fill_random(&mut b);
        b[0] = (b[0] & 0xfe) | 0x02;
        Mac(b)
    }
}

fn fill_random(buf: &mut [u8]) {
    let mut done = 0;
    // getrandom(2) with flags 0 blocks only before the pool is seeded;
    // the fallback keeps a MAC unique enough if it ever fails.
    while done < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if n <= 0 {
            let t =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
                    ^ u128::from(std::process::id()) << 64;
            for (i, b) in buf[done..].iter_mut().enumerate() {
                *b = (t >> ((i % 16) * 8)) as u8;
            }
            return;
        }
        done += n as usize;
    }
}

impl FromStr for Mac {
    type Err = MacParseError;

    /// Exactly `xx:xx:xx:xx:xx:xx` (hex, either case), as Linux's mac_pton.
    fn from_str(s: &str) -> Result<Mac, MacParseError> {
        let bad = || MacParseError(s.to_string());
        let b = s.as_bytes();
        if b.len() != 17 {
            return Err(bad());
        }
        let mut mac = [0u8; 6];
        for (i, m) in mac.iter_mut().enumerate() {
            let hex = &s[i * 3..i * 3 + 2];
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *m = u8::from_str_radix(hex, 16).map_err(|_| bad())?;
            if i < 5 && b[i * 3 + 2] != b':' {
                return Err(bad());
            }
        }
        Ok(Mac(mac))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let m: Mac = "0E:4b:70:96:e2:73".parse().unwrap();
        assert_eq!(m.0, [0x0e, 0x4b, 0x70, 0x96, 0xe2, 0x73]);
        assert_eq!(m.to_string(), "0e:4b:70:96:e2:73");
        for bad in
            ["", "0e:4b:70:96:e2", "0e:4b:70:96:e2:73:", "0e-4b-70-96-e2-73", "0g:4b:70:96:e2:73", "+e:4b:70:96:e2:73"]
        {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
    }

    #[test]
    fn random_is_local_unicast() {
        let a = Mac::random_local();
        let b = Mac::random_local();
        assert!(a.is_local() && a.is_valid_unicast());
        assert_ne!(a, b);
        assert!(Mac::BROADCAST.is_multicast() && !Mac::default().is_valid_unicast());
    }
}
