//! The loader: a thread that shuffles, augments and batches the training set, ahead of
//! the trainer, through a bounded channel (the trainer's pace is the loader's pace).

use super::{Augmenter, Dataset};
use crate::config::AugmentConfig;
use crate::seeding::{rng_for, Stream};
use crossbeam_channel::{bounded, Receiver, RecvError, Sender};
use rand::seq::SliceRandom;
use std::sync::Arc;
use std::thread::JoinHandle;
use tch::{Device, Kind, Tensor};

/// One training batch, on the CPU.
#[derive(Debug)]
pub struct Batch {
    /// Epoch this batch belongs to (0-based).
    pub epoch: usize,
    /// Index of the batch within its epoch.
    pub step: usize,
    /// Whether this is the epoch's last batch.
    pub last_in_epoch: bool,
    /// Sample indices, `int64 [B]`.
    pub indices: Tensor,
    /// Images, `float32 [B, C, H, W]`, augmented.
    pub images: Tensor,
    /// Labels, `int64 [B]`.
    pub labels: Tensor,
    /// Samples in the whole step across every rank (`B` for a single process): the
    /// divisor that makes the ranks' summed gradients the global batch's mean.
    pub global_size: usize,
}

/// Which part of every global batch this process trains on, with
/// `torch.utils.data.DistributedSampler`'s semantics: every rank shuffles the same
/// global order, and rank `r` of `world` takes positions `r, r + world, ...` of each
/// global batch of `world x batch_size` samples. Unlike the sampler, nothing is padded:
/// a short last batch is split unevenly (a rank may get no sample at all), which the
/// trainer's gradient weighting by [`Batch::global_size`] makes exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This process's rank.
    pub rank: usize,
    /// How many ranks share each global batch.
    pub world: usize,
}

impl Shard {
    /// A single process: every batch whole.
    pub const WHOLE: Shard = Shard { rank: 0, world: 1 };
}

/// What a loader visits: these samples (ascending indices into the dataset), in each of
/// these epochs, shuffled anew every epoch.
#[derive(Debug, Clone)]
pub struct Feed {
    /// The samples trained on ([`super::TrainingSamples`]: all, or a job's subset).
    pub samples: Arc<[usize]>,
    /// The epochs to produce (0-based; a resumed run starts later).
    pub epochs: std::ops::Range<usize>,
}

impl Feed {
    /// Every sample of a set of `n`, in `epochs`.
    pub fn whole(n: usize, epochs: std::ops::Range<usize>) -> Self {
        Feed { samples: (0..n).collect(), epochs }
    }
}

/// The receiving end of a running loader. Dropping it stops the loader thread.
#[derive(Debug)]
pub struct LoaderHandle {
    /// Batches in training order.
    batches: Receiver<Batch>,
    /// Tells a loader waiting on a full queue that it has drained to its low mark.
    refill: Option<Sender<()>>,
    /// Queue length at or below which the loader is woken to refill it.
    low_mark: usize,
    thread: Option<JoinHandle<()>>,
}

impl LoaderHandle {
    /// The next batch, in training order; an error once the loader has stopped
    /// (after the last epoch, or if it panicked).
    pub fn next(&self) -> Result<Batch, RecvError> {
        let batch = self.batches.recv()?;
        if self.batches.len() <= self.low_mark {
            if let Some(refill) = &self.refill {
                let _ = refill.try_send(());
            }
        }
        Ok(batch)
    }
}

