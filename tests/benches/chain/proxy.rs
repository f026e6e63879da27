//! A counting TCP proxy in front of the emulator: the bench's accounting runs point a client's
//! configuration at it, and it records every TCP connection the client opens and every HTTP/1.1
//! request it sends, in order. That is how round trips per step and connection reuse are
//! measured for every client alike, in-process or not, without touching the client.
//!
//! Responses are followed too, so the proxy knows when each exchange ended. A new connection is
//! *missed reuse* when, as its first request was sent, another open connection to the same
//! service sat idle — used before, nothing in flight, and nothing sent on it within
//! [`CONCURRENT`] either side. Accounting runs add 20 ms to every answer, so requests a client
//! issues together (wif fetches the region and the role concurrently) arrive within
//! microseconds of each other and are never mistaken for a missed reuse, while a client that
//! opens a new connection after finishing with an old one is caught. "The same service" is the
//! real one the emulator stands in for (the metadata service, Google STS and IAM Credentials are
//! different hosts in production, one here), so no client is blamed for a connection it would
//! need outside the emulator.
//!
//! Timing runs go straight to the emulator; the proxy's extra hop is only in accounting runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::report::step_of;

/// Requests sent this close together were issued together.
const CONCURRENT: Duration = Duration::from_millis(5);

/// What clients did through the proxy since the last [`Proxy::take`].
#[derive(Debug, Default, Clone)]
pub struct Log {
    /// TCP connections accepted.
    pub connections: u64,
    /// `(method, path without query)` of every request, in the order they were sent.
    pub requests: Vec<(String, String)>,
    /// The connection (numbered from 1 in accept order) each request came on.
    pub connection_of: Vec<u64>,
    /// When each request had passed the proxy, whole.
    pub sent: Vec<Instant>,
    /// When the emulator's answer to each request had passed the proxy (`None`: not yet).
    pub answered: Vec<Option<Instant>>,
    /// New connections opened while an idle connection to the same service was open: reuse the
    /// client missed (computed by [`Proxy::take`]).
    pub avoidable: u64,
    /// Connections whose traffic could not be followed (not HTTP/1.1 as we know it).
    pub unparsed: u64,
    connection_state: HashMap<u64, Connection>,
    next_id: u64,
}

#[derive(Debug, Clone)]
struct Connection {
    closed: Option<Instant>,
    /// `(service, sent, answered)` of every request, in order.
    exchanges: Vec<(&'static str, Instant, Option<Instant>)>,
    /// The index in [`Log::requests`] of each exchange.
    indices: Vec<usize>,
}

impl Connection {
    fn new() -> Self {
        Connection {
            closed: None,
            exchanges: Vec::new(),
            indices: Vec::new(),
        }
    }

    /// Open, used for `service` before `at`, and quiet around it: no exchange in flight at `at`
    /// and none started within [`CONCURRENT`] of it.
    fn idle_for(&self, service: &str, at: Instant) -> bool {
        let open = self.closed.is_none_or(|closed| closed > at);
        let used_before = self
            .exchanges
            .iter()
            .any(|(s, _, answered)| *s == service && answered.is_some_and(|a| a <= at));
        let quiet = self.exchanges.iter().all(|(_, sent, answered)| {
            let near = sent.max(&at).duration_since(*sent.min(&at)) <= CONCURRENT;
            let in_flight = *sent <= at && answered.is_none_or(|a| a > at);
            !near && !in_flight
        });
        open && used_before && quiet
    }
}

/// The production service a request is for.
fn service(method: &str, path: &str) -> &'static str {
    match step_of(method, path) {
        "IMDS token" | "region" | "role" | "role creds" => "aws-metadata",
        "STS" => "sts.googleapis.com",
        "IAM" => "iamcredentials.googleapis.com",
        _ => "other",
    }
}

impl Log {
    fn request(&mut self, id: u64, method: String, path: String, at: Instant) {
        let service = service(&method, &path);
        let index = self.requests.len();
        let connection = self
            .connection_state
            .entry(id)
            .or_insert_with(Connection::new);
        connection.exchanges.push((service, at, None));
        connection.indices.push(index);
        self.requests.push((method, path));
        self.connection_of.push(id);
        self.sent.push(at);
        self.answered.push(None);
    }

