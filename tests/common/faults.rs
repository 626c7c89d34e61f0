//! A fault-injecting proxy between our tool and a real registry, on 127.0.0.1 only: it forwards
//! every request to the registry (one connection per request: it rewrites `Connection: close`
//! so that each request is seen and judged), except the ones a [`Fault`] matches, which it
//! answers with an error status, cuts short, resets or stalls. TLS probes (our tool tries
//! HTTPS first on loopback) are closed at once, so the tool falls back to plain HTTP as it does
//! for the registry itself. Each request is logged with its method, path, Content-Length and
//! the scheme of its `Authorization` header (never the credential itself).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to do to the requests whose method is `method` and whose path contains `path` (or, when
/// `path` ends in `$`, is exactly `path` without it).
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: &'static str,
    pub path: &'static str,
    /// How many matching requests to spoil (then the rest pass); `usize::MAX` for all.
    pub times: usize,
    pub kind: Kind,
}

#[derive(Clone, Debug)]
pub enum Kind {
    /// Answer this status with an empty body.
    Status(u16),
    /// Forward the request, then pass on only this many bytes of the response and close.
    Truncate(usize),
    /// Forward the head and this many bytes of the request body, then close both sides
    /// (a connection reset in the middle of an upload).
    ResetUpload(usize),
    /// Never answer (hold the connection open until the client gives up).
    Stall,
    /// Answer 200 with a body of zeros made as it is sent (never held in memory): `Some(n)`
    /// claims and sends `n` bytes, `None` claims no length and streams until the client
    /// hangs up (a body longer than any cap).
    Oversized(Option<u64>),
    /// Answer 200 claiming a 1000-byte JSON body, then send it one byte per this interval.
    Trickle(Duration),
    /// Answer 429 with this `Retry-After` value.
    RetryAfter(String),
    /// Answer 429 with a `Retry-After` HTTP date this many seconds from now.
    RetryAfterDate(u64),
    /// Answer 401 with a Bearer challenge whose realm is this proxy's own `/token` (to put a
    /// fault on the token service too).
    Challenge,
    /// Answer 401 with a Bearer challenge naming this realm (a token service elsewhere).
    ChallengeTo(String),
    /// A request whose body is larger than this many bytes is answered `413 Payload Too
    /// Large` at once, as nginx's `client_max_body_size` does, its body then read to its end;
    /// smaller ones pass, unspoiled.
    TooLarge(u64),
    /// Forward the request, then flip a bit of the answer's first body byte (same length).
    Corrupt,
    /// Forward the request, then rewrite the answer's `Location` to this other address
    /// (`127.0.0.1:PORT`, as an absolute URL): an upload session on another host.
    LocationVia(String),
}

pub struct FaultProxy {
    pub addr: String,
    faults: Arc<Mutex<Vec<Fault>>>,
    /// How many requests were spoiled so far.
    pub spoiled: Arc<AtomicUsize>,
    /// Every request seen: when, its method and path, and whether it was spoiled.
    pub log: Arc<Mutex<Vec<Seen>>>,
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub spoiled: bool,
    /// The request's Content-Length, when it had one.
    pub content_length: Option<u64>,
    /// The scheme of its `Authorization` header (`Basic`, `Bearer`), when it had one.
    pub authorization: Option<String>,
}

impl FaultProxy {
    /// Starts a proxy in front of the registry at `upstream` (`127.0.0.1:PORT`); it lives as
    /// long as the test process.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let faults: Arc<Mutex<Vec<Fault>>> = Arc::default();
        let spoiled: Arc<AtomicUsize> = Arc::default();
        let log: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (f, s, l, up) = (
            faults.clone(),
            spoiled.clone(),
            log.clone(),
            upstream.to_string(),
        );
        let me = addr.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (f, s, l, up, me) = (f.clone(), s.clone(), l.clone(), up.clone(), me.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &up, &me, &f, &s, &l);
                });
            }
        });
        FaultProxy {
            addr,
            faults,
            spoiled,
            log,
        }
    }

    /// Replaces the faults (an empty list forwards everything).
    pub fn set(&self, faults: Vec<Fault>) {
        *self.faults.lock().unwrap() = faults;
        self.spoiled.store(0, Ordering::SeqCst);
        self.log.lock().unwrap().clear();
    }

    /// The requests seen since the last [`FaultProxy::set`].
    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

/// Reads the request head (up to the blank line), byte by byte so nothing of the body is taken.
fn read_head(c: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if c.read(&mut b)? == 0 || head.len() > 64 << 10 {
            return Ok(None);
        }
        if head.is_empty() && b[0] == 0x16 {
            // A TLS ClientHello: this proxy speaks plain HTTP only.
            return Ok(None);
        }
        head.push(b[0]);
    }
    Ok(Some(head))
}

