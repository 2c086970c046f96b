//! Codec parameters: which codec, picture size, parameter sets; parsed from SPS where needed.

use bytes::Bytes;

/// The video codecs this crate delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::H264 => "H.264",
            Self::H265 => "H.265",
        })
    }
}

/// What a decoder needs to know about a stream. Parameter sets are raw NAL units without
/// start codes; the access units also carry them in-band before every keyframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecParameters {
    /// The codec.
    pub codec: Codec,
    /// Picture width in pixels (cropped, as displayed).
    pub width: u32,
    /// Picture height in pixels (cropped, as displayed).
    pub height: u32,
    /// Sequence parameter set.
    pub sps: Bytes,
    /// Picture parameter set.
    pub pps: Bytes,
    /// Video parameter set (H.265 only).
    pub vps: Option<Bytes>,
    /// Frame rate as (numerator, denominator) frames per second, when the stream says.
    pub frame_rate: Option<(u32, u32)>,
}

impl CodecParameters {
    /// From retina's view of a stream.
    pub(crate) fn from_retina(p: &retina::codec::VideoParameters) -> Option<Self> {
        use retina::codec::VideoParametersCodec as C;
        let (width, height) = p.pixel_dimensions();
        // retina gives (seconds, frames), e.g. (1, 25) or (1001, 30000).
        let frame_rate = p.frame_rate().map(|(secs, frames)| (frames, secs));
        Some(match p.codec_params() {
            C::H264 { sps, pps } => Self {
                codec: Codec::H264,
                width,
                height,
                sps: sps.clone(),
                pps: pps.clone(),
                vps: None,
                frame_rate,
            },
            C::H265 { vps, sps, pps } => Self {
                codec: Codec::H265,
                width,
                height,
                sps: sps.clone(),
                pps: pps.clone(),
                vps: Some(vps.clone()),
                frame_rate,
            },
            _ => return None,
        })
    }
}

/// Reads bits from a NAL unit's payload with emulation-prevention bytes removed.
struct Bits {
    data: Vec<u8>,
    pos: usize,
}

impl Bits {
    fn new(nal: &[u8]) -> Self {
        let mut data = Vec::with_capacity(nal.len());
        let mut zeros = 0;
        for &b in nal {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            data.push(b);
        }
        Self { data, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let b = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(b))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Some(v)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.pos += n;
        (self.pos <= self.data.len() * 8).then_some(())
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        Some(if k % 2 == 1 {
            k.div_ceil(2) as i32
        } else {
            -((k / 2) as i32)
        })
    }
}

/// Picture size and frame rate from a sequence parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpsInfo {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) frame_rate: Option<(u32, u32)>,
}

/// Parses an H.264 SPS NAL unit (header byte included).
pub(crate) fn parse_h264_sps(nal: &[u8]) -> Option<SpsInfo> {
    let mut r = Bits::new(nal.get(1..)?);
    let profile_idc = r.bits(8)?;
    r.skip(16)?; // constraint flags, level_idc
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()? == 1;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            // (last + delta + 256) % 256, without overflow on wild deltas.
                            next = (i64::from(last) + i64::from(r.se()?)).rem_euclid(256) as i32;
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()? {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? + 1;
    let height_map_units = r.ue()? + 1;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut crop_l, mut crop_r, mut crop_t, mut crop_b) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        crop_l = r.ue()?;
        crop_r = r.ue()?;
        crop_t = r.ue()?;
        crop_b = r.ue()?;
    }
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_w, sub_h) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let (unit_x, unit_y) = if chroma_array_type == 0 {
        (1, 2 - frame_mbs_only)
    } else {
        (sub_w, sub_h * (2 - frame_mbs_only))
    };
    // Sizes from the bitstream can be anything: arithmetic that overflows means a bad SPS.
    let width = width_mbs
        .checked_mul(16)?
        .checked_sub(crop_l.checked_add(crop_r)?.checked_mul(unit_x)?)?;
    let height = ((2 - frame_mbs_only) * 16)
        .checked_mul(height_map_units)?
        .checked_sub(crop_t.checked_add(crop_b)?.checked_mul(unit_y)?)?;
    let frame_rate = if r.bit() == Some(1) {
        h264_vui_frame_rate(&mut r)
    } else {
        None
    };
    Some(SpsInfo {
        width,
        height,
        frame_rate,
    })
}