impl Drop for LoaderHandle {
    fn drop(&mut self) {
        // Disconnect first so a loader blocked on a full channel, or waiting to
        // refill it, wakes and exits.
        let (_, dead) = bounded(0);
        drop(std::mem::replace(&mut self.batches, dead));
        self.refill = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts a loader thread producing the batches of the feed's epochs (this shard's
/// part of each, `batch_size` samples or fewer), at most `capacity` batches ahead of
/// the consumer.
pub fn spawn_loader(
    data: Arc<Dataset>,
    augment: AugmentConfig,
    seed: u64,
    batch_size: usize,
    feed: Feed,
    capacity: usize,
    shard: Shard,
) -> LoaderHandle {
    let (tx, rx) = bounded(capacity);
    // The loader refills the queue in bursts: once full, it sleeps until the trainer
    // has drained it to a quarter. Woken for every batch instead, it preempted one of
    // the trainer's OpenMP threads each step, stalling the whole parallel region
    // (digits training, 6.4 ms steps: about 6 % slower).
    let (refill_tx, refill_rx) = bounded::<()>(1);
    let low_mark = capacity / 4;
    let thread = std::thread::Builder::new()
        .name("memscope-loader".into())
        .spawn(move || {
            let shape = data.shape;
            let per_image = shape.len();
            let mut augmenter = Augmenter::new(augment, shape);
            let mut order: Vec<usize> = feed.samples.to_vec();
            for epoch in feed.epochs {
                order.sort_unstable();
                order.shuffle(&mut rng_for(seed, Stream::Shuffle, &[epoch as u64]));
                let global = batch_size * shard.world;
                let steps = order.len().div_ceil(global);
                for (step, whole) in order.chunks(global).enumerate() {
                    let mine: Vec<usize>;
                    let chunk = if shard.world == 1 {
                        whole
                    } else {
                        mine = whole.iter().copied().skip(shard.rank).step_by(shard.world).collect();
                        &mine
                    };
                    let mut pixels = vec![0.0f32; chunk.len() * per_image];
                    for (&i, out) in chunk.iter().zip(pixels.chunks_exact_mut(per_image)) {
                        data.read_image(i, out);
                    }
                    if augmenter.is_active() {
                        // One stream per sample and epoch: a sample's crop and flip do not
                        // depend on its batch or on the rank it lands on, so the ranks of a
                        // group augment exactly as one process does.
                        for (&i, image) in chunk.iter().zip(pixels.chunks_exact_mut(per_image)) {
                            let mut rng = rng_for(seed, Stream::Augment, &[epoch as u64, i as u64]);
                            augmenter.apply(image, &mut rng);
                        }
                    }
                    // Augmentation pads with zeros in [0, 1] space, as torchvision's
                    // RandomCrop before Normalize does; then the network's view.
                    data.normalize(&mut pixels);
                    let b = chunk.len() as i64;
                    let indices: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
                    let labels: Vec<i64> = chunk.iter().map(|&i| data.labels[i]).collect();
                    let batch = Batch {
                        epoch,
                        step,
                        last_in_epoch: step + 1 == steps,
                        indices: Tensor::from_slice(&indices),
                        images: images_tensor(&pixels, [b, shape.channels as i64, shape.height as i64, shape.width as i64]),
                        labels: Tensor::from_slice(&labels),
                        global_size: whole.len(),
                    };
                    // (A rendezvous channel, capacity 0, is always full: no bursts there.)
                    if capacity > 0 && tx.is_full() && refill_rx.recv().is_err() {
                        return; // the trainer stopped
                    }
                    if tx.send(batch).is_err() {
                        return; // the trainer stopped
                    }
                }
            }
        })
        .expect("spawning the loader thread");
    LoaderHandle { batches: rx, refill: Some(refill_tx), low_mark, thread: Some(thread) }
}

/// A float tensor of `shape` holding `values`, built without any libtorch parallel
/// region. `Tensor::from_slice` zero-fills its new tensor first, and a fill of a
/// batch's size runs as an OpenMP region: that gave this thread an OpenMP team of
/// its own, whose workers spin after every batch and took the cores from the
/// trainer's team (MNIST training ran 7-23 % slower than a bare loop).
fn images_tensor(values: &[f32], shape: [i64; 4]) -> Tensor {
    let tensor = Tensor::empty(shape, (Kind::Float, Device::Cpu));
    assert_eq!(tensor.numel(), values.len(), "images_tensor: shape {shape:?} for {} values", values.len());
    // SAFETY: a new contiguous float tensor of exactly `values.len()` elements,
    // shared with no one yet.
    unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), tensor.data_ptr() as *mut f32, values.len()) };
    tensor
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ImageShape, PixelStore, Sources};

    fn tiny(n: usize) -> Arc<Dataset> {
        Arc::new(Dataset::new(
            "tiny".into(),
            ImageShape { channels: 1, height: 2, width: 2 },
            PixelStore::floats((0..n * 4).map(|v| v as f32).collect(), 4),
            (0..n as i64).map(|i| i % 2).collect(),
            2,
            Sources::records("tiny", n),
        ))
    }

    fn epoch_indices(handle: &LoaderHandle, epoch: usize) -> Vec<i64> {
        let mut seen = Vec::new();
        while let Ok(batch) = handle.next() {
            assert_eq!(batch.epoch, epoch);
            seen.extend(Vec::<i64>::try_from(&batch.indices).unwrap());
            if batch.last_in_epoch {
                break;
            }
        }
        seen
    }

    #[test]
    fn batch_images_hold_the_pixels_in_order() {
        let values: Vec<f32> = (0..2 * 3 * 4 * 5).map(|v| v as f32 * 0.5).collect();
        let t = images_tensor(&values, [2, 3, 4, 5]);
        assert_eq!(t.size(), vec![2, 3, 4, 5]);
        assert_eq!(Vec::<f32>::try_from(&t.flatten(0, -1)).unwrap(), values);
    }

    #[test]
    fn each_epoch_visits_every_sample_once_in_a_seeded_order() {
        let a = spawn_loader(tiny(10), AugmentConfig::default(), 3, 4, Feed::whole(10, 0..2), 2, Shard::WHOLE);
        let e0 = epoch_indices(&a, 0);
        let e1 = epoch_indices(&a, 1);
        let mut sorted = e0.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(e0, e1, "epochs are shuffled differently");
        // Starting at epoch 1 (a resumed run) gives epoch 1's order.
        let b = spawn_loader(tiny(10), AugmentConfig::default(), 3, 4, Feed::whole(10, 1..2), 2, Shard::WHOLE);
        assert_eq!(epoch_indices(&b, 1), e1);
    }

    /// A feed of some samples (a job's `[train] subset`) visits those, each once per
    /// epoch, and no other.
    #[test]
    fn a_subset_feed_visits_only_its_samples() {
        let samples: Arc<[usize]> = vec![1, 4, 5, 8].into();
        let a = spawn_loader(tiny(10), AugmentConfig::default(), 3, 3, Feed { samples, epochs: 0..2 }, 2, Shard::WHOLE);
        for epoch in 0..2 {
            let mut seen = epoch_indices(&a, epoch);
            seen.sort();
            assert_eq!(seen, [1, 4, 5, 8], "epoch {epoch}");
        }
    }

    /// Two ranks of batch 4 take alternate positions of each global batch of 8 of the
    /// single-process order; the short last global batch (23 = 2 x 8 + 7) leaves rank
    /// 1 one sample fewer, and every batch says how large its global batch is.
    #[test]
    fn shards_split_every_global_batch_as_distributed_sampler_does() {
        let global: Vec<Vec<i64>> = {
            let whole = spawn_loader(tiny(23), AugmentConfig::default(), 5, 8, Feed::whole(23, 0..1), 4, Shard::WHOLE);
            std::iter::from_fn(|| whole.next().ok()).map(|b| Vec::<i64>::try_from(&b.indices).unwrap()).collect()
        };
        assert_eq!(global.iter().map(Vec::len).collect::<Vec<_>>(), [8, 8, 7]);
        for rank in 0..2 {
            let shard = spawn_loader(tiny(23), AugmentConfig::default(), 5, 4, Feed::whole(23, 0..1), 4, Shard { rank, world: 2 });
            let batches: Vec<Batch> = std::iter::from_fn(|| shard.next().ok()).collect();
            assert_eq!(batches.len(), 3);
            for (batch, whole) in batches.iter().zip(&global) {
                let want: Vec<i64> = whole.iter().copied().skip(rank).step_by(2).collect();
                assert_eq!(Vec::<i64>::try_from(&batch.indices).unwrap(), want, "rank {rank} step {}", batch.step);
                assert_eq!(batch.global_size, whole.len());
                assert_eq!(batch.labels.size()[0] as usize, want.len());
            }
            assert!(batches[2].last_in_epoch);
        }
    }

    /// With augmentation on, each sample is cropped and flipped the same way whichever
    /// rank and batch it lands in: two shards' images equal one process's, sample by
    /// sample, and the augmentation did change them.
    #[test]
    fn shards_augment_each_sample_as_one_process_does() {
        let augment = AugmentConfig { crop_padding: 1, hflip: true };
        let images = |loader: LoaderHandle| -> Vec<(i64, Vec<f32>)> {
            std::iter::from_fn(|| loader.next().ok())
                .flat_map(|b| {
                    let indices = Vec::<i64>::try_from(&b.indices).unwrap();
                    let per = b.images.numel() / indices.len().max(1);
                    let pixels = Vec::<f32>::try_from(&b.images.flatten(0, -1)).unwrap();
                    indices.into_iter().zip(pixels.chunks(per).map(<[f32]>::to_vec).collect::<Vec<_>>()).collect::<Vec<_>>()
                })
                .collect()
        };
        let mut whole = images(spawn_loader(tiny(23), augment.clone(), 5, 8, Feed::whole(23, 0..2), 4, Shard::WHOLE));
        let mut shards: Vec<(i64, Vec<f32>)> = (0..2)
            .flat_map(|rank| images(spawn_loader(tiny(23), augment.clone(), 5, 4, Feed::whole(23, 0..2), 4, Shard { rank, world: 2 })))
            .collect();
        assert_eq!(whole.len(), 46);
        whole.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.partial_cmp(&b.1).unwrap()));
        shards.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.partial_cmp(&b.1).unwrap()));
        assert_eq!(whole, shards);
        let plain = images(spawn_loader(tiny(23), AugmentConfig::default(), 5, 8, Feed::whole(23, 0..2), 4, Shard::WHOLE));
        let changed = plain.iter().filter(|(i, p)| whole.iter().all(|(j, q)| j != i || q != p)).count();
        assert!(changed > 10, "augmentation changed only {changed} of 46 images");
    }

    /// The queue refills in bursts: whatever its capacity and however slow the
    /// consumer, every batch of every epoch arrives, in order, and the loader ends.
    #[test]
    fn bursty_refills_deliver_every_batch_at_any_capacity() {
        for capacity in [1, 2, 3, 4, 8, 50] {
            let (done_tx, done_rx) = bounded(1);
            std::thread::spawn(move || {
                let handle = spawn_loader(tiny(23), AugmentConfig::default(), 5, 2, Feed::whole(23, 0..3), capacity, Shard::WHOLE);
                let mut steps = Vec::new();
                while let Ok(batch) = handle.next() {
                    if batch.step % 3 == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        // a slow step now and then
                    }
                    steps.push((batch.epoch, batch.step));
                }
                let _ = done_tx.send(steps);
            });
            let steps = done_rx.recv_timeout(std::time::Duration::from_secs(20)).expect("the loader neither stalled nor hung");
            let want: Vec<(usize, usize)> = (0..3).flat_map(|e| (0..12).map(move |s| (e, s))).collect();
            assert_eq!(steps, want, "capacity {capacity}");
        }
    }
}
