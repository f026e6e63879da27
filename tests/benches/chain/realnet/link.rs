//! The wire between a client and one service: a TCP relay that delivers every byte a one-way
//! delay after it was sent, in both directions, so a round trip costs twice the delay as on a real
//! network, and so does every handshake that rides on it (TCP, TLS).
//!
//! TCP's own handshake happens in the kernel, where loopback answers at once: a client's
//! `connect()` returns immediately. On a real network the client can send nothing before the
//! SYN/SYN-ACK round trip, so its first bytes reach the server after one and a half round trips.
//! The relay keeps that rule: bytes the client sends before one round trip has passed since its
//! connection was accepted are treated as sent at that moment. Everything else is a fixed
//! one-way delay; bandwidth is unlimited.
//!
//! Threads, not tasks: each direction of a connection has a reader and a writer thread, and the
//! writer waits until each chunk's delivery instant with [`wait_until`] (Tokio's timer is late by
//! up to a millisecond, which would add up over the eight or so one-way trips of a cold start).
//! The relay records when it accepted each connection.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One connection a client opened through a [`Link`].
#[derive(Debug, Clone)]
pub struct Connection {
    /// When the relay accepted it.
    pub opened: Instant,
}

/// A running relay from a listening address to an upstream address.
pub struct Link {
    addr: SocketAddr,
    delay_us: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<Connection>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
    }
}

impl Link {
    /// Listens on `listen` and relays every connection to `upstream` with a one-way `delay`.
    pub fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        delay: Duration,
    ) -> std::io::Result<Link> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let link = Link {
            addr,
            delay_us: Arc::new(AtomicU64::new(delay.as_micros() as u64)),
            log: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (delay_us, log, stop) = (link.delay_us.clone(), link.log.clone(), link.stop.clone());
        std::thread::Builder::new()
            .name(format!("link-{addr}"))
            .spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let delay = Duration::from_micros(delay_us.load(Ordering::SeqCst));
                    let opened = Instant::now();
                    lock(&log).push(Connection { opened });
                    let _ = std::thread::Builder::new()
                        .name("link-connection".to_owned())
                        .spawn(move || relay(client, upstream, delay, opened));
                }
            })?;
        Ok(link)
    }

    /// Sets the one-way delay of connections accepted from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_us
            .store(delay.as_micros() as u64, Ordering::SeqCst);
    }

    /// The connections accepted since the last call.
    pub fn take(&self) -> Vec<Connection> {
        std::mem::take(&mut *lock(&self.log))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long before a delivery instant [`wait_until`] stops sleeping and starts yielding.
const SPIN: Duration = Duration::from_micros(250);

/// Returns at `at`, give or take a few microseconds: sleeps until [`SPIN`] before it, then yields
/// the CPU until it has passed. `std::thread::sleep` alone wakes late: 70 to 340 µs (typically
/// 100) on the bench machine, a 2-vCPU VM, which over the six one-way trips on a cold start's
/// critical path added about 0.7 ms to every client's time beyond the round trips the run
/// claims. The yielding costs at most [`SPIN`] of CPU per delivery and gives way to any thread
/// that has work.
pub fn wait_until(at: Instant) {
    let now = Instant::now();
    if let Some(long) = at
        .checked_duration_since(now)
        .and_then(|d| d.checked_sub(SPIN))
    {
        std::thread::sleep(long);
    }
    while Instant::now() < at {
        std::thread::yield_now();
    }
}

/// A chunk on its way, or the end of the stream (`None`), and when it arrives.
type InFlight = (Instant, Option<Vec<u8>>);

fn relay(client: TcpStream, upstream: SocketAddr, delay: Duration, opened: Instant) {
    let Ok(server) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client_in), Ok(server_in)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    // The client may send from one round trip after it connected (SYN, SYN-ACK).
    let may_send_from = opened + 2 * delay;
    let upload = std::thread::spawn(move || {
        pump(client_in, server, |sent| sent.max(may_send_from) + delay);
    });
    pump(server_in, client, |sent| sent + delay);
    let _ = upload.join();
}

/// Copies `from` to `to`, each chunk delivered at `arrival(time read)`. The end of `from` shuts
/// down `to`'s writing half at its arrival time.
fn pump(mut from: TcpStream, mut to: TcpStream, arrival: impl Fn(Instant) -> Instant) {
    let (tx, rx) = mpsc::channel::<InFlight>();
    let writer = std::thread::spawn(move || {
        for (at, chunk) in rx {
            wait_until(at);
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).is_err() {
                        break;
                    }
                }
                None => break,
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let read = from.read(&mut buf);
        let at = arrival(Instant::now());
        match read {
            Ok(0) | Err(_) => {
                let _ = tx.send((at, None));
                break;
            }
            Ok(n) => {
                if tx.send((at, Some(buf[..n].to_vec()))).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
}
