//! Several GPUs: one manager per device, cameras spread over them, as in the seed's design.
//! Each manager has its own batcher, model contexts and streams; nothing is shared between
//! devices. Needs features `nvdec` and `tensorrt` and the GPUs to run; it compiles anywhere.
//!
//! `cargo run --release -p rtsp-worker --features nvdec,tensorrt --example multi_gpu -- URL...`

// An example program: it reports on the terminal.
#![allow(clippy::print_stdout)]

use rtsp_worker::{Device, StreamConnectionManager, StreamOptions};

#[tokio::main]
async fn main() -> Result<(), rtsp_worker::Error> {
    let urls: Vec<String> = std::env::args().skip(1).collect();
    let gpus = 2;
    let mut managers = Vec::new();
    for n in 0..gpus {
        managers.push(
            StreamConnectionManager::builder()
                .device(Device::Cuda(n))
                .build()
                .await?,
        );
    }
    // Round robin: camera i on GPU i % gpus.
    for (i, url) in urls.iter().enumerate() {
        let manager = &managers[i % gpus];
        manager
            .connect_stream(
                url,
                StreamOptions::new().id(format!("cam{i}")).on_result(|r| {
                    println!(
                        "{} {}: {} tracks",
                        r.stream_id,
                        r.frame_number,
                        r.tracked_objects.len()
                    )
                }),
            )
            .await?;
    }
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    for m in &managers {
        let stats = m.shutdown().await;
        println!("{}: {} streams", stats.device, stats.streams.len());
    }
    Ok(())
}
