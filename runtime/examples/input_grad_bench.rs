//! Times one input-gradient pass of the `cnn` (the unit of curvature scoring: 2 +
//! `draws` of them per batch) both ways, interleaved: the fused path
//! (`Network::input_gradient`) against autograd through the model, on the
//! scorer's channels-last network, at the rows per pass the curvature plugin picks.
//!
//!     cargo run --release --example input_grad_bench -- [THREADS] [REPEATS] [DIGITS_ROWS] [MNIST_ROWS]
//!
//! Prints one line per image size: median milliseconds per pass of each, and the
//! ratio.

use memscope::config::Arch;
use memscope::data::ImageShape;
use memscope::model::Network;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn main() {
    memscope::allocator::tune();
    let args: Vec<String> = std::env::args().collect();
    let threads: i32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2);
    let repeats: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(15);
    let digits_rows: i64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let mnist_rows: i64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(334);
    tch::set_num_threads(threads);
    // digits (8x8) at 1,024 rows and MNIST (28x28) at 334: the plugin's auto_rows.
    for (side, rows) in [(8i64, digits_rows), (28, mnist_rows)] {
        tch::manual_seed(0);
        let shape = ImageShape { channels: 1, height: side as usize, width: side as usize };
        let mut network = Network::builtin(Arch::Cnn, shape, 10, Device::Cpu);
        network.use_channels_last().expect("channels-last");
        let x = Tensor::rand([rows, 1, side, side], (Kind::Float, Device::Cpu));
        let labels = Tensor::randint(10, [rows], (Kind::Int64, Device::Cpu));
        let time = |f: &dyn Fn() -> Tensor| {
            let start = Instant::now();
            let _ = f();
            start.elapsed().as_secs_f64() * 1e3
        };
        let fused = || network.input_gradient(&x, &labels).expect("fused pass");
        let autograd = || network.autograd_input_gradient(&x, &labels).expect("autograd pass");
        let (_, _) = (fused(), autograd()); // warm-up: oneDNN primitives, allocator
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            a.push(time(&fused));
            b.push(time(&autograd));
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (a, b) = (median(&mut a), median(&mut b));
        println!(
            "{side}x{side}, {rows} rows, {threads} threads: fused {a:.2} ms, autograd {b:.2} ms per pass ({:.0} vs {:.0} rows/s): {:.2}x",
            rows as f64 * 1e3 / a,
            rows as f64 * 1e3 / b,
            b / a
        );
    }
}
