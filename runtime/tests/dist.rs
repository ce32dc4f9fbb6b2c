//! Two processes on loopback form a c10d group (Gloo) through the launcher's
//! variables, as under `torchrun --nproc-per-node=2`.
//!
//! The ranks are this test binary itself, run again with `MEMSCOPE_DIST_WORKER` set
//! (hence `harness = false`: `main` decides which side it is):
//! - `collectives`: runs each collective on `[rank + 1; 4]` and prints one line per
//!   result (`all_reduce_sum 3 3 3 3`, ...);
//! - `die`: rank 1 joins the group, then exits (status 3) before the first
//!   collective; the other ranks' all-reduce must then fail within the timeout.
//!   Each rank's exit handler writes `exit handlers ran` to stderr when it runs;
//! - `share`: rank 0 sends bytes and named tensors the others know nothing of (how a
//!   resumed job's checkpoint reaches them), and each rank prints what it holds.
//! - `reducer`: three parameters, each in a bucket of its own (a bucket cap of one
//!   byte), two backward passes through c10d's Reducer; prints each step's buckets and
//!   summed gradients;
//! - `reducer_die`: as `reducer`, but rank 1 exits once its reducer is made (exit
//!   handlers as in `die`).
//! - `die_last`: as `die`, but the last rank of the group exits (status 3);
//! - `freeze`: rank 1 joins the group, then stops itself (SIGSTOP), as a process whose
//!   machine froze or fell off the network: no error reaches the others' collectives.
//! - `busy`: rank 1 freezes as in `freeze`; rank 0 spends 8 s in an uninterruptible
//!   section (as when writing a checkpoint), then 60 s outside any collective (as
//!   when a CUDA read waits behind an NCCL collective that returned at once).
//! - `steady`: 16 all-reduces, rank 1 resting 0.5 s before each (so rank 0 waits in
//!   them), printing `ready` after the first and `done` at the end.

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(rank: usize, world: usize, port: u16, timeout_s: &str, mode: &str) -> Child {
    spawn_with(rank, world, port, timeout_s, mode, &[])
}

fn spawn_with(rank: usize, world: usize, port: u16, timeout_s: &str, mode: &str, env: &[(&str, &str)]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .envs(env.iter().copied())
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
    assert!(text(&out.stderr).ends_with(EXIT_HANDLERS_RAN), "a plain exit runs the exit handlers");
    let (out, took) = finish(survivor, Duration::from_secs(60));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: rank 0 of 2: all_reduce failed (rank 1 gave no sign of life for "), "{stderr}");
    assert!(took < Duration::from_secs(20), "the survivor took {took:?}, past its 20 s timeout");
    // Its group broke: it ends without exit handlers, which on NCCL could wait on the
    // collective that cannot end.
    assert!(!stderr.contains(EXIT_HANDLERS_RAN), "{stderr}");
}

/// In a group of three, the last rank exits: both others end with an error that names
/// it (the collective alone cannot tell which of the two peers failed it).
fn in_a_group_of_three_both_survivors_name_the_rank_that_died() {
    let port = free_port();
    let ranks: Vec<Child> = (0..3).map(|r| spawn(r, 3, port, "20", "die_last")).collect();
    for (rank, child) in ranks.into_iter().enumerate() {
        let (out, took) = finish(child, Duration::from_secs(60));
        let stderr = text(&out.stderr);
        if rank == 2 {
            assert_eq!(out.status.code(), Some(3), "{stderr}");
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "rank {rank}: {stderr}");
        let error = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("rank {rank}: {stderr}"));
        let expected = format!("error: rank {rank} of 3: all_reduce failed (rank 2 gave no sign of life for ");
        assert!(error.starts_with(&expected), "rank {rank}: {error}");
        assert!(took < Duration::from_secs(20), "rank {rank} took {took:?}, past its 20 s timeout");
    }
}