    fn response(&mut self, id: u64, at: Instant) {
        if let Some(c) = self.connection_state.get_mut(&id)
            && let Some(i) = c.exchanges.iter().position(|(_, _, a)| a.is_none())
        {
            c.exchanges[i].2 = Some(at);
            // Requests sent before the last take() are not in this log.
            if let Some(slot) = c.indices.get(i).and_then(|&n| self.answered.get_mut(n)) {
                *slot = Some(at);
            }
        }
    }

    /// When the last answer to a request of `step` (see [`step_of`]) passed the proxy.
    pub fn last_answer(&self, step: &str) -> Option<Instant> {
        self.requests
            .iter()
            .zip(&self.answered)
            .filter(|((m, p), _)| step_of(m, p) == step)
            .filter_map(|(_, at)| *at)
            .max()
    }

    fn accepted(&mut self, id: u64) {
        self.connection_state.insert(id, Connection::new());
    }

    fn closed(&mut self, id: u64) {
        if let Some(c) = self.connection_state.get_mut(&id) {
            c.closed.get_or_insert_with(Instant::now);
        }
    }

    /// Counts the connections whose first request could have gone on an idle one.
    fn count_missed_reuse(&mut self) {
        let firsts: Vec<(u64, &'static str, Instant)> = self
            .connection_state
            .iter()
            .filter_map(|(id, c)| c.exchanges.first().map(|(s, sent, _)| (*id, *s, *sent)))
            .collect();
        self.avoidable = firsts
            .iter()
            .filter(|(id, service, sent)| {
                self.connection_state
                    .iter()
                    .any(|(other, c)| other != id && c.idle_for(service, *sent))
            })
            .count() as u64;
    }
}

/// A loopback listener served on a thread of its own until dropped: an in-process client
/// keeping the bench's runtime busy never delays an accept (which would blur when a connection
/// was opened). The counting proxy and the real-network run's TLS endpoint are both one.
pub struct LoopbackServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl LoopbackServer {
    /// Listens on a free loopback port, on a thread named `name`; each accepted connection is
    /// handed to `serve`, in order of acceptance, and what it returns runs as a task of its own.
    pub fn start<S, F>(name: &str, mut serve: S) -> std::io::Result<LoopbackServer>
    where
        S: FnMut(TcpStream) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let std_listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(std_listener) else {
                        return;
                    };
                    let accept = async {
                        while let Ok((client, _)) = listener.accept().await {
                            tokio::spawn(serve(client));
                        }
                    };
                    tokio::select! {
                        () = accept => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(LoopbackServer {
            addr,
            stop: Some(stop),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A running proxy; dropping it stops accepting.
pub struct Proxy {
    server: LoopbackServer,
    log: Arc<Mutex<Log>>,
}

impl Proxy {
    /// Listens on a free loopback port and relays every connection to `upstream`, on a thread
    /// of its own (see [`LoopbackServer`]).
    pub fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        let log = Arc::new(Mutex::new(Log::default()));
        let accept_log = log.clone();
        let server = LoopbackServer::start("bench-proxy", move |client| {
            let id = {
                let mut log = lock(&accept_log);
                log.connections += 1;
                log.next_id += 1;
                let id = log.next_id;
                log.accepted(id);
                id
            };
            relay(client, upstream, id, accept_log.clone())
        })?;
        Ok(Proxy { server, log })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The log so far, with missed reuse counted; the proxy starts a new one.
    pub fn take(&self) -> Log {
        let mut log = lock(&self.log);
        let next_id = log.next_id;
        let mut taken = std::mem::take(&mut *log);
        // Ids keep growing, so a new run's connections never collide with an old one's.
        log.next_id = next_id;
        drop(log);
        taken.count_missed_reuse();
        taken
    }
}

fn lock(log: &Mutex<Log>) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn relay(client: TcpStream, upstream: SocketAddr, id: u64, log: Arc<Mutex<Log>>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        lock(&log).closed(id);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let (mut request_parser, mut response_parser) = MessageParser::pair();
    let requests = async {
        let parser = &mut request_parser;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Recorded before forwarding: the log order is the order the client sent them.
            let broken_before = parser.broken;
            let heads = parser.feed(&buf[..n]);
            {
                let mut log = lock(&log);
                for head in heads {
                    log.request(id, head.method, head.path, Instant::now());
                }
                if parser.broken && !broken_before {
                    log.unparsed += 1;
                }
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let responses = async {
        let parser = &mut response_parser;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let done = parser.feed(&buf[..n]).len();
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            // Idle once the client has the whole response.
            if done > 0 {
                let mut log = lock(&log);
                for _ in 0..done {
                    log.response(id, Instant::now());
                }
            }
        }
        lock(&log).closed(id);
        let _ = client_write.shutdown().await;
    };
    tokio::join!(requests, responses);
    lock(&log).closed(id);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

/// Follows the messages of one direction of a connection: heads are read, bodies
/// (`Content-Length` or chunked) skipped. Interim (1xx) responses are skipped; a response
/// delimited by the connection's close never completes. Gives up on anything else rather than
/// guess. The two directions of a connection share which requests were `HEAD`s, whose answers
/// have a length but no body (wif opens a connection ahead with one).
#[derive(Debug)]
struct MessageParser {
    direction: Direction,
    buf: Vec<u8>,
    broken: bool,
    heads: Arc<Mutex<std::collections::VecDeque<bool>>>,
}

/// Heads longer than this are not HTTP we understand.
const MAX_HEAD: usize = 64 * 1024;

impl MessageParser {
    /// The parsers of both directions of one connection.
    fn pair() -> (MessageParser, MessageParser) {
        let heads = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let parser = |direction| MessageParser {
            direction,
            buf: Vec::new(),
            broken: false,
            heads: heads.clone(),
        };
        (parser(Direction::Request), parser(Direction::Response))
    }

    /// The heads of the messages completed by `data`.
    fn feed(&mut self, data: &[u8]) -> Vec<Head> {
        let mut out = Vec::new();
        if self.broken {
            return out;
        }
        self.buf.extend_from_slice(data);
        loop {
            let Some(head_end) = find(&self.buf, b"\r\n\r\n") else {
                self.broken = self.buf.len() > MAX_HEAD;
                return out;
            };
            let Some(mut head) = Head::parse(&self.buf[..head_end], self.direction) else {
                self.broken = true;
                return out;
            };
            // The answer to a HEAD: a length, no body. (Requests are queued when complete; a
            // server answers only after that.)
            if self.direction == Direction::Response
                && !head.interim
                && lock_queue(&self.heads).front() == Some(&true)
            {
                head.body = Body::None;
            }
            let body_start = head_end + 4;
            let body_len = match head.body {
                Body::None => 0,
                Body::Length(n) => n,
                Body::Chunked => match chunked_len(&self.buf[body_start..]) {
                    Some(len) => len,
                    None => return out, // wait for the rest of the body
                },
                Body::UntilClose => {
                    self.broken = true;
                    return out;
                }
            };
            if self.buf.len() < body_start + body_len {
                return out;
            }
            self.buf.drain(..body_start + body_len);
            match self.direction {
                Direction::Request => lock_queue(&self.heads).push_back(head.method == "HEAD"),
                Direction::Response if !head.interim => {
                    lock_queue(&self.heads).pop_front();
                }
                Direction::Response => {}
            }
            if !head.interim {
                out.push(head);
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Body {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

#[derive(Debug)]
struct Head {
    method: String,
    path: String,
    interim: bool,
    body: Body,
}

impl Head {
    fn parse(bytes: &[u8], direction: Direction) -> Option<Head> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let mut head = Head {
            method: String::new(),
            path: String::new(),
            interim: false,
            body: Body::None,
        };
        let mut no_body = false;
        match direction {
            Direction::Request => {
                head.method = first.next()?.to_owned();
                let target = first.next()?;
                head.path = target.split('?').next().unwrap_or(target).to_owned();
            }
            Direction::Response => {
                let _version = first.next()?;
                let status: u16 = first.next()?.parse().ok()?;
                head.interim = (100..200).contains(&status);
                no_body = head.interim || status == 204 || status == 304;
                head.body = Body::UntilClose;
            }
        }
        for line in lines {
            let (name, value) = line.split_once(':')?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                head.body = Body::Length(value.parse().ok()?);
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                head.body = Body::Chunked;
            }
        }
        if no_body {
            head.body = Body::None;
        }
        Some(head)
    }
}

fn lock_queue<T>(queue: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The length of a complete chunked body at the start of `bytes` (trailers included), or `None`
/// if it is not all there yet.
fn chunked_len(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = at + find(&bytes[at..], b"\r\n")?;
        let size_text = std::str::from_utf8(&bytes[at..line_end]).ok()?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let end = at + find(&bytes[at..], b"\r\n")?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some(at);
                }
            }
        }
        at += size + 2;
        if bytes.len() < at {
            return None;
        }
    }
}

/// The parsers' own check, run at the start of every bench run (a `harness = false` target has
/// no test harness): keep-alive messages with length-delimited, chunked and empty bodies, and a
/// `HEAD` whose answer has a length but no body, fed one byte at a time, come out in order.
pub fn self_check() -> Result<(), String> {
    let requests = b"PUT /latest/api/token HTTP/1.1\r\nx-aws-ec2-metadata-token-ttl-seconds: 300\r\n\r\n\
HEAD / HTTP/1.1\r\n\r\n\
POST /v1/token HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello\
POST /v1/x:generateAccessToken?alt=json HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let responses = b"HTTP/1.1 100 Continue\r\n\r\n\
HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc\
HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\n\
HTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    let (mut parser, mut response_parser) = MessageParser::pair();
    let mut seen = Vec::new();
    for b in requests.iter() {
        seen.extend(
            parser
                .feed(std::slice::from_ref(b))
                .into_iter()
                .map(|h| (h.method, h.path)),
        );
    }
    let expected: Vec<(String, String)> = [
        ("PUT", "/latest/api/token"),
        ("HEAD", "/"),
        ("POST", "/v1/token"),
        ("POST", "/v1/x:generateAccessToken"),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    if seen != expected || parser.broken {
        return Err(format!("the proxy's request parser is broken: {seen:?}"));
    }
    let parser = &mut response_parser;
    let mut done = 0;
    for b in responses.iter() {
        done += parser.feed(std::slice::from_ref(b)).len();
    }
    if done != 4 || parser.broken {
        return Err(format!(
            "the proxy's response parser is broken: {done} responses"
        ));
    }
    reuse_check()
}

/// Missed reuse is counted for a client that opens a second connection after finishing with
/// the first, and not for one that sends two requests at once.
fn reuse_check() -> Result<(), String> {
    let ms = Duration::from_millis;
    let t = Instant::now();
    let region = || {
        (
            "GET".to_owned(),
            "/latest/meta-data/placement/region".to_owned(),
        )
    };
    let scenario = |second_sent: Duration, second_service: (String, String)| {
        let mut log = Log::default();
        log.accepted(1);
        log.request(1, "PUT".into(), "/latest/api/token".into(), t);
        log.response(1, t + ms(20));
        // Concurrent: the next request on the first connection goes out with the second's.
        log.request(
            1,
            region().0,
            region().1,
            t + ms(20) + Duration::from_micros(50),
        );
        log.response(1, t + ms(41));
        log.accepted(2);
        log.request(2, second_service.0, second_service.1, t + second_sent);
        log.response(2, t + second_sent + ms(20));
        log.count_missed_reuse();
        log.avoidable
    };
    let role = (
        "GET".to_owned(),
        "/latest/meta-data/iam/security-credentials".to_owned(),
    );
    let sts = ("POST".to_owned(), "/v1/token".to_owned());
    let cases = [
        (
            "concurrent",
            scenario(ms(20) + Duration::from_micros(60), role.clone()),
            0,
        ),
        ("after the first was done", scenario(ms(60), role), 1),
        ("another service", scenario(ms(60), sts), 0),
    ];
    for (what, got, want) in cases {
        if got != want {
            return Err(format!(
                "missed-reuse accounting is wrong ({what}): {got}, expected {want}"
            ));
        }
    }
    Ok(())
}
