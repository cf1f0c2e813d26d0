//! A small Redis client: RESP2 over one TCP connection, the commands the queue needs and
//! nothing else. Written here rather than taken from the redis crate so that `:dep kubernel`
//! stays quick to compile in a notebook and a job's image stays small (the redis crate brings
//! `url` and its Unicode tables).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A reply from Redis.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Nil,
    Ok(String),
    Int(i64),
    Bulk(Vec<u8>),
    Array(Vec<Reply>),
}

impl Reply {
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            Reply::Bulk(b) => String::from_utf8_lossy(b).trim().parse().unwrap_or(0),
            _ => 0,
        }
    }

    pub fn bulk(self) -> Option<Vec<u8>> {
        match self {
            Reply::Bulk(b) => Some(b),
            _ => None,
        }
    }

    pub fn array(self) -> Vec<Reply> {
        match self {
            Reply::Array(a) => a,
            _ => Vec::new(),
        }
    }
}

pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pub addr: String,
}

impl Conn {
    /// Connects once (the caller retries while Redis is starting).
    pub fn open(addr: &str, timeout: Duration) -> Result<Conn, String> {
        let mut last = format!("{addr} has no address");
        let addrs = addr.to_socket_addrs().map_err(|e| format!("cannot resolve {addr}: {e}"))?;
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => {
                    s.set_nodelay(true).ok();
                    let writer = s.try_clone().map_err(|e| e.to_string())?;
                    let mut c = Conn { reader: BufReader::new(s), writer, addr: addr.to_string() };
                    c.set_read_timeout(Some(Duration::from_secs(10)))?;
                    return Ok(c);
                }
                Err(e) => last = format!("cannot connect to {addr}: {e}"),
            }
        }
        Err(last)
    }

    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> Result<(), String> {
        self.reader.get_ref().set_read_timeout(t).map_err(|e| e.to_string())
    }

    /// One command and its reply; a Redis error reply is an `Err` with Redis's words.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply, String> {
        self.send(args)?;
        self.read()
    }

    /// Many commands in one round trip (a pipeline), their replies in order.
    pub fn pipeline(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Reply>, String> {
        let mut buf = Vec::new();
        for c in commands {
            encode(&mut buf, &c.iter().map(|a| a.as_slice()).collect::<Vec<_>>());
        }
        self.writer.write_all(&buf).map_err(|e| self.lost(e))?;
        commands.iter().map(|_| self.read()).collect()
    }

    fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let mut buf = Vec::new();
        encode(&mut buf, args);
        self.writer.write_all(&buf).map_err(|e| self.lost(e))
    }

    fn lost(&self, e: std::io::Error) -> String {
        format!("lost the connection to Redis at {}: {e}", self.addr)
    }

    fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err(format!("Redis at {} closed the connection", self.addr)),
            Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_string()),
            Err(e) => Err(self.lost(e)),
        }
    }

    fn read(&mut self) -> Result<Reply, String> {
        let line = self.line()?;
        let (kind, rest) = line.split_at(line.len().min(1));
        match kind {
            "+" => Ok(Reply::Ok(rest.to_string())),
            "-" => Err(format!("Redis said: {rest}")),
            ":" => rest.parse().map(Reply::Int).map_err(|_| format!("not a Redis integer: {rest}")),
            "$" => {
                let n: i64 = rest.parse().map_err(|_| format!("not a Redis length: {rest}"))?;
                if n < 0 {
                    return Ok(Reply::Nil);
                }
                let mut data = vec![0; n as usize + 2];
                self.reader.read_exact(&mut data).map_err(|e| self.lost(e))?;
                data.truncate(n as usize);
                Ok(Reply::Bulk(data))
            }
            "*" => {
                let n: i64 = rest.parse().map_err(|_| format!("not a Redis length: {rest}"))?;
                if n < 0 {
                    return Ok(Reply::Nil);
                }
                (0..n).map(|_| self.read()).collect::<Result<Vec<_>, _>>().map(Reply::Array)
            }
            _ => Err(format!("{} does not speak Redis's protocol (it sent {line:?})", self.addr)),
        }
    }
}

fn encode(buf: &mut Vec<u8>, args: &[&[u8]]) {
    buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A peer that answers each command with the next canned reply, to check the parser.
    fn peer(replies: &'static [u8]) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut junk = [0u8; 4096];
            let _ = s.read(&mut junk);
            s.write_all(replies).unwrap();
            std::thread::sleep(Duration::from_millis(200));
        });
        addr
    }

    #[test]
    fn replies_of_every_kind_are_read() {
        let addr = peer(b"*4\r\n$5\r\nhello\r\n:42\r\n$-1\r\n*1\r\n+OK\r\n");
        let mut c = Conn::open(&addr, Duration::from_secs(2)).unwrap();
        let r = c.call(&[b"X"]).unwrap();
        assert_eq!(r, Reply::Array(vec![Reply::Bulk(b"hello".to_vec()), Reply::Int(42), Reply::Nil, Reply::Array(vec![Reply::Ok("OK".into())])]));
    }

    #[test]
    fn an_error_reply_keeps_redis_words() {
        let addr = peer(b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
        let mut c = Conn::open(&addr, Duration::from_secs(2)).unwrap();
        assert!(c.call(&[b"LPUSH", b"k", b"v"]).unwrap_err().contains("WRONGTYPE"));
    }

    #[test]
    fn a_peer_that_is_not_redis_is_named() {
        let addr = peer(b"HTTP/1.1 400 Bad Request\r\n");
        let mut c = Conn::open(&addr, Duration::from_secs(2)).unwrap();
        let e = c.call(&[b"PING"]).unwrap_err();
        assert!(e.contains("does not speak Redis"), "{e}");
    }
}
