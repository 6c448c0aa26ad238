//! Signed Slack slash commands against a server, and its start-up time.
//!
//!   loadgen rate     --url URL --response-url URL [--rate 1000] [--duration 20]
//!                    [--warmup 2] [--max-conns 256] [--timeout-ms 3000]
//!       open loop: request i is due at start + i/rate whatever the server does;
//!       latency runs from when it was due (so a stalled server's queue counts),
//!       over keep-alive connections taken from a pool that grows as needed.
//!   loadgen saturate --url URL --response-url URL [--connections 32] [--duration 10]
//!                    [--timeout-ms 3000]
//!       closed loop: each connection sends its next request when the last is answered.
//!   loadgen one      --url URL --response-url URL
//!       one request; prints its status and body.
//!   loadgen startup  --url URL [--runs 20] [--cpus LIST] [--log FILE] -- CMD ARGS...
//!       runs CMD `runs` times; each time, the time from exec to the first 200 of a
//!       GET to URL (polled every 0.2 ms), then SIGTERM.
//!   loadgen wait     --url URL [--timeout-ms 30000]
//!       waits for a 200 from a GET to URL.
//!   loadgen get      --url URL
//!       prints the body of a GET to URL.
//!   loadgen free-port
//!       prints a TCP port free on 127.0.0.1 just now.
//!
//! The signing secret is SLACK_SIGNING_SECRET. Every result is one JSON object on
//! stdout; latencies are in milliseconds. An error is a transport failure, a
//! status other than 200, or no answer within the timeout (Slack's own 3 s). A 200
//! with a body ("acks_with_body") is counted apart: the bot's "busy" answer is one.

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use workbench_bot_bench::{sign, unix_now};

// ---------------------------------------------------------------- arguments

struct Args {
    flags: Vec<(String, String)>,
    rest: Vec<String>,
}

impl Args {
    fn parse(raw: &[String]) -> Args {
        let mut flags = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == "--" {
                return Args {
                    flags,
                    rest: raw[i + 1..].to_vec(),
                };
            }
            let Some(name) = raw[i].strip_prefix("--") else {
                die(&format!("unexpected argument {}", raw[i]));
            };
            let Some(value) = raw.get(i + 1) else {
                die(&format!("--{name} needs a value"));
            };
            flags.push((name.to_string(), value.clone()));
            i += 2;
        }
        Args {
            flags,
            rest: Vec::new(),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn need(&self, name: &str) -> &str {
        self.get(name)
            .unwrap_or_else(|| die(&format!("--{name} is required")))
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| die(&format!("--{name} must be a number, not {v}"))),
        }
    }
}

fn die(msg: &str) -> ! {
    eprintln!("loadgen: {msg}");
    std::process::exit(2)
}

/// `http://host:port/path` → (address, host header, path).
fn split_url(url: &str) -> (SocketAddr, String, String) {
    let Some(rest) = url.strip_prefix("http://") else {
        die(&format!("only http:// URLs: {url}"));
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = host
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| die(&format!("cannot resolve {host}")));
    (addr, host.to_string(), path.to_string())
}

// ------------------------------------------------------------------ requests

/// The form Slack posts for `/notebook status foo`, with the field set the
/// bot's API tests send (tests/api/helpers.rs, `command_form`).
fn command_body(response_url: &str) -> Bytes {
    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("token", "legacy-token-unused"),
            ("team_id", "T0123ABCD"),
            ("team_domain", "example"),
            ("channel_id", "C0CHANNEL"),
            ("channel_name", "research"),
            ("user_id", "U01AAAAAAAA"),
            ("user_name", "someone"),
            ("command", "/notebook"),
            ("text", "status foo"),
            ("api_app_id", "A0OURAPP"),
            ("is_enterprise_install", "false"),
            ("response_url", response_url),
            ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
        ])
        .finish();
    Bytes::from(form)
}

/// Builds signed requests; signs again when the second changes.
#[derive(Clone)]
struct Signer {
    secret: Arc<Vec<u8>>,
    host: String,
    path: String,
    body: Bytes,
    cached: Arc<Mutex<(i64, String)>>,
}

