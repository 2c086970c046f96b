//! What the measuring examples share: a clip's access units read ahead of time.

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