/// Rank 0, which serves the store, is killed while rank 1 waits in an all-reduce: rank
/// 1's error names it through the store's silence, on one line (libtorch's own
/// warnings about the failed store calls, each with a C++ backtrace, are kept out).
fn when_rank0_dies_the_other_names_it_in_one_line() {
    let port = free_port();
    let mut ranks: Vec<Child> = (0..2).map(|r| spawn(r, 2, port, "20", "steady")).collect();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(ranks[1].stdout.as_mut().unwrap()), &mut first).unwrap();
    assert_eq!(first, "ready\n");
    ranks[0].kill().unwrap();
    ranks[0].wait().unwrap();
    let (out, took) = finish(ranks.pop().unwrap(), Duration::from_secs(60));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let expected = format!("error: rank 1 of 2: all_reduce failed (the group's store at 127.0.0.1:{port} has not answered for ");
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(stderr.contains("rank 0, which serves it, has ended or is cut off)"), "{stderr}");
    assert!(took < Duration::from_secs(20), "rank 1 took {took:?}");
}

/// A silent peer ends a rank that waits outside any collective too (on NCCL a
/// collective returns at once, and the wait is in the next read of a CUDA tensor), but
/// not while it is in an uninterruptible section (a checkpoint being written).
fn a_rank_waiting_outside_a_collective_ends_but_not_while_uninterruptible() {
    let (out, took) = rank0_beside_a_frozen_rank1("busy", "2");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: rank 0 of 2: rank 1 gave no sign of life for "), "{stderr}");
    assert!(stderr.trim_end().ends_with("This rank ends here: the group cannot go on without it"), "{stderr}");
    assert!(took >= Duration::from_secs(8), "ended after {took:?}, inside the uninterruptible section");
    assert!(took < Duration::from_secs(30), "ended after {took:?}");
}

/// Under torchrun the launcher's agent serves the store, and it outlives the ranks: a
/// restarted group (`--max-restarts`) meets in the same store. Here the test serves it
/// (a group of one, as the agent would); the first incarnation loses rank 1, the second
/// (`TORCHELASTIC_RESTART_COUNT=1`) must meet afresh, not on the first one's keys.
fn a_restarted_group_meets_afresh_in_the_launchers_store() {
    let port = free_port();
    let agent = memscope_torch_ext::Rendezvous {
        addr: "127.0.0.1".into(),
        port,
        rank: 0,
        world: 1,
        serve_store: true,
        prefix: "agent".into(),
        timeout: Duration::from_secs(10),
        device: Device::Cpu,
    };
    let _store = memscope_torch_ext::C10dGroup::new(&agent).unwrap();
    for (restart, mode) in [("0", "die"), ("1", "collectives")] {
        let env = [("TORCHELASTIC_USE_AGENT_STORE", "True"), ("TORCHELASTIC_RESTART_COUNT", restart)];
        let ranks: Vec<Child> = (0..2).map(|r| spawn_with(r, 2, port, "20", mode, &env)).collect();
        for (rank, child) in ranks.into_iter().enumerate() {
            let (out, _) = finish(child, Duration::from_secs(60));
            if mode == "collectives" {
                assert!(out.status.success(), "restart {restart}, rank {rank}: {}", text(&out.stderr));
                assert!(text(&out.stdout).starts_with("all_reduce_sum 3 3 3 3\n"), "{}", text(&out.stdout));
            }
        }
    }
}

