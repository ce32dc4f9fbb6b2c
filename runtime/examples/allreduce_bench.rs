//! What one gradient all-reduce costs on this machine's link, through memscope's own
//! process group (c10d: Gloo on the CPU), for the scaling model in BENCHMARKS.md ("Two
//! processes on one machine"): time per call against the bytes all-reduced, fitted as a
//! fixed latency plus bytes over a bandwidth.
//!
//! Run without the torchrun variables, it starts WORLD ranks of itself on loopback
//! (like `memscope launch`), and rank 0 prints one JSON line per size, then the fit:
//!
//!     cargo run --release --example allreduce_bench -- [WORLD] [ROUNDS]
//!
//! Each rank uses one libtorch thread, as the ranks of `make bench-dist` do.

use memscope::dist::{Launch, ProcessGroup, Reduce};
use std::process::Command;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Floats per all-reduce: 64 KiB to 64 MiB (the `cnn` on MNIST is 1.63 M floats, 6.5 MB).
const SIZES: [i64; 6] = [16_384, 131_072, 524_288, 1_630_000, 4_194_304, 16_777_216];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let world: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20);
    match Launch::from_env()? {
        Some(launch) => rank(&launch, rounds),
        None => launch_ranks(world, rounds),
    }
}

/// Starts `world` copies of this program as ranks 0..world on a free loopback port.
fn launch_ranks(world: usize, rounds: usize) -> Result<(), Box<dyn std::error::Error>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let me = std::env::current_exe()?;
    let children: Vec<_> = (0..world)
        .map(|r| {
            Command::new(&me)
                .args([world.to_string(), rounds.to_string()])
                .env("RANK", r.to_string())
                .env("LOCAL_RANK", r.to_string())
                .env("WORLD_SIZE", world.to_string())
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", port.to_string())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for mut child in children {
        if !child.wait()?.success() {
            return Err("a rank failed".into());
        }
    }
    Ok(())
}

/// One rank: times `rounds` all-reduces of each size after 5 untimed ones.
fn rank(launch: &Launch, rounds: usize) -> Result<(), Box<dyn std::error::Error>> {
    tch::set_num_threads(1);
    let group = ProcessGroup::new(launch, Device::Cpu)?;
    let mut points = Vec::new();
    for floats in SIZES {
        let mut tensor = Tensor::ones([floats], (Kind::Float, Device::Cpu));
        for _ in 0..5 {
            group.all_reduce(&mut tensor, Reduce::Sum)?;
        }
        group.barrier()?;
        let start = Instant::now();
        for _ in 0..rounds {
            group.all_reduce(&mut tensor, Reduce::Sum)?;
        }
        let seconds = start.elapsed().as_secs_f64() / rounds as f64;
        let bytes = floats as f64 * 4.0;
        // A ring all-reduce moves 2 (W - 1) / W of the buffer through each rank's link.
        let w = launch.world as f64;
        let bus = 2.0 * (w - 1.0) / w * bytes / seconds;
        if launch.rank == 0 {
            println!(
                "{{\"world\": {}, \"floats\": {floats}, \"bytes\": {bytes}, \"ms_per_call\": {:.4}, \"algorithm_gb_s\": {:.3}, \"bus_gb_s\": {:.3}}}",
                launch.world,
                seconds * 1e3,
                bytes / seconds / 1e9,
                bus / 1e9
            );
        }
        points.push((bytes, seconds));
    }
    if launch.rank == 0 {
        let (latency, bandwidth) = fit(&points);
        println!(
            "{{\"fit\": \"seconds = latency + bytes / bandwidth\", \"latency_ms\": {:.4}, \"bandwidth_gb_s\": {:.3}}}",
            latency * 1e3,
            bandwidth / 1e9
        );
    }
    group.barrier()?;
    Ok(())
}

/// Least squares of seconds = a + bytes / b; returns (a, b).
fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(sxy, sxx), (x, y)| (sxy + (x - mx) * (y - my), sxx + (x - mx) * (x - mx)));
    let slope = sxy / sxx;
    (my - slope * mx, 1.0 / slope)
}
