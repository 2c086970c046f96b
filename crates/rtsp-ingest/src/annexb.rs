//! Annex B byte streams: NAL units between start codes, grouped into access units.

use std::ops::Range;

use crate::Codec;

/// NAL units of an Annex B stream: each item is the byte range of one NAL unit's start code
/// (`range.start`) through its last byte, and the range of the NAL unit without start code.
pub(crate) fn nal_units(data: &[u8]) -> Vec<(usize, Range<usize>)> {
    let mut starts = Vec::new(); // (start code position, payload position)
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let sc = if i > 0 && data[i - 1] == 0 { i - 1 } else { i };
            starts.push((sc, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(starts.len());
    for (k, &(sc, payload)) in starts.iter().enumerate() {
        let mut end = starts
            .get(k + 1)
            .map_or(data.len(), |&(next_sc, _)| next_sc);
        while end > payload && data[end - 1] == 0 {
            end -= 1;
        }
        if end > payload {
            out.push((sc, payload..end));
        }
    }
    out
}

/// What kind of NAL unit, as far as access unit boundaries care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NalKind {
    /// A slice; `first` if it is the first slice of a picture; `key` if an IDR/IRAP picture.
    Vcl { first: bool, key: bool },
    /// A NAL unit that, when it follows a picture, starts the next access unit (AUD, SPS,
    /// PPS, VPS, prefix SEI, …).
    StartsAccessUnit,
    /// Anything else (suffix SEI, end of sequence, filler, …): belongs to the current unit.
    Other,
}

pub(crate) fn nal_kind(codec: Codec, nal: &[u8]) -> NalKind {
    match codec {
        Codec::H264 => {
            let t = nal[0] & 0x1f;
            match t {
                1..=5 => NalKind::Vcl {
                    // first_mb_in_slice == 0 is the exp-Golomb code "1".
                    first: nal.get(1).is_some_and(|b| b & 0x80 != 0),
                    key: t == 5,
                },
                6..=9 | 14..=18 => NalKind::StartsAccessUnit,
                _ => NalKind::Other,
            }
        }
        Codec::H265 => {
            let t = (nal[0] >> 1) & 0x3f;
            match t {
                0..=31 => NalKind::Vcl {
                    first: nal.get(2).is_some_and(|b| b & 0x80 != 0),
                    key: (16..=23).contains(&t),
                },
                32..=35 | 39 | 41..=44 | 48..=55 => NalKind::StartsAccessUnit,
                _ => NalKind::Other,
            }
        }
    }
}

/// Whether a picture's access unit may be a reference for later pictures: false when every
/// slice says otherwise (H.264 `nal_ref_idc == 0`; H.265 sub-layer non-reference types
/// `TRAIL_N`, `TSA_N`, `STSA_N`, `RADL_N`, `RASL_N` and the reserved even types below 15). Such a
/// picture can be left undecoded without harming any other. A unit without slices counts as a
/// reference (nothing is known, so nothing is skipped).
pub(crate) fn is_reference(codec: Codec, data: &[u8]) -> bool {
    // All slices of a picture agree (H.264 7.4.1, H.265 7.4.2.2), so the first one decides;
    // only the bytes up to it are scanned.
    let mut i = 0;
    while i + 3 < data.len() {
        if data[i] != 0 || data[i + 1] != 0 || data[i + 2] != 1 {
            i += 1;
            continue;
        }
        let nal = &data[i + 3..];
        if matches!(nal_kind(codec, nal), NalKind::Vcl { .. }) {
            return match codec {
                Codec::H264 => nal[0] & 0x60 != 0,
                Codec::H265 => {
                    let t = nal_type(codec, nal);
                    !(t <= 14 && t.is_multiple_of(2))
                }
            };
        }
        i += 3;
    }
    true
}

/// The NAL unit type number (H.264: 5 bits; H.265: 6 bits).
pub(crate) fn nal_type(codec: Codec, nal: &[u8]) -> u8 {
    match codec {
        Codec::H264 => nal[0] & 0x1f,
        Codec::H265 => (nal[0] >> 1) & 0x3f,
    }
}

/// One access unit in a stream: its bytes (start codes included) and whether it is a keyframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnitRange {
    pub(crate) bytes: Range<usize>,
    pub(crate) keyframe: bool,
    /// See [`is_reference`].
    pub(crate) reference: bool,
}