/// The whole group is stopped for 5 s (Ctrl-Z of a launched job) while rank 0 waits in
/// an all-reduce, with `MEMSCOPE_DIST_LIVENESS=2`: once continued, no rank takes the
/// others' silence while it was itself stopped for a lost rank, and both finish.
fn a_group_stopped_and_continued_as_a_whole_finishes() {
    let port = free_port();
    let env = [("MEMSCOPE_DIST_LIVENESS", "2")];
    let mut ranks: Vec<Child> = (0..2).map(|r| spawn_with(r, 2, port, "60", "steady", &env)).collect();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(ranks[0].stdout.as_mut().unwrap()), &mut first).unwrap();
    assert_eq!(first, "ready\n");
    let signal = |name: &str, child: &Child| {
        assert!(Command::new("kill").args([name, &child.id().to_string()]).status().unwrap().success());
    };
    std::thread::sleep(Duration::from_secs(1));
    ranks.iter().for_each(|c| signal("-STOP", c));
    std::thread::sleep(Duration::from_secs(5));
    ranks.iter().for_each(|c| signal("-CONT", c));
    for (rank, child) in ranks.into_iter().enumerate() {
        let (out, _) = finish(child, Duration::from_secs(60));
        assert!(out.status.success(), "rank {rank} failed: {}", text(&out.stderr));
        assert!(text(&out.stdout).ends_with("done\n"), "rank {rank}: {}", text(&out.stdout));
    }
}

/// Worker `mode` on two ranks (rank 1 freezes) with a 600 s timeout and
/// `MEMSCOPE_DIST_LIVENESS=liveness`: rank 0's output and how long it ran; rank 1 is
/// then killed.
fn rank0_beside_a_frozen_rank1(mode: &str, liveness: &str) -> (Output, Duration) {
    let port = free_port();
    let env = [("MEMSCOPE_DIST_LIVENESS", liveness)];
    let rank0 = spawn_with(0, 2, port, "600", mode, &env);
    let mut frozen = spawn_with(1, 2, port, "600", mode, &env);
    let ended = finish(rank0, Duration::from_secs(60));
    frozen.kill().unwrap();
    frozen.wait().unwrap();
    ended
}

/// Rank 1 freezes (SIGSTOP) inside the group: rank 0's all-reduce gets no error and
/// would wait out its 600 s timeout. The liveness watch finds rank 1 silent for 3 s
/// (`MEMSCOPE_DIST_LIVENESS`) and rank 0 ends with an error naming it, long before.
fn a_frozen_rank_is_found_silent_and_the_other_ends_naming_it() {
    let (out, took) = rank0_beside_a_frozen_rank1("freeze", "3");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let error = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(error.starts_with("error: rank 0 of 2: all_reduce cannot complete: rank 1 gave no sign of life for "), "{error}");
    assert!(error.ends_with("This rank ends here: a collective in progress cannot be interrupted"), "{error}");
    assert!(took < Duration::from_secs(30), "rank 0 ended after {took:?}");
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
    assert_eq!(stderr, format!("error: rank 0 of 2: could not meet the other ranks at 127.0.0.1:{port} within 2s: rank 1 never arrived\n"));
    assert!(took < Duration::from_secs(10), "gave up after {took:?}");
}

/// Two of three ranks come: each names the one that never did, in one line (no
/// libtorch log lines about the store's timeouts).
fn the_ranks_that_came_name_the_one_that_never_did() {
    let port = free_port();
    let ranks: Vec<Child> = (0..2).map(|r| spawn(r, 3, port, "3", "collectives")).collect();
    for (rank, child) in ranks.into_iter().enumerate() {
        let (out, took) = finish(child, Duration::from_secs(60));
        let expected =
            format!("error: rank {rank} of 3: could not meet the other ranks at 127.0.0.1:{port} within 3s: rank 2 never arrived\n");
        assert_eq!(text(&out.stderr), expected);
        assert!(took < Duration::from_secs(15), "rank {rank} gave up after {took:?}");
    }
}

/// Rank 1 comes, but nobody serves the store (rank 0 never started): it says so.
fn a_rank_without_its_store_names_rank0() {
    let port = free_port();
    let (out, took) = finish(spawn(1, 2, port, "2", "collectives"), Duration::from_secs(60));
    let expected = format!(
        "error: rank 1 of 2: could not meet the other ranks at 127.0.0.1:{port} within 2s: rank 0, which serves the store there, is not there\n"
    );
    assert_eq!(text(&out.stderr), expected);
    assert!(took < Duration::from_secs(15), "gave up after {took:?}");
}

use memscope::dist::{broadcast_bytes, broadcast_tensors, Launch, ProcessGroup, Reduce};
use tch::{Device, Kind, Tensor};

