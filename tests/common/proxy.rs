//! A loopback HTTP CONNECT proxy for the proxy tests: listens on 127.0.0.1 and a free port,
//! opens a tunnel only to 127.0.0.1 (anything else gets 403), and counts the tunnels it made.
//! It runs on threads of the test process and stops with it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct ConnectProxy {
    /// `http://127.0.0.1:PORT`, for HTTPS_PROXY.
    pub url: String,
    connects: Arc<AtomicUsize>,
}

impl ConnectProxy {
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connects = Arc::new(AtomicUsize::new(0));
        let counter = connects.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || tunnel(client, &counter));
            }
        });
        ConnectProxy { url, connects }
    }

    /// How many CONNECT tunnels were opened so far.
    pub fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }
}

fn tunnel(client: TcpStream, counter: &AtomicUsize) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut out = client.try_clone().unwrap();
    let target = match first.split_whitespace().collect::<Vec<_>>()[..] {
        ["CONNECT", target, _] if target.starts_with("127.0.0.1:") => target.to_string(),
        _ => {
            let _ = out.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
            return;
        }
    };
    let Ok(upstream) = TcpStream::connect(&target) else {
        let _ = out.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    counter.fetch_add(1, Ordering::SeqCst);
    if out
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let mut up_write = upstream.try_clone().unwrap();
    let mut up_read = upstream;
    let down = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut out);
        let _ = out.shutdown(Shutdown::Write);
    });
    // The reader hands on first whatever it buffered past the request head.
    let _ = std::io::copy(&mut reader, &mut up_write);
    let _ = up_write.shutdown(Shutdown::Write);
    let _ = down.join();
}
