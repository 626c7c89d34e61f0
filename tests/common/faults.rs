//! A fault-injecting proxy between our tool and a real registry, on 127.0.0.1 only: it forwards
//! every request to the registry (one connection per request: it rewrites `Connection: close`
//! so that each request is seen and judged), except the ones a [`Fault`] matches, which it
//! answers with an error status, cuts short, resets or stalls. TLS probes (our tool tries
//! HTTPS first on loopback) are closed at once, so the tool falls back to plain HTTP as it does
//! for the registry itself.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do to the requests whose method is `method` and whose path contains `path`.
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
}

pub struct FaultProxy {
    pub addr: String,
    faults: Arc<Mutex<Vec<Fault>>>,
    /// How many requests were spoiled so far.
    pub spoiled: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// Starts a proxy in front of the registry at `upstream` (`127.0.0.1:PORT`); it lives as
    /// long as the test process.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let faults: Arc<Mutex<Vec<Fault>>> = Arc::default();
        let spoiled: Arc<AtomicUsize> = Arc::default();
        let (f, s, up) = (faults.clone(), spoiled.clone(), upstream.to_string());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (f, s, up) = (f.clone(), s.clone(), up.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &up, &f, &s);
                });
            }
        });
        FaultProxy {
            addr,
            faults,
            spoiled,
        }
    }

    /// Replaces the faults (an empty list forwards everything).
    pub fn set(&self, faults: Vec<Fault>) {
        *self.faults.lock().unwrap() = faults;
        self.spoiled.store(0, Ordering::SeqCst);
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

fn serve(
    mut client: TcpStream,
    upstream: &str,
    faults: &Mutex<Vec<Fault>>,
    spoiled: &AtomicUsize,
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
    let fault = {
        let mut fs = faults.lock().unwrap();
        fs.iter_mut()
            .find(|f| f.method == method && path.contains(f.path) && f.times > 0)
            .map(|f| {
                f.times = f.times.saturating_sub(1);
                f.kind.clone()
            })
    };
    if fault.is_some() {
        spoiled.fetch_add(1, Ordering::SeqCst);
    }
    match fault {
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
