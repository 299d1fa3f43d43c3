//! The cost of each kind of hand-off on a message's path (docs/ARCHITECTURE.md, "One
//! message's path"), measured alone with the primitives smc uses there: a ping-pong of
//! N rounds, one-way = round trip / 2 (median, p99).
//!
//! - `thread -> runtime task`: a program's thread hands a frame to its connection's
//!   writer task (`tokio::sync::mpsc::unbounded_channel`) and waits for the answer on a
//!   `oneshot` (`block_on`): the client's request path, and its reader task handing a
//!   reply or an event back.
//! - `runtime task -> blocking thread`: a session's task hands a message to the
//!   committer's thread (`mpsc::channel` + `blocking_recv`), answered on a `oneshot`.
//! - `thread -> thread (condvar)`: `Arrivals` waking a `Background` client's thread,
//!   and that thread waking `recv` (`Mutex` + `Condvar`).
//! - `loopback TCP between tasks`: one frame written by a task and read by another on
//!   the same 2-thread runtime (the transport's floor, without Noise).
//!
//! `cargo bench --bench handoff`; `SMC_BENCH_QUICK=1` for a tiny run.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

fn rounds() -> usize {
    if std::env::var_os("SMC_BENCH_QUICK").is_some() {
        200
    } else {
        20_000
    }
}

fn runtime() -> tokio::runtime::Runtime {
    // As the client's shared runtime: two worker threads.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Prints the one-way median and p99 of round trips `rtts`.
fn report(what: &str, mut rtts: Vec<Duration>) {
    rtts.sort();
    let one_way = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6 / 2.0;
    println!(
        "{what}: one-way p50 {:.1} us, p99 {:.1} us ({} round trips)",
        one_way(0.5),
        one_way(0.99),
        rtts.len()
    );
}

fn thread_to_task(rt: &tokio::runtime::Runtime) {
    let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
    rt.spawn(async move {
        while let Some(answer) = rx.recv().await {
            let _ = answer.send(());
        }
    });
    let mut rtts = Vec::with_capacity(rounds());
    for _ in 0..rounds() {
        let start = Instant::now();
        let (answer, back) = oneshot::channel();
        tx.send(answer).expect("task alive");
        rt.block_on(back).expect("answered");
        rtts.push(start.elapsed());
    }
    report(
        "thread -> runtime task (unbounded mpsc, oneshot back)",
        rtts,
    );
}

fn task_to_blocking_thread(rt: &tokio::runtime::Runtime) {
    let (tx, mut rx) = mpsc::channel::<oneshot::Sender<()>>(4096);
    let thread = std::thread::spawn(move || {
        while let Some(answer) = rx.blocking_recv() {
            let _ = answer.send(());
        }
    });
    let rtts = rt.block_on(async move {
        let mut rtts = Vec::with_capacity(rounds());
        // From a task, as a session's handler sends to the committer.
        let handle = tokio::spawn(async move {
            for _ in 0..rounds() {
                let start = Instant::now();
                let (answer, back) = oneshot::channel();
                tx.send(answer).await.expect("thread alive");
                back.await.expect("answered");
                rtts.push(start.elapsed());
            }
            rtts
        });
        handle.await.expect("task")
    });
    thread.join().expect("thread");
    report(
        "runtime task -> blocking thread (mpsc blocking_recv, oneshot back)",
        rtts,
    );
}

fn thread_to_thread() {
    let shared = Arc::new((Mutex::new((0u64, 0u64)), Condvar::new()));
    let other = shared.clone();
    let n = rounds() as u64;
    let thread = std::thread::spawn(move || {
        let (lock, changed) = &*other;
        for i in 1..=n {
            let mut state = lock.lock().expect("lock");
            while state.0 < i {
                state = changed.wait(state).expect("wait");
            }
            state.1 = i;
            changed.notify_all();
        }
    });
    let (lock, changed) = &*shared;
    let mut rtts = Vec::with_capacity(rounds());
    for i in 1..=n {
        let start = Instant::now();
        let mut state = lock.lock().expect("lock");
        state.0 = i;
        changed.notify_all();
        while state.1 < i {
            state = changed.wait(state).expect("wait");
        }
        drop(state);
        rtts.push(start.elapsed());
    }
    thread.join().expect("thread");
    report("thread -> thread (Mutex + Condvar)", rtts);
}

fn loopback_tcp(rt: &tokio::runtime::Runtime) {
    let rtts = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let (mut peer, _) = listener.accept().await.expect("accept");
            peer.set_nodelay(true).expect("nodelay");
            let mut frame = [0u8; 64];
            while peer.read_exact(&mut frame).await.is_ok() {
                if peer.write_all(&frame).await.is_err() {
                    return;
                }
            }
        });
        let handle = tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(address)
                .await
                .expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut frame = [7u8; 64];
            let mut rtts = Vec::with_capacity(rounds());
            for _ in 0..rounds() {
                let start = Instant::now();
                stream.write_all(&frame).await.expect("write");
                stream.read_exact(&mut frame).await.expect("read");
                rtts.push(start.elapsed());
            }
            rtts
        });
        handle.await.expect("task")
    });
    report("loopback TCP between runtime tasks (64-byte frame)", rtts);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = runtime();
    thread_to_task(&rt);
    task_to_blocking_thread(&rt);
    thread_to_thread();
    loopback_tcp(&rt);
}
