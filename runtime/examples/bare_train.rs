//! A bare tch training loop on the embedded digits: no actors, channels or loader
//! thread, the same network and optimizer. It is the baseline for measuring the
//! runtime's own overhead (compare with `memscope run configs/bench-digits.toml`).
//!
//!     cargo run --release --example bare_train -- [EPOCHS] [THREADS]

use memscope::config::{Arch, DataConfig, DataFormat, TrainConfig};
use memscope::model::{Network, Optimizer};
use std::time::Instant;
use tch::{Device, Kind, Reduction, Tensor};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let epochs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let threads: i32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2);
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let config = DataConfig {
        format: DataFormat::Digits,
        path: None,
        labels: None,
        test_path: None,
        test_labels: None,
        classes: None,
        limit: 0,
        augment: Default::default(),
    };
    let data = memscope::data::load_data(&config).expect("embedded digits").train;
    let n = data.len() as i64;
    let x = Tensor::from_slice(&data.images).view([n, 1, 8, 8]);
    let y = Tensor::from_slice(&data.labels);
    let net = Network::new(Arch::Cnn, data.shape, 10, Device::Cpu);
    let train = TrainConfig::default();
    let mut opt = Optimizer::new(&train, net.parameters());
    let start = Instant::now();
    for _ in 0..epochs {
        let perm = Tensor::randperm(n, (Kind::Int64, Device::Cpu));
        for b in (0..n).step_by(train.batch_size) {
            let idx = perm.narrow(0, b, (train.batch_size as i64).min(n - b));
            let logits = net.forward(&x.index_select(0, &idx), true);
            let per = logits.cross_entropy_loss::<Tensor>(&y.index_select(0, &idx), None, Reduction::None, -100, 0.0);
            let grads = opt.gradients(&per.mean(Kind::Float)).expect("gradients");
            opt.step(train.lr, &grads).expect("sgd step");
        }
    }
    let s = start.elapsed().as_secs_f64();
    println!("bare tch loop: {:.0} samples/s ({s:.2}s, {epochs} epochs, {threads} threads)", (n as usize * epochs) as f64 / s);
}
