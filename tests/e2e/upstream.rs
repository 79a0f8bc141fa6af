//! A tiny app upstream for the gateway tests: it answers every request with what it received
//! (the request head, verbatim, and the body's length), so tests see exactly which headers,
//! cookies and assertion an app behind the edge gets. Plain threads and blocking sockets: it
//! runs beside the async tests without sharing their runtime.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

use crate::stack::BoxError;

/// Starts the echo upstream on a free loopback port; it lives as long as the process.
pub fn start_echo() -> Result<String, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = serve(stream);
            });
        }
    });
    Ok(url)
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push_str(&line);
    }
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let mut body_bytes: u64 = 0;
    if let Some(length) = header("content-length").and_then(|v| v.parse::<u64>().ok()) {
        body_bytes = std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink())?;
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = u64::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            if size == 0 {
                let mut end = String::new();
                reader.read_line(&mut end)?;
                break;
            }
            body_bytes += std::io::copy(&mut (&mut reader).take(size), &mut std::io::sink())?;
            let mut crlf = String::new();
            reader.read_line(&mut crlf)?;
        }
    }
    let body = serde_json::json!({ "head": head, "body_bytes": body_bytes }).to_string();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         server: echo\r\nset-cookie: __Host-edgeauth_rt=stolen; Path=/; Secure\r\n\
         set-cookie: echo=1; Path=/\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