/// The frame rate from an H.264 VUI's timing info, if present.
fn h264_vui_frame_rate(r: &mut Bits) -> Option<(u32, u32)> {
    if r.bit()? == 1 {
        // aspect_ratio_info_present_flag
        if r.bits(8)? == 255 {
            r.skip(32)?; // Extended_SAR
        }
    }
    if r.bit()? == 1 {
        r.bit()?; // overscan_appropriate_flag
    }
    if r.bit()? == 1 {
        // video_signal_type_present_flag
        r.skip(4)?;
        if r.bit()? == 1 {
            r.skip(24)?;
        }
    }
    if r.bit()? == 1 {
        r.ue()?;
        r.ue()?;
    }
    if r.bit()? == 1 {
        let num_units_in_tick = r.bits(32)?;
        let time_scale = r.bits(32)?;
        if num_units_in_tick > 0 && time_scale > 0 {
            return Some((time_scale, num_units_in_tick.checked_mul(2)?));
        }
    }
    None
}

/// Parses an H.265 SPS NAL unit (two header bytes included). No frame rate: it sits deep in
/// the VUI, and the RTP clock or the caller gives it.
pub(crate) fn parse_h265_sps(nal: &[u8]) -> Option<SpsInfo> {
    let mut r = Bits::new(nal.get(2..)?);
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)?;
    r.skip(1)?; // sps_temporal_id_nesting_flag
    // profile_tier_level(1, max_sub_layers_minus1)
    r.skip(96)?;
    let mut profile_present = [false; 8];
    let mut level_present = [false; 8];
    for i in 0..max_sub_layers_minus1 as usize {
        profile_present[i] = r.bit()? == 1;
        level_present[i] = r.bit()? == 1;
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            r.skip(2)?;
        }
    }
    for i in 0..max_sub_layers_minus1 as usize {
        if profile_present[i] {
            r.skip(88)?;
        }
        if level_present[i] {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    let mut separate_colour_plane = false;
    if chroma_format_idc == 3 {
        separate_colour_plane = r.bit()? == 1;
    }
    let width = r.ue()?;
    let height = r.ue()?;
    let (sub_w, sub_h) = match (chroma_format_idc, separate_colour_plane) {
        (1, _) => (2, 2),
        (2, _) => (2, 1),
        _ => (1, 1),
    };
    let (mut l, mut rr, mut t, mut b) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        l = r.ue()?;
        rr = r.ue()?;
        t = r.ue()?;
        b = r.ue()?;
    }
    // Sizes from the bitstream can be anything: arithmetic that overflows means a bad SPS.
    Some(SpsInfo {
        width: width.checked_sub(l.checked_add(rr)?.checked_mul(sub_w)?)?,
        height: height.checked_sub(t.checked_add(b)?.checked_mul(sub_h)?)?,
        frame_rate: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 → ue 0,1,2,3,4
        let mut r = Bits::new(&[0b1010_0110, 0b0100_0010, 0b1000_0000]);
        let got: Vec<u32> = (0..5).map(|_| r.ue().unwrap()).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        let mut r = Bits::new(&[0b0100_1100, 0b1000_0000]);
        assert_eq!((r.se(), r.se(), r.se()), (Some(1), Some(-1), Some(2)));
    }

    #[test]
    fn emulation_prevention_is_removed() {
        let r = Bits::new(&[0, 0, 3, 1, 0, 0, 3, 0]);
        assert_eq!(r.data, vec![0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn truncated_sps_is_none_not_a_panic() {
        for n in 0..4 {
            assert_eq!(parse_h264_sps(&[0x67, 0x4d, 0x40, 0x1f][..n]), None);
            assert_eq!(parse_h265_sps(&[0x42, 0x01, 0x01][..n.min(3)]), None);
        }
    }
}