impl Signer {
    fn new(url: &str, response_url: &str) -> (Signer, SocketAddr) {
        let secret = std::env::var("SLACK_SIGNING_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| die("set SLACK_SIGNING_SECRET"));
        let (addr, host, path) = split_url(url);
        let signer = Signer {
            secret: Arc::new(secret.into_bytes()),
            host,
            path,
            body: command_body(response_url),
            cached: Arc::new(Mutex::new((0, String::new()))),
        };
        (signer, addr)
    }

    fn request(&self) -> hyper::Request<Full<Bytes>> {
        let ts = unix_now();
        let sig = {
            let mut c = self.cached.lock().unwrap();
            if c.0 != ts {
                *c = (ts, sign(&self.secret, ts, &self.body));
            }
            c.1.clone()
        };
        hyper::Request::post(self.path.as_str())
            .header("host", self.host.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sig)
            .body(Full::new(self.body.clone()))
            .expect("a valid request")
    }
}

type Conn = SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Conn, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// How one request ended.
enum Outcome {
    /// 200; `true` when the ack carried a body.
    Ok(bool),
    Status(u16),
    Transport,
}

async fn send(conn: &mut Conn, signer: &Signer) -> Outcome {
    if conn.ready().await.is_err() {
        return Outcome::Transport;
    }
    let resp = match conn.send_request(signer.request()).await {
        Ok(r) => r,
        Err(_) => return Outcome::Transport,
    };
    let status = resp.status().as_u16();
    let body = match resp.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Outcome::Transport,
    };
    if status == 200 {
        Outcome::Ok(!body.is_empty())
    } else {
        Outcome::Status(status)
    }
}

// ------------------------------------------------------------------- results

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    with_body: AtomicU64,
    status: AtomicU64,
    transport: AtomicU64,
    timeout: AtomicU64,
    /// Every 200, warm-up included: the answers the server should post.
    acked_total: AtomicU64,
    /// The last status other than 200, to say what went wrong.
    last_status: AtomicU64,
}

impl Counts {
    fn count(&self, outcome: &Outcome, measured: bool) {
        if let Outcome::Ok(body) = outcome {
            self.acked_total.fetch_add(1, Ordering::Relaxed);
            if *body {
                self.with_body.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Outcome::Status(code) = outcome {
            self.last_status.store(u64::from(*code), Ordering::Relaxed);
        }
        if !measured {
            return;
        }
        match outcome {
            Outcome::Ok(_) => &self.ok,
            Outcome::Status(_) => &self.status,
            Outcome::Transport => &self.transport,
        }
        .fetch_add(1, Ordering::Relaxed);
    }
}

/// CPU time this process has used so far (user + system), in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn new_histogram() -> Histogram<u64> {
    // Microseconds, 1 µs to 100 s, 3 significant figures.
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid bounds")
}

fn ms(us: u64) -> f64 {
    (us as f64 / 1000.0 * 1000.0).round() / 1000.0
}

fn summary(mode: &str, h: &Histogram<u64>, c: &Counts, seconds: f64, extra: Value) -> Value {
    let ok = c.ok.load(Ordering::Relaxed);
    let errors = c.status.load(Ordering::Relaxed)
        + c.transport.load(Ordering::Relaxed)
        + c.timeout.load(Ordering::Relaxed);
    let q = |p: f64| {
        if h.is_empty() {
            Value::Null
        } else {
            json!(ms(h.value_at_quantile(p)))
        }
    };
    let mut v = json!({
        "mode": mode,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "ok": ok,
        "throughput_rps": ((ok as f64 / seconds) * 10.0).round() / 10.0,
        "errors": errors,
        "errors_by_kind": {
            "status": c.status.load(Ordering::Relaxed),
            "transport": c.transport.load(Ordering::Relaxed),
            "timeout": c.timeout.load(Ordering::Relaxed),
            "last_status": c.last_status.load(Ordering::Relaxed),
        },
        "acks_with_body": c.with_body.load(Ordering::Relaxed),
        "acked_total": c.acked_total.load(Ordering::Relaxed),
        "p50_ms": q(0.50),
        "p90_ms": q(0.90),
        "p99_ms": q(0.99),
        "p999_ms": q(0.999),
        "max_ms": if h.is_empty() { Value::Null } else { json!(ms(h.max())) },
        "mean_ms": if h.is_empty() { Value::Null } else { json!((h.mean()).round() / 1000.0) },
    });
    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
        v.extend(extra);
    }
    v
}

// ---------------------------------------------------------------- open loop

struct Open {
    addr: SocketAddr,
    signer: Signer,
    pool: Mutex<Vec<Conn>>,
    slots: Semaphore,
    opened: AtomicU64,
    hist: Mutex<Histogram<u64>>,
    counts: Counts,
    timeout: Duration,
    measure_from: Instant,
    last_done: Mutex<Instant>,
}

