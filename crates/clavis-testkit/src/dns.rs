//! A small real DNS server for tests: UDP on `127.0.0.1:0`, answering `TXT` queries from a
//! map that tests change while it runs (`NXDOMAIN` for names it does not hold; an empty
//! answer for other record types of a name it holds). Queries are parsed with bounds
//! checks: a malformed packet gets `FORMERR` or no answer, never a panic.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

const TYPE_TXT: u16 = 16;
const CLASS_IN: u16 = 1;
const RCODE_FORMERR: u8 = 1;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_NOTIMP: u8 = 4;

/// The running server; stops when dropped.
pub struct DnsServer {
    pub addr: SocketAddr,
    records: Arc<Mutex<HashMap<String, Vec<String>>>>,
    task: JoinHandle<()>,
}

impl DnsServer {
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS");
        let addr = socket.local_addr().expect("DNS address");
        let records: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
        let map = records.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let Some(packet) = buf.get(..n) else { continue };
                let answer = {
                    let map = map.lock().expect("records");
                    respond(packet, &map)
                };
                if let Some(answer) = answer {
                    let _ = socket.send_to(&answer, peer).await;
                }
            }
        });
        Self {
            addr,
            records,
            task,
        }
    }

    /// Publish a TXT record (added to the name's records).
    pub fn add_txt(&self, name: &str, value: &str) {
        self.records
            .lock()
            .expect("records")
            .entry(normalise(name))
            .or_default()
            .push(value.to_owned());
    }

    /// Remove every record of a name.
    pub fn remove(&self, name: &str) {
        self.records
            .lock()
            .expect("records")
            .remove(&normalise(name));
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A parsed question: the name (lower case, no final dot), its type and class, and where
/// the question section ends.
#[derive(Debug, PartialEq)]
struct Question {
    name: String,
    qtype: u16,
    qclass: u16,
    end: usize,
}

fn u16_at(p: &[u8], at: usize) -> Option<u16> {
    let b = p.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// The first question of a query (no compression pointers in questions; labels ≤ 63,
/// names ≤ 255 bytes).
fn question(p: &[u8]) -> Option<Question> {
    let mut at = 12;
    let mut labels: Vec<String> = Vec::new();
    let mut total = 0usize;
    loop {
        let len = usize::from(*p.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        total += len + 1;
        if total > 255 {
            return None;
        }
        let label = p.get(at..at + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += len;
    }
    Some(Question {
        name: labels.join("."),
        qtype: u16_at(p, at)?,
        qclass: u16_at(p, at + 2)?,
        end: at + 4,
    })
}

/// The answer to a packet; `None` for what is not a query worth answering.
fn respond(p: &[u8], records: &HashMap<String, Vec<String>>) -> Option<Vec<u8>> {
    let header = p.get(..12)?;
    let flags = u16_at(header, 2)?;
    if flags & 0x8000 != 0 {
        return None; // a response, not a query
    }
    let reply = |rcode: u8, q: Option<&Question>, answers: &[&String]| {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&header[..2]);
        // QR, the opcode and RD copied, AA; then RA and the response code.
        let hi = 0x80 | ((flags >> 8) as u8 & 0x79) | 0x04;
        out.push(hi);
        out.push(0x80 | rcode);
        let qd: u16 = q.map_or(0, |_| 1);
        out.extend_from_slice(&qd.to_be_bytes());
        out.extend_from_slice(&u16::try_from(answers.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        if let Some(q) = q {
            out.extend_from_slice(&p[12..q.end]);
            for a in answers {
                out.extend_from_slice(&[0xc0, 0x0c]); // the name of the question
                out.extend_from_slice(&TYPE_TXT.to_be_bytes());
                out.extend_from_slice(&CLASS_IN.to_be_bytes());
                out.extend_from_slice(&0u32.to_be_bytes()); // TTL 0: never cached
                let chunks: Vec<&[u8]> = a.as_bytes().chunks(255).collect();
                let rdlen: usize = chunks.iter().map(|c| c.len() + 1).sum();
                out.extend_from_slice(&u16::try_from(rdlen).unwrap_or(0).to_be_bytes());
                for c in chunks {
                    out.push(u8::try_from(c.len()).unwrap_or(0));
                    out.extend_from_slice(c);
                }
            }
        }
        out
    };
    let opcode = (flags >> 11) & 0x0f;
    if opcode != 0 {
        return Some(reply(RCODE_NOTIMP, None, &[]));
    }
    if u16_at(header, 4)? != 1 {
        return Some(reply(RCODE_FORMERR, None, &[]));
    }
    let Some(q) = question(p) else {
        return Some(reply(RCODE_FORMERR, None, &[]));
    };
    let Some(values) = records.get(&q.name) else {
        return Some(reply(RCODE_NXDOMAIN, Some(&q), &[]));
    };
    let answers: Vec<&String> = if q.qtype == TYPE_TXT && q.qclass == CLASS_IN {
        values.iter().collect()
    } else {
        Vec::new()
    };
    Some(reply(0, Some(&q), &answers))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut p = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            p.push(u8::try_from(l.len()).unwrap());
            p.extend_from_slice(l.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&CLASS_IN.to_be_bytes());
        p
    }

    #[test]
    fn answers_txt_from_the_map_and_nxdomain_otherwise() {
        let mut m = HashMap::new();
        m.insert("_c.example".to_owned(), vec!["v=1".to_owned()]);
        let a = respond(&query("_C.Example", TYPE_TXT), &m).unwrap();
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[3] & 0x0f, 0);
        assert_eq!(u16_at(&a, 6), Some(1));
        assert!(a.ends_with(b"\x03v=1"));
        let nx = respond(&query("other.example", TYPE_TXT), &m).unwrap();
        assert_eq!(nx[3] & 0x0f, RCODE_NXDOMAIN);
        let a_rec = respond(&query("_c.example", 1), &m).unwrap();
        assert_eq!((a_rec[3] & 0x0f, u16_at(&a_rec, 6)), (0, Some(0)));
    }

    #[test]
    fn malformed_packets_are_refused_without_panic() {
        let m = HashMap::new();
        let good = query("a.example", TYPE_TXT);
        for n in 0..good.len() {
            let _ = respond(&good[..n], &m);
        }
        let mut long_label = good.clone();
        long_label[12] = 64;
        assert_eq!(respond(&long_label, &m).unwrap()[3] & 0x0f, RCODE_FORMERR);
        let mut pointer = good.clone();
        pointer[12] = 0xc0;
        assert_eq!(respond(&pointer, &m).unwrap()[3] & 0x0f, RCODE_FORMERR);
        let mut response = good;
        response[2] |= 0x80;
        assert_eq!(respond(&response, &m), None);
        assert_eq!(respond(&[0u8; 5], &m), None);
    }
}
