//! Per-direction configuration (the `--queueN` spec) and the seeded random streams.

/// What the shaper does to one direction (one NFQUEUE queue).
#[derive(Clone, Debug, Default)]
pub struct DirCfg {
    pub delay_ms: f64,
    pub loss: f64,
    pub reorder: f64,
    pub reorder_ms: f64,
    pub ce: f64,
    pub rate_mbit: f64,
    pub qlimit_ms: f64,
    pub drop_list: Vec<u64>,
}

/// Parse a spec: comma separated `key=value`; `drop` takes colon separated data-segment indices.
pub fn parse_spec(spec: &str) -> Result<DirCfg, String> {
    let mut c = DirCfg::default();
    for part in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("bad spec item {part:?}"))?;
        let num = || v.parse::<f64>().map_err(|e| format!("{k}={v}: {e}"));
        match k {
            "delay_ms" => c.delay_ms = num()?,
            "loss" => c.loss = num()?,
            "reorder" => c.reorder = num()?,
            "reorder_ms" => c.reorder_ms = num()?,
            "ce" => c.ce = num()?,
            "rate_mbit" => c.rate_mbit = num()?,
            "qlimit_ms" => c.qlimit_ms = num()?,
            "drop" => {
                c.drop_list = v
                    .split(':')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse::<u64>().map_err(|e| format!("drop {s}: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            _ => return Err(format!("unknown key {k:?}")),
        }
    }
    for (name, p) in [("loss", c.loss), ("reorder", c.reorder), ("ce", c.ce)] {
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("{name}={p} is not a probability"));
        }
    }
    if c.delay_ms < 0.0 || c.reorder_ms < 0.0 || c.rate_mbit < 0.0 || c.qlimit_ms < 0.0 {
        return Err("negative delay/rate/limit".into());
    }
    Ok(c)
}

/// splitmix64: small, seedable, good enough for drop/mark/reorder draws.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, queue: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ (queue.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ (stream << 48));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_keys_and_drop_list() {
        let c = parse_spec("delay_ms=15, loss=0.02,drop=100:101:700").unwrap();
        assert_eq!(c.delay_ms, 15.0);
        assert_eq!(c.loss, 0.02);
        assert_eq!(c.drop_list, vec![100, 101, 700]);
        assert!(parse_spec("loss=2").is_err());
        assert!(parse_spec("delay=1").is_err());
        assert!(parse_spec("").unwrap().drop_list.is_empty());
    }

    #[test]
    fn uniform_is_in_unit_interval_and_seeded() {
        let mut a = Rng::new(7, 0, 1);
        let mut b = Rng::new(7, 0, 1);
        for _ in 0..1000 {
            let x = a.uniform();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.uniform().to_bits());
        }
    }
}
