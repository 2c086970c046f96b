//! What the measuring examples share: a clip's access units read ahead of time, a decoder
//! scaling straight to a model's letterbox, and the loop that feeds it.

/// The first `limit` access units of one of the setup's clips, replayed as fast as it can be
/// read, so that decoding and detection are measured without the network.
pub(crate) fn access_units(clip: &str, limit: usize) -> Vec<rtsp_ingest::AccessUnit> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let opts = rtsp_ingest::ReplayOptions::default()
            .looping(false)
            .fps(Some(1e6))
            .queue_frames(100_000);
        let mut cam = rtsp_ingest::replay(testkit::clips().join(clip), opts).expect("clip");
        let mut out = Vec::new();
        while out.len() < limit {
            match cam.next().await {
                Some(rtsp_ingest::Event::Frame(au)) => out.push(au),
                Some(rtsp_ingest::Event::Ended { .. }) | None => break,
                Some(_) => {}
            }
        }
        out
    })
}

/// An FFmpeg decoder for the stream of `au` that scales straight to the letterbox of a model
/// input of `input` pixels, with `options` for the rest.
pub(crate) fn decoder(
    au: &rtsp_ingest::AccessUnit,
    input: (usize, usize),
    options: gpu_decode::CpuDecoderOptions,
) -> gpu_decode::CpuDecoder {
    let (w, h) = (au.params.width, au.params.height);
    let size = gpu_decode::Letterbox::new((w as usize, h as usize), input)
        .expect("letterbox")
        .resized;
    gpu_decode::CpuDecoder::new(
        &gpu_decode::CodecConfig {
            codec: gpu_decode::Codec::H264,
            width: w,
            height: h,
        },
        options.output_size(Some(size)),
    )
    .expect("decoder")
}

/// Feeds `units` to `decoder`, handing every frame that comes out to `each`.
pub(crate) fn decode_all(
    decoder: &mut gpu_decode::CpuDecoder,
    units: &[rtsp_ingest::AccessUnit],
    mut each: impl FnMut(gpu_decode::Frame),
) {
    use gpu_decode::Decoder as _;
    for au in units {
        decoder
            .decode(&gpu_decode::Packet {
                data: &au.data,
                pts: au.frame_number as i64,
                keyframe: au.keyframe,
            })
            .expect("decode");
        while let Some(f) = decoder.next_frame() {
            each(f);
        }
    }
}
