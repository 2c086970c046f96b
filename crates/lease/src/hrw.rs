//! Rendezvous (highest random weight) hashing: every camera goes to the member with the
//! highest score for it, so a member joining takes only the cameras it now scores highest on
//! and a member leaving gives up only its own.

/// A stable 64-bit score of `member` for `camera`: FNV-1a over both, then a SplitMix64
/// finaliser so that near-identical names spread. Stable across processes, machines and
/// versions of Rust (unlike `std`'s hasher), since every worker must agree on it.
pub fn score(member: &str, camera: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in member.bytes().chain([0xff]).chain(camera.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The member that should own `camera`, or `None` without members. Ties (never seen in
/// practice) go to the greater name, so the answer never depends on the order given.
pub fn owner<'a>(camera: &str, members: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    members
        .into_iter()
        .max_by(|a, b| (score(a, camera), *a).cmp(&(score(b, camera), *b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_score_is_pinned() {
        // Workers of different builds must agree: this value may never change.
        assert_eq!(score("worker-1", "cam-1"), score("worker-1", "cam-1"));
        assert_ne!(score("worker-1", "cam-1"), score("worker-2", "cam-1"));
        assert_eq!(
            score("a", "b"),
            0x552d_4556_57d9_1379,
            "{:#x}",
            score("a", "b")
        );
    }

    #[test]
    fn spreads_cameras_evenly() {
        let members = ["w1", "w2", "w3", "w4"];
        let mut counts = [0usize; 4];
        for c in 0..4000 {
            let cam = format!("cam-{c}");
            let o = owner(&cam, members).unwrap();
            counts[members.iter().position(|m| *m == o).unwrap()] += 1;
        }
        for n in counts {
            assert!((850..1150).contains(&n), "{counts:?}");
        }
    }
}
