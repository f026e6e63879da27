//! The network's DNS resolver: answers the production host names with the loopback addresses
//! their links listen on, after a resolver's latency, and logs every query — how the bench counts
//! each client's lookups without touching the client (glibc's `getaddrinfo`, which wif, reqwest
//! and Python all use, reads `/etc/resolv.conf`, which the namespace points here).
//!
//! `A` queries for a known name get its address; `AAAA` queries for it get an empty answer (the
//! names are IPv4-only here, so no client tries and fails an IPv6 address first); any other name
//! is `NXDOMAIN`. One `getaddrinfo` sends an `A` and an `AAAA` query, so lookups are counted as
//! `A` queries.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const NXDOMAIN: u16 = 3;

/// One query the resolver received.
#[derive(Debug, Clone)]
pub struct Query {
    /// The name asked for, lower case, without the final dot.
    pub name: String,
    /// Its record type (1 = A, 28 = AAAA).
    pub qtype: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Query {
    /// Whether this query is one lookup (see the module docs).
    pub fn is_lookup(&self) -> bool {
        self.qtype == TYPE_A
    }
}

/// A running resolver.
pub struct Resolver {
    log: Arc<Mutex<Vec<Query>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Resolver {
    /// Serves `names` on UDP `addr`, answering after `latency`.
    pub fn start(
        addr: SocketAddr,
        names: HashMap<String, Ipv4Addr>,
        latency: Duration,
    ) -> std::io::Result<Resolver> {
        let socket = UdpSocket::bind(addr)?;
        // Lets the loop notice `stop` when no query comes.
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let answers = socket.try_clone()?;
        let resolver = Resolver {
            log: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (log, stop) = (resolver.log.clone(), resolver.stop.clone());
        // Answers leave in arrival order after the same latency, so one thread sends them all.
        let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>, SocketAddr)>();
        std::thread::Builder::new()
            .name("dns-answers".to_owned())
            .spawn(move || {
                for (at, answer, to) in rx {
                    super::link::wait_until(at);
                    let _ = answers.send_to(&answer, to);
                }
            })?;
        std::thread::Builder::new()
            .name("dns".to_owned())
            .spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let at = Instant::now();
                    let Some(question) = Question::parse(&buf[..n]) else {
                        continue;
                    };
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Query {
                            name: question.name.clone(),
                            qtype: question.qtype,
                            at,
                        });
                    let answer = question.answer(&buf[..n], names.get(&question.name).copied());
                    if tx.send((at + latency, answer, from)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(resolver)
    }

    /// The queries since the last call.
    pub fn take(&self) -> Vec<Query> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The one question of a query.
#[derive(Debug)]
struct Question {
    name: String,
    qtype: u16,
    qclass: u16,
    /// Where the question ends in the message.
    end: usize,
}

impl Question {
    /// The first question of a standard query; `None` for anything else.
    fn parse(message: &[u8]) -> Option<Question> {
        let header = message.get(..12)?;
        let is_query = header[2] & 0x80 == 0;
        let questions = u16::from_be_bytes([header[4], header[5]]);
        if !is_query || questions == 0 {
            return None;
        }
        let mut at = 12;
        let mut labels = Vec::new();
        loop {
            let len = usize::from(*message.get(at)?);
            at += 1;
            if len == 0 {
                break;
            }
            // Compression pointers never appear in a question we send ourselves.
            if len > 63 {
                return None;
            }
            labels.push(std::str::from_utf8(message.get(at..at + len)?).ok()?);
            at += len;
        }
        let qtype = u16::from_be_bytes([*message.get(at)?, *message.get(at + 1)?]);
        let qclass = u16::from_be_bytes([*message.get(at + 2)?, *message.get(at + 3)?]);
        Some(Question {
            name: labels.join(".").to_ascii_lowercase(),
            qtype,
            qclass,
            end: at + 4,
        })
    }

    /// The answer to `query` (which holds this question), for a name with `address` (`None`:
    /// no such name).
    fn answer(&self, query: &[u8], address: Option<Ipv4Addr>) -> Vec<u8> {
        let record = match address {
            Some(ip) if self.qtype == TYPE_A && self.qclass == CLASS_IN => Some(ip),
            _ => None,
        };
        let rcode = if address.is_none() { NXDOMAIN } else { 0 };
        // QR, the query's opcode and RD, AA and RA.
        let flags = 0x8000 | (u16::from_be_bytes([query[2], query[3]]) & 0x7900) | 0x0400 | 0x0080;
        let mut out = Vec::with_capacity(self.end + 16);
        out.extend_from_slice(&query[..2]);
        out.extend_from_slice(&(flags | rcode).to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&u16::from(record.is_some()).to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&query[12..self.end]);
        if let Some(ip) = record {
            // A pointer to the question's name, then type, class, TTL 60 s, the address.
            out.extend_from_slice(&[0xc0, 0x0c]);
            out.extend_from_slice(&TYPE_A.to_be_bytes());
            out.extend_from_slice(&CLASS_IN.to_be_bytes());
            out.extend_from_slice(&60u32.to_be_bytes());
            out.extend_from_slice(&4u16.to_be_bytes());
            out.extend_from_slice(&ip.octets());
        }
        out
    }
}

/// The resolver's own check (the bench has no test harness): a query for a known name gets its
/// address, `AAAA` gets no record, an unknown name gets `NXDOMAIN`.
pub fn self_check() -> Result<(), String> {
    let query = |name: &str, qtype: u16| {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    };
    let ip = Ipv4Addr::new(127, 0, 0, 2);
    let a = query("STS.googleapis.com", TYPE_A);
    let question = Question::parse(&a).ok_or("the DNS parser refused an A query")?;
    let answer = question.answer(&a, Some(ip));
    let ok = question.name == "sts.googleapis.com"
        && answer[..2] == [0x12, 0x34]
        && answer[3] & 0x0f == 0
        && answer[6..8] == [0, 1]
        && answer.ends_with(&ip.octets());
    let aaaa = query("sts.googleapis.com", TYPE_AAAA);
    let empty = Question::parse(&aaaa)
        .map(|q| q.answer(&aaaa, Some(ip)))
        .ok_or("the DNS parser refused an AAAA query")?;
    let unknown = query("example.com", TYPE_A);
    let nx = Question::parse(&unknown)
        .map(|q| q.answer(&unknown, None))
        .ok_or("the DNS parser refused a query")?;
    if ok && empty[6..8] == [0, 0] && empty[3] & 0x0f == 0 && nx[3] & 0x0f == 3 {
        Ok(())
    } else {
        Err("the bench's DNS answers are malformed".to_owned())
    }
}