/// The head with `Connection: close` (one request per connection).
fn closing(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:") || lower.starts_with("keep-alive:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

/// The value of header `name` in a request head.
fn header(head: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(head).split("\r\n").find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn matches(f: &Fault, method: &str, path: &str, length: Option<u64>) -> bool {
    let too_large = match f.kind {
        Kind::TooLarge(limit) => length.is_some_and(|n| n > limit),
        _ => true,
    };
    f.method == method
        && f.times > 0
        && too_large
        && match f.path.strip_suffix('$') {
            Some(exact) => path == exact,
            None => path.contains(f.path),
        }
}

/// An answer head with its `Location` (relative, or absolute on the registry) moved to `other`.
fn relocated(head: &[u8], other: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        match line.split_once(':') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("location") => {
                let v = v.trim();
                let path = match v.strip_prefix("http://") {
                    Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
                    None => v,
                };
                out.push_str(&format!("Location: http://{other}{path}\r\n"));
            }
            _ => {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Sends `len` zeros (or, for `None`, zeros until the client hangs up), made as they are sent.
fn zeros(client: &mut TcpStream, len: Option<u64>) -> std::io::Result<()> {
    let buf = [0u8; 64 << 10];
    let mut left = len.unwrap_or(u64::MAX);
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        client.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    me: &str,
    faults: &Mutex<Vec<Fault>>,
    spoiled: &AtomicUsize,
    log: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let Some(head) = read_head(&mut client)? else {
        return Ok(());
    };
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let mut parts = line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let content_length = header(&head, "content-length").and_then(|v| v.parse::<u64>().ok());
    let authorization =
        header(&head, "authorization").map(|v| v.split(' ').next().unwrap_or("").to_string());
    let fault = {
        let mut fs = faults.lock().unwrap();
        fs.iter_mut()
            .find(|f| matches(f, method, path, content_length))
            .map(|f| {
                f.times = f.times.saturating_sub(1);
                f.kind.clone()
            })
    };
    if fault.is_some() {
        spoiled.fetch_add(1, Ordering::SeqCst);
    }
    log.lock().unwrap().push(Seen {
        at: Instant::now(),
        method: method.to_string(),
        path: path.to_string(),
        spoiled: fault.is_some(),
        content_length,
        authorization,
    });
    let head_only = |status: &str, extra: &str| {
        format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n")
    };
    match fault {
        Some(Kind::Oversized(len)) => {
            let length = len.map_or(String::new(), |n| format!("Content-Length: {n}\r\n"));
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\
                 {length}Connection: close\r\n\r\n"
            );
            client.write_all(head.as_bytes())?;
            return zeros(&mut client, len);
        }
        Some(Kind::Trickle(every)) => {
            client.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n\
                  Content-Length: 1000\r\nConnection: close\r\n\r\n",
            )?;
            for _ in 0..1000 {
                client.write_all(b" ")?;
                std::thread::sleep(every);
            }
            return Ok(());
        }
        Some(Kind::RetryAfter(value)) => {
            let extra = format!("Retry-After: {value}\r\n");
            client.write_all(head_only("429 Too Many Requests", &extra).as_bytes())?;
            return Ok(());
        }
        Some(Kind::RetryAfterDate(secs)) => {
            let when = std::time::SystemTime::now() + Duration::from_secs(secs);
            let extra = format!("Retry-After: {}\r\n", httpdate::fmt_http_date(when));
            client.write_all(head_only("429 Too Many Requests", &extra).as_bytes())?;
            return Ok(());
        }
        Some(Kind::Challenge) => {
            let extra = format!(
                "WWW-Authenticate: Bearer realm=\"http://{me}/token\",service=\"faults\"\r\n"
            );
            client.write_all(head_only("401 Unauthorized", &extra).as_bytes())?;
            return Ok(());
        }
        Some(Kind::ChallengeTo(realm)) => {
            let extra =
                format!("WWW-Authenticate: Bearer realm=\"{realm}\",service=\"faults\"\r\n");
            client.write_all(head_only("401 Unauthorized", &extra).as_bytes())?;
            return Ok(());
        }
        Some(Kind::TooLarge(_)) => {
            // As nginx answers: at once, from the head's Content-Length, then reading (and
            // dropping) the body until it ends, so the client's writes never meet a reset.
            client.write_all(head_only("413 Payload Too Large", "").as_bytes())?;
            let mut left = content_length.unwrap_or(0);
            let mut sink = vec![0u8; 64 << 10];
            while left > 0 {
                let n = client.read(&mut sink[..left.min(64 << 10) as usize])?;
                if n == 0 {
                    break;
                }
                left -= n as u64;
            }
            return Ok(());
        }
        Some(Kind::Status(status)) => {
            let reply = format!(
                "HTTP/1.1 {status} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            client.write_all(reply.as_bytes())?;
            return Ok(());
        }
        Some(Kind::Stall) => {
            // Held until the client hangs up (or the test process ends).
            let mut sink = [0u8; 4096];
            while client.read(&mut sink)? > 0 {}
            return Ok(());
        }
        _ => {}
    }
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(&closing(&head))?;
    if let Some(Kind::ResetUpload(n)) = fault {
        let mut buf = vec![0u8; n];
        let got = client.read(&mut buf)?;
        up.write_all(&buf[..got])?;
        let _ = up.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    // The request body flows on its own thread; the answer comes back here.
    let (mut from_client, mut to_up) = (client.try_clone()?, up.try_clone()?);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_up);
        let _ = to_up.shutdown(Shutdown::Write);
    });
    if let Some(Kind::Corrupt | Kind::LocationVia(_)) = &fault {
        up.set_read_timeout(Some(Duration::from_secs(120)))?;
        let Some(answer) = read_head(&mut up)? else {
            return Ok(());
        };
        let answer = match &fault {
            Some(Kind::LocationVia(other)) => relocated(&answer, other),
            _ => answer,
        };
        client.write_all(&answer)?;
        let mut flip = matches!(fault, Some(Kind::Corrupt));
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = up.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if flip {
                buf[0] ^= 1;
                flip = false;
            }
            client.write_all(&buf[..n])?;
        }
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    let limit = match fault {
        Some(Kind::Truncate(n)) => n,
        _ => usize::MAX,
    };
    let mut sent = 0;
    let mut buf = vec![0u8; 64 << 10];
    up.set_read_timeout(Some(Duration::from_secs(120)))?;
    loop {
        let n = up.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let n = n.min(limit - sent);
        client.write_all(&buf[..n])?;
        sent += n;
        if sent >= limit {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}