/// Request due at `due`: takes a pooled connection (or opens one while fewer than
/// max-conns are in use), sends, and records the time since `due`.
async fn one_due(o: Arc<Open>, due: Instant) {
    let measured = due >= o.measure_from;
    let work = async {
        let _slot = o.slots.acquire().await.expect("never closed");
        let pooled = o.pool.lock().unwrap().pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => match connect(o.addr).await {
                Ok(c) => {
                    o.opened.fetch_add(1, Ordering::Relaxed);
                    c
                }
                Err(_) => return Outcome::Transport,
            },
        };
        let outcome = send(&mut conn, &o.signer).await;
        if matches!(outcome, Outcome::Ok(_) | Outcome::Status(_)) {
            o.pool.lock().unwrap().push(conn);
        }
        outcome
    };
    // Slack gives up 3 s after it sent the request; so do we.
    let outcome = tokio::time::timeout_at((due + o.timeout).into(), work).await;
    let done = Instant::now();
    match outcome {
        Ok(outcome) => {
            if measured && matches!(outcome, Outcome::Ok(_)) {
                let us = done.saturating_duration_since(due).as_micros() as u64;
                let _ = o.hist.lock().unwrap().record(us.max(1));
            }
            o.counts.count(&outcome, measured);
        }
        Err(_) => {
            if measured {
                o.counts.timeout.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if measured {
        let mut last = o.last_done.lock().unwrap();
        if done > *last {
            *last = done;
        }
    }
}

fn rate(args: &Args) {
    let (signer, addr) = Signer::new(args.need("url"), args.need("response-url"));
    let rate: f64 = args.num("rate", 1000.0);
    let duration: f64 = args.num("duration", 20.0);
    let warmup: f64 = args.num("warmup", 2.0);
    let max_conns: usize = args.num("max-conns", 256);
    let timeout = Duration::from_millis(args.num("timeout-ms", 3000));
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + Duration::from_secs_f64(warmup);
    let o = Arc::new(Open {
        addr,
        signer,
        pool: Mutex::new(Vec::new()),
        slots: Semaphore::new(max_conns),
        opened: AtomicU64::new(0),
        hist: Mutex::new(new_histogram()),
        counts: Counts::default(),
        timeout,
        measure_from,
        last_done: Mutex::new(measure_from),
    });
    let cpu_at_start = cpu_seconds();
    let total = ((warmup + duration) * rate).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    // The schedule runs on its own thread with the OS's fine-grained sleep: the
    // runtime's timer wheel would round every due time up to the millisecond.
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        tasks.push(rt.spawn(one_due(o.clone(), due)));
    }
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    let end = *o.last_done.lock().unwrap();
    let seconds = end.duration_since(measure_from).as_secs_f64().max(duration);
    let h = o.hist.lock().unwrap();
    let out = summary(
        "rate",
        &h,
        &o.counts,
        seconds,
        json!({
            "offered_rps": rate,
            "duration_s": duration,
            "warmup_s": warmup,
            "sent": (duration * rate).round() as u64,
            "connections_opened": o.opened.load(Ordering::Relaxed),
            "max_conns": max_conns,
            "loadgen_cpu_s": ((cpu_seconds() - cpu_at_start) * 1000.0).round() / 1000.0,
        }),
    );
    println!("{out}");
}

// -------------------------------------------------------------- closed loop

fn saturate(args: &Args) {
    let (signer, addr) = Signer::new(args.need("url"), args.need("response-url"));
    let connections: usize = args.num("connections", 32);
    let duration = Duration::from_secs_f64(args.num("duration", 10.0));
    let timeout = Duration::from_millis(args.num("timeout-ms", 3000));
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let counts = Arc::new(Counts::default());
    let cpu_at_start = cpu_seconds();
    let (h, seconds) = rt.block_on(async {
        // Connect every connection first, so the clock starts on a full load.
        let mut conns = Vec::with_capacity(connections);
        for _ in 0..connections {
            match connect(addr).await {
                Ok(c) => conns.push(Some(c)),
                Err(_) => conns.push(None),
            }
        }
        let start = Instant::now();
        let end = start + duration;
        let mut workers = Vec::new();
        for conn in conns {
            let signer = signer.clone();
            let counts = counts.clone();
            workers.push(tokio::spawn(async move {
                let mut h = new_histogram();
                let mut conn = conn;
                while Instant::now() < end {
                    let c = match conn.take() {
                        Some(c) => Some(c),
                        None => connect(addr).await.ok(),
                    };
                    let Some(mut c) = c else {
                        counts.transport.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let sent = Instant::now();
                    match tokio::time::timeout(timeout, send(&mut c, &signer)).await {
                        Ok(outcome) => {
                            if matches!(outcome, Outcome::Ok(_)) {
                                let us = sent.elapsed().as_micros() as u64;
                                let _ = h.record(us.max(1));
                            }
                            if matches!(outcome, Outcome::Ok(_) | Outcome::Status(_)) {
                                conn = Some(c);
                            }
                            counts.count(&outcome, true);
                        }
                        Err(_) => {
                            counts.timeout.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                h
            }));
        }
        let mut all = new_histogram();
        for w in workers {
            if let Ok(h) = w.await {
                all.add(&h).expect("same bounds");
            }
        }
        (all, start.elapsed().as_secs_f64())
    });
    let out = summary(
        "saturate",
        &h,
        &counts,
        seconds,
        json!({
            "connections": connections,
            "duration_s": duration.as_secs_f64(),
            "loadgen_cpu_s": ((cpu_seconds() - cpu_at_start) * 1000.0).round() / 1000.0,
        }),
    );
    println!("{out}");
}

fn one(args: &Args) {
    let (signer, addr) = Signer::new(args.need("url"), args.need("response-url"));
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let out = rt.block_on(async {
        let mut conn = connect(addr).await?;
        conn.ready().await.map_err(|e| e.to_string())?;
        let resp = conn
            .send_request(signer.request())
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>(json!({
            "status": status,
            "body": String::from_utf8_lossy(&body),
        }))
    });
    match out {
        Ok(v) => println!("{v}"),
        Err(e) => {
            println!("{}", json!({ "status": null, "error": e }));
            std::process::exit(1)
        }
    }
}

// ------------------------------------------------------------------ start-up

/// One blocking GET; `Some(body)` on a 200.
fn get_once(addr: SocketAddr, host: &str, path: &str) -> Option<String> {
    let mut s = StdTcpStream::connect(addr).ok()?;
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    if !(text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200")) {
        return None;
    }
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Some(body.to_string())
}

fn cpu_list(spec: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) else {
            die(&format!("--cpus: not a CPU list: {spec}"));
        };
        cpus.extend(a..=b);
    }
    cpus
}

fn startup(args: &Args) {
    use std::os::unix::process::CommandExt;
    let (addr, host, path) = split_url(args.need("url"));
    let runs: usize = args.num("runs", 20);
    let cpus = args.get("cpus").map(cpu_list);
    let Some((program, program_args)) = args.rest.split_first() else {
        die("startup needs -- CMD ARGS...");
    };
    let log = args.get("log");
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let mut cmd = Command::new(program);
        cmd.args(program_args).stdin(Stdio::null());
        match log {
            Some(path) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap_or_else(|e| die(&format!("{path}: {e}")));
                cmd.stdout(f.try_clone().expect("dup"));
                cmd.stderr(f);
            }
            None => {
                cmd.stdout(Stdio::null());
                cmd.stderr(Stdio::null());
            }
        }
        if let Some(cpus) = cpus.clone() {
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    for &c in &cpus {
                        libc::CPU_SET(c, &mut set);
                    }
                    if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let t0 = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| die(&format!("cannot run {program}: {e}")));
        let elapsed = loop {
            if get_once(addr, &host, &path).is_some() {
                break t0.elapsed();
            }
            if let Ok(Some(status)) = child.try_wait() {
                die(&format!(
                    "run {run}: {program} exited ({status}) before answering"
                ));
            }
            if t0.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                die(&format!("run {run}: no 200 from {path} within 60 s"));
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        times.push(elapsed.as_secs_f64() * 1000.0);
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                _ if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    let r = |x: f64| (x * 1000.0).round() / 1000.0;
    println!(
        "{}",
        json!({
            "mode": "startup",
            "runs": n,
            "median_ms": r(median),
            "min_ms": r(sorted[0]),
            "max_ms": r(sorted[n - 1]),
            "runs_ms": times.iter().map(|t| r(*t)).collect::<Vec<_>>(),
        })
    );
}

fn wait(args: &Args) {
    let (addr, host, path) = split_url(args.need("url"));
    let deadline = Instant::now() + Duration::from_millis(args.num("timeout-ms", 30_000));
    while Instant::now() < deadline {
        if get_once(addr, &host, &path).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    die(&format!("no 200 from {} in time", args.need("url")));
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((mode, rest)) = raw.split_first() else {
        die("usage: loadgen (rate|saturate|one|startup|wait|get|free-port) [--flag value]...");
    };
    let args = Args::parse(rest);
    match mode.as_str() {
        "rate" => rate(&args),
        "saturate" => saturate(&args),
        "one" => one(&args),
        "startup" => startup(&args),
        "wait" => wait(&args),
        "get" => {
            let (addr, host, path) = split_url(args.need("url"));
            match get_once(addr, &host, &path) {
                Some(body) => println!("{body}"),
                None => die(&format!("no 200 from {}", args.need("url"))),
            }
        }
        "free-port" => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            println!("{}", l.local_addr().expect("an address").port());
        }
        other => die(&format!("unknown mode {other}")),
    }
}
