//! Two processes on loopback form a c10d group (Gloo) through the launcher's
//! variables, as under `torchrun --nproc-per-node=2`.
//!
//! The ranks are this test binary itself, run again with `MEMSCOPE_DIST_WORKER` set
//! (hence `harness = false`: `main` decides which side it is):
//! - `collectives`: runs each collective on `[rank + 1; 4]` and prints one line per
//!   result (`all_reduce_sum 3 3 3 3`, ...);
//! - `die`: rank 1 joins the group, then exits (status 3) before the first
//!   collective; the other ranks' all-reduce must then fail within the timeout;
//! - `share`: rank 0 sends bytes and named tensors the others know nothing of (how a
//!   resumed job's checkpoint reaches them), and each rank prints what it holds.
//! - `reducer`: three parameters, each in a bucket of its own (a bucket cap of one
//!   byte), two backward passes through c10d's Reducer; prints each step's buckets and
//!   summed gradients;
//! - `reducer_die`: as `reducer`, but rank 1 exits once its reducer is made.

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};


/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(rank: usize, world: usize, port: u16, timeout_s: &str, mode: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env("MEMSCOPE_DIST_WORKER", mode)
        .env("RANK", rank.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env("MEMSCOPE_DIST_TIMEOUT", timeout_s)
        .env("OMP_NUM_THREADS", "1")
        .env("MEMSCOPE_DIST_BUCKET_MB", "0.000001")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` at most `limit`; kills it (and fails) past that.
fn finish(mut child: Child, limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("a rank hung past {limit:?}; stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), start.elapsed())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Both ranks run worker `mode` (30 s timeout), succeed, and print `expected`.
fn both_ranks_print(mode: &str, expected: &str) {
    let port = free_port();
    let ranks: Vec<Child> = (0..2).map(|r| spawn(r, 2, port, "30", mode)).collect();
    for (rank, child) in ranks.into_iter().enumerate() {
        let (out, _) = finish(child, Duration::from_secs(60));
        assert!(out.status.success(), "rank {rank} failed: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), expected, "rank {rank}");
    }
}

/// Rank 1 of worker `mode` exits (status 3) where the mode says; rank 0 must end within
/// its 20 s timeout with an error naming the collective and the rank it waited for.
fn the_survivor_names_the_rank_that_died(mode: &str) {
    let port = free_port();
    let survivor = spawn(0, 2, port, "20", mode);
    let dying = spawn(1, 2, port, "20", mode);
    let (out, _) = finish(dying, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let (out, took) = finish(survivor, Duration::from_secs(60));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: rank 0 of 2: all_reduce failed (waiting for rank 1)"), "{stderr}");
    assert!(took < Duration::from_secs(20), "the survivor took {took:?}, past its 20 s timeout");
}

/// Rank r holds [r + 1; 4]: 1 + 2 = 3 on both, average 1.5, rank 1's 2s broadcast, and
/// both tensors gathered in rank order.
fn two_ranks_all_reduce_broadcast_and_gather_on_loopback() {
    both_ranks_print(
        "collectives",
        "all_reduce_sum 3 3 3 3\nall_reduce_average 1.5 1.5 1.5 1.5\nbroadcast 2 2 2 2\n\
         all_gather 1 1 1 1 2 2 2 2\nbarrier\n",
    );
}

fn a_rank_that_dies_ends_the_other_with_an_error_naming_it() {
    the_survivor_names_the_rank_that_died("die");
}

/// Every kind a checkpoint holds (float weights, the optimizer's int64 step count, a
/// plugin's bytes), and an empty table, with rank 0's names and shapes.
fn rank0s_bytes_and_tensors_reach_the_other_rank() {
    both_ranks_print(
        "share",
        "bytes from rank 0\nweights Float [2, 3] 1.5 -2 3.25 0 0.125 7\nsteps Int64 [] 41\n\
         plugin Uint8 [3] 0 255 7\nempty Float [0, 5] \n",
    );
}

/// Rank r's loss is (r + 1) x (sum(a) + 2 sum(b) + 3 sum(c)): the gradients summed over
/// both ranks are 3, 6 and 9 everywhere, after every step (never accumulated onto the
/// last step's), each parameter in a bucket of its own.
fn two_ranks_sum_their_gradients_in_buckets_during_backward() {
    let step = "buckets 3: a 3 3 3, b 6 6 6 6 6, c 9\n";
    both_ranks_print("reducer", &format!("{step}{step}"));
}

/// A peer gone during backward: the bucket's all-reduce fails, and the error names the
/// collective and the rank waited for (not a local failure of backward).
fn a_rank_that_dies_before_backward_fails_the_others_reduction() {
    the_survivor_names_the_rank_that_died("reducer_die");
}

fn a_rank_alone_gives_up_the_rendezvous_after_the_timeout() {
    let port = free_port();
    let alone = spawn(0, 2, port, "2", "collectives");
    let (out, took) = finish(alone, Duration::from_secs(60));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("error: rank 0 of 2: could not meet the other ranks at 127.0.0.1:{port} within 2s")), "{stderr}");
    assert!(took < Duration::from_secs(10), "gave up after {took:?}");
}

use memscope::dist::{broadcast_bytes, broadcast_tensors, Launch, ProcessGroup, Reduce};
use tch::{Device, Kind, Tensor};

fn values(t: &Tensor) -> String {
    let v = Vec::<f32>::try_from(t.flatten(0, -1)).expect("a float tensor");
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ")
}

/// The rank's side: what `MEMSCOPE_DIST_WORKER` names, under the launcher's variables.
fn worker(mode: &str) {
    let launch = match Launch::from_env() {
        Ok(Some(launch)) => launch,
        Ok(None) => return eprintln!("set WORLD_SIZE (above 1), RANK, MASTER_ADDR and MASTER_PORT"),
        Err(e) => return eprintln!("{e}"),
    };
    let run = || -> Result<(), memscope::dist::DistError> {
        let group = ProcessGroup::new(&launch, Device::Cpu)?;
        if mode.starts_with("reducer") {
            return reduce_gradients(&group, mode == "reducer_die");
        }
        let mine = || Tensor::full([4], (group.rank() + 1) as f64, (Kind::Float, Device::Cpu));
        if mode == "die" && group.rank() == 1 {
            std::process::exit(3);
        }
        if mode == "share" {
            return share(&group);
        }
        let mut sum = mine();
        group.all_reduce(&mut sum, Reduce::Sum)?;
        println!("all_reduce_sum {}", values(&sum));
        let mut average = mine();
        group.all_reduce(&mut average, Reduce::Average)?;
        println!("all_reduce_average {}", values(&average));
        let mut from_last = mine();
        group.broadcast(&mut from_last, group.world() - 1)?;
        println!("broadcast {}", values(&from_last));
        println!("all_gather {}", values(&group.all_gather(&mine())?));
        group.barrier()?;
        println!("barrier");
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Rank 0's bytes and tensors, printed by every rank (the others pass nothing).
fn share(group: &ProcessGroup) -> Result<(), memscope::dist::DistError> {
    let rank0 = group.rank() == 0;
    let bytes = broadcast_bytes(group, Device::Cpu, if rank0 { b"from rank 0" } else { b"" })?;
    println!("bytes {}", String::from_utf8_lossy(&bytes));
    let tensors = vec![
        ("weights".to_string(), Tensor::from_slice(&[1.5f32, -2.0, 3.25, 0.0, 0.125, 7.0]).view([2, 3])),
        ("steps".to_string(), Tensor::from(41i64)),
        ("plugin".to_string(), Tensor::from_slice(&[0u8, 255, 7])),
        ("empty".to_string(), Tensor::zeros([0, 5], (Kind::Float, Device::Cpu))),
    ];
    for (name, t) in broadcast_tensors(group, Device::Cpu, rank0.then_some(tensors.as_slice()))? {
        let v = Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).expect("numbers");
        let v: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        println!("{name} {:?} {:?} {}", t.kind(), t.size(), v.join(" "));
    }
    Ok(())
}

/// The `reducer` and `reducer_die` workers.
fn reduce_gradients(group: &ProcessGroup, die: bool) -> Result<(), memscope::dist::DistError> {
    let leaf = |n: i64| Tensor::ones([n], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let params = [leaf(3), leaf(5), leaf(1)];
    let mut reducer = group.gradient_reducer(&params)?;
    if die && group.rank() == 1 {
        std::process::exit(3);
    }
    let scale = (group.rank() + 1) as f64;
    for _ in 0..2 {
        let loss = (params[0].sum(Kind::Float) + params[1].sum(Kind::Float) * 2.0 + params[2].sum(Kind::Float) * 3.0) * scale;
        reducer.backward(group, &loss)?;
        let [a, b, c] = params.each_ref().map(|p| values(&p.grad()));
        println!("buckets {}: a {a}, b {b}, c {c}", reducer.timings().buckets);
    }
    Ok(())
}

fn main() {
    if let Ok(mode) = std::env::var("MEMSCOPE_DIST_WORKER") {
        return worker(&mode);
    }
    let tests: [(&str, fn()); 6] = [
        ("two_ranks_all_reduce_broadcast_and_gather_on_loopback", two_ranks_all_reduce_broadcast_and_gather_on_loopback),
        ("rank0s_bytes_and_tensors_reach_the_other_rank", rank0s_bytes_and_tensors_reach_the_other_rank),
        ("a_rank_that_dies_ends_the_other_with_an_error_naming_it", a_rank_that_dies_ends_the_other_with_an_error_naming_it),
        ("two_ranks_sum_their_gradients_in_buckets_during_backward", two_ranks_sum_their_gradients_in_buckets_during_backward),
        ("a_rank_that_dies_before_backward_fails_the_others_reduction", a_rank_that_dies_before_backward_fails_the_others_reduction),
        ("a_rank_alone_gives_up_the_rendezvous_after_the_timeout", a_rank_alone_gives_up_the_rendezvous_after_the_timeout),
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    // What libtest's own flags ask of a harness: `--list` names the tests, and
    // `--ignored` runs only ignored ones (none here).
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return;
    }
    if args.iter().any(|a| a == "--ignored") {
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    for (name, test) in tests {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        println!("test {name} ...");
        test();
        println!("test {name} ... ok");
    }
}
