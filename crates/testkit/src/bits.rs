//! Bitstreams written by hand for the bad-input tests: RBSP bits, Exp-Golomb codes, and NAL
//! units with their start code, header and emulation-prevention bytes.

/// Writes RBSP bits; `nal` adds the header and emulation-prevention bytes.
#[derive(Debug, Default)]
pub struct Bits {
    bytes: Vec<u8>,
    cur: u8,
    used: u32,
}

impl Bits {
    pub fn bit(&mut self, b: bool) {
        self.cur = (self.cur << 1) | u8::from(b);
        self.used += 1;
        if self.used == 8 {
            self.bytes.push(self.cur);
            (self.cur, self.used) = (0, 0);
        }
    }

    pub fn bits(&mut self, v: u64, n: u32) {
        for i in (0..n).rev() {
            self.bit((v >> i) & 1 == 1);
        }
    }

    /// Exp-Golomb of any `u32`: `u32::MAX` takes 32 leading zeros, one more than a reader
    /// of 32-bit values accepts.
    pub fn ue(&mut self, v: u32) {
        let v1 = u64::from(v) + 1;
        let len = 64 - v1.leading_zeros();
        self.bits(0, len - 1);
        self.bits(v1, len);
    }

    pub fn se(&mut self, v: i32) {
        let k = if v > 0 {
            2 * i64::from(v) - 1
        } else {
            -2 * i64::from(v)
        };
        // Values beyond u32 are written as the largest one: still out of range for readers.
        self.ue(u32::try_from(k).unwrap_or(u32::MAX));
    }

    /// Stop bit and alignment; the NAL unit with its header and start code, escaped.
    pub fn nal(mut self, header: &[u8]) -> Vec<u8> {
        self.bit(true);
        while self.used != 0 {
            self.bit(false);
        }
        let mut out = vec![0, 0, 0, 1];
        out.extend_from_slice(header);
        let mut zeros = 0;
        for b in self.bytes {
            if zeros >= 2 && b <= 3 {
                out.push(3);
                zeros = 0;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            out.push(b);
        }
        out
    }
}