fn values(t: &Tensor) -> String {
    let v = Vec::<f32>::try_from(t.flatten(0, -1)).expect("a float tensor");
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ")
}

/// What a worker's exit handler writes to stderr.
const EXIT_HANDLERS_RAN: &str = "exit handlers ran\n";

extern "C" fn say_exit_handlers_ran() {
    // SAFETY: writes a static buffer to stderr.
    unsafe { libc::write(2, EXIT_HANDLERS_RAN.as_ptr().cast(), EXIT_HANDLERS_RAN.len()) };
}

/// The rank's side: what `MEMSCOPE_DIST_WORKER` names, under the launcher's variables.
fn worker(mode: &str) {
    if mode == "die" || mode == "reducer_die" {
        // SAFETY: registers a function that only writes to stderr.
        unsafe { libc::atexit(say_exit_handlers_ran) };
    }
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
        if (mode == "die" && group.rank() == 1) || (mode == "die_last" && group.rank() == group.world() - 1) {
            std::process::exit(3);
        }
        if mode == "busy" && group.rank() == 0 {
            let writing = group.uninterruptible();
            std::thread::sleep(Duration::from_secs(8));
            drop(writing);
            std::thread::sleep(Duration::from_secs(60));
            println!("waited");
            return Ok(());
        }
        if (mode == "freeze" || mode == "busy") && group.rank() == 1 {
            // SAFETY: stops this process; the test kills it.
            unsafe { libc::raise(libc::SIGSTOP) };
        }
        if mode == "share" {
            return share(&group);
        }
        if mode == "steady" {
            for step in 0..16 {
                if group.rank() == 1 {
                    std::thread::sleep(Duration::from_millis(500));
                }
                group.all_reduce(&mut mine(), Reduce::Sum)?;
                if step == 0 {
                    println!("ready");
                }
            }
            println!("done");
            return Ok(());
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
        memscope::dist::exit(1);
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
    let tests: [(&str, fn()); 14] = [
        ("two_ranks_all_reduce_broadcast_and_gather_on_loopback", two_ranks_all_reduce_broadcast_and_gather_on_loopback),
        ("rank0s_bytes_and_tensors_reach_the_other_rank", rank0s_bytes_and_tensors_reach_the_other_rank),
        ("a_rank_that_dies_ends_the_other_with_an_error_naming_it", a_rank_that_dies_ends_the_other_with_an_error_naming_it),
        ("two_ranks_sum_their_gradients_in_buckets_during_backward", two_ranks_sum_their_gradients_in_buckets_during_backward),
        ("a_rank_that_dies_before_backward_fails_the_others_reduction", a_rank_that_dies_before_backward_fails_the_others_reduction),
        ("a_rank_alone_gives_up_the_rendezvous_after_the_timeout", a_rank_alone_gives_up_the_rendezvous_after_the_timeout),
        ("the_ranks_that_came_name_the_one_that_never_did", the_ranks_that_came_name_the_one_that_never_did),
        ("a_rank_without_its_store_names_rank0", a_rank_without_its_store_names_rank0),
        ("a_restarted_group_meets_afresh_in_the_launchers_store", a_restarted_group_meets_afresh_in_the_launchers_store),
        ("in_a_group_of_three_both_survivors_name_the_rank_that_died", in_a_group_of_three_both_survivors_name_the_rank_that_died),
        ("a_frozen_rank_is_found_silent_and_the_other_ends_naming_it", a_frozen_rank_is_found_silent_and_the_other_ends_naming_it),
        ("a_group_stopped_and_continued_as_a_whole_finishes", a_group_stopped_and_continued_as_a_whole_finishes),
        ("when_rank0_dies_the_other_names_it_in_one_line", when_rank0_dies_the_other_names_it_in_one_line),
        (
            "a_rank_waiting_outside_a_collective_ends_but_not_while_uninterruptible",
            a_rank_waiting_outside_a_collective_ends_but_not_while_uninterruptible,
        ),
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