/// Groups the NAL units of a whole stream into access units (H.264 7.4.1.2.3, H.265 7.4.2.4.4).
pub(crate) fn access_units(codec: Codec, data: &[u8]) -> Vec<UnitRange> {
    let mut out: Vec<UnitRange> = Vec::new();
    let mut current: Option<(usize, bool, bool)> = None; // (start, has picture, keyframe)
    for (sc, nal) in nal_units(data) {
        let kind = nal_kind(codec, &data[nal]);
        let boundary = match (kind, current) {
            (_, None) => true,
            (NalKind::StartsAccessUnit, Some((_, has_pic, _))) => has_pic,
            (NalKind::Vcl { first: true, .. }, Some((_, has_pic, _))) => has_pic,
            _ => false,
        };
        if boundary {
            if let Some((start, true, key)) = current {
                out.push(UnitRange {
                    bytes: start..sc,
                    keyframe: key,
                    reference: true,
                });
            }
            if current.is_none_or(|(_, has_pic, _)| has_pic) {
                current = Some((sc, false, false));
            }
        }
        if let (NalKind::Vcl { key, .. }, Some(cur)) = (kind, current.as_mut()) {
            cur.1 = true;
            cur.2 |= key;
        }
    }
    if let Some((start, true, key)) = current {
        out.push(UnitRange {
            bytes: start..data.len(),
            keyframe: key,
            reference: true,
        });
    }
    for unit in &mut out {
        unit.reference = unit.keyframe || is_reference(codec, &data[unit.bytes.clone()]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_codes_of_three_and_four_bytes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 0x88, 0,
        ];
        let nals: Vec<&[u8]> = nal_units(&data)
            .into_iter()
            .map(|(_, r)| &data[r])
            .collect();
        assert_eq!(nals, vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 0x88]]);
    }

    #[test]
    fn h264_units_split_at_parameter_sets_and_first_slices() {
        // SPS PPS IDR(first) IDR(second slice) | P(first) | SPS PPS IDR(first)
        let nal = |bytes: &[u8]| [&[0u8, 0, 0, 1][..], bytes].concat();
        let stream = [
            nal(&[0x67, 0x4d]),
            nal(&[0x68, 0xee]),
            nal(&[0x65, 0x88]),
            nal(&[0x65, 0x40]),
            nal(&[0x41, 0x9a]),
            nal(&[0x67, 0x4d]),
            nal(&[0x68, 0xee]),
            nal(&[0x65, 0x88]),
        ]
        .concat();
        let units = access_units(Codec::H264, &stream);
        assert_eq!(units.len(), 3);
        assert_eq!(
            units.iter().map(|u| u.keyframe).collect::<Vec<_>>(),
            vec![true, false, true]
        );
        assert_eq!(units[0].bytes, 0..24);
        assert_eq!(units[1].bytes, 24..30);
        assert_eq!(units[2].bytes.end, stream.len());
    }

    #[test]
    fn reference_pictures_by_nal_ref_idc_and_h265_type() {
        let nal = |bytes: &[u8]| [&[0u8, 0, 0, 1][..], bytes].concat();
        // H.264: SEI then a P slice with nal_ref_idc 2, 0; an IDR.
        assert!(is_reference(
            Codec::H264,
            &[nal(&[0x06, 5]), nal(&[0x41, 0x9a])].concat()
        ));
        assert!(!is_reference(
            Codec::H264,
            &[nal(&[0x06, 5]), nal(&[0x01, 0x9a])].concat()
        ));
        assert!(is_reference(Codec::H264, &nal(&[0x65, 0x88])));
        // H.265: TRAIL_N (0), TRAIL_R (1), RASL_N (8), CRA (21); two-byte headers.
        assert!(!is_reference(Codec::H265, &nal(&[0x00, 0x01, 0xaf])));
        assert!(is_reference(Codec::H265, &nal(&[0x02, 0x01, 0xaf])));
        assert!(!is_reference(Codec::H265, &nal(&[0x10, 0x01, 0xaf])));
        assert!(is_reference(Codec::H265, &nal(&[0x2a, 0x01, 0xaf])));
        // Nothing known: a reference.
        assert!(is_reference(Codec::H264, &[1, 2, 3]));
        assert!(is_reference(Codec::H264, &nal(&[0x67, 0x4d])));
    }

    #[test]
    fn garbage_yields_no_units_and_no_panic() {
        assert!(access_units(Codec::H264, &[1, 2, 3, 0, 0]).is_empty());
        assert!(access_units(Codec::H265, &[0, 0, 1]).is_empty());
        assert!(access_units(Codec::H265, &[0, 0, 1, 0x40]).is_empty());
    }
}
