//! The GPU path (features `nvdec` and `tensorrt`, `Device::Cuda(0)`): NVDEC frames letterboxed
//! on the device into one batch tensor run by TensorRT, no host copy. Where there is no GPU,
//! or the ONNX Runtime in use is built without TensorRT (the one `cargo xtask setup`
//! provides), the test says why it skipped; where it runs, a pedestrian stream must give what
//! the CPU path gives: persons, tracked, the accounting balanced.

// Skipped tests report themselves on stdout.
#![allow(clippy::print_stdout)]

mod support;

use std::time::Duration;

use rtsp_worker::{DecoderBackend, Device, Error, InferError, StreamOptions};
use support::{Server, collect, one_at_a_time, pedestrians, results};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nvdec_to_tensorrt_on_the_gpu_or_skipped() {
    let _heavy = one_at_a_time().await;
    let built = support::builder()
        .device(Device::Cuda(0))
        .decoder(DecoderBackend::Nvdec)
        .build()
        .await;
    let manager = match built {
        Ok(m) => m,
        Err(Error::Model(InferError::ProviderUnavailable { message, .. })) => {
            println!("skipped: TensorRT cannot run here ({message})");
            return;
        }
        Err(e @ Error::DeviceUnavailable { .. }) => {
            println!("skipped: {e}");
            return;
        }
        Err(e) => panic!("{e:?}"),
    };
    let server = Server::start(&[pedestrians()], None, None);
    let conn = manager
        .connect_stream(&server.url("/people"), StreamOptions::new().id("people"))
        .await
        .unwrap();
    let events = collect(&conn, Duration::from_secs(15)).await;
    let stats = manager.shutdown().await;
    let rs = results(&events);
    assert!(rs.len() >= 20, "{} results on a GPU", rs.len());
    support::at_least_a_person_per_result(&rs, "on a GPU");
    assert!(rs.iter().any(|r| !r.tracked_objects.is_empty()));
    let acc = stats.streams["people"].accounting;
    assert!(acc.balanced() && acc.in_pipeline == 0, "{acc:?}");
    assert_eq!(acc.dropped.decode_error, 0, "NVDEC decoded every frame");
}
