//! The event stream: bytes cut into chunks at fuzzed places → the client's
//! line framing (`LinesCodec`, 1 MiB cap) → event JSON. Every complete line
//! gives exactly one item (an event, or a decode error the stream survives),
//! blank lines none, and the stream ends when the body does.
#![no_main]
use bytes::Bytes;
use docker_exporter::docker::{EventStream, MAX_EVENT_LINE};
use http_body_util::StreamBody;
use hyper::body::Frame;
use libfuzzer_sys::fuzz_target;
use std::convert::Infallible;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    // Chunks of 1..=256 bytes: lines split across reads, several in one.
    let size = usize::from(cut) + 1;
    let chunks: Vec<Result<Frame<Bytes>, Infallible>> = data
        .chunks(size)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(chunks));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let items = runtime.block_on(async {
        let mut stream = EventStream::new(body, "/events".into());
        let mut n = 0usize;
        while stream.next().await.is_some() {
            n += 1;
        }
        n
    });
    let mut lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    lines.pop(); // what follows the last newline is no complete line
    let expected = lines
        .iter()
        .filter(|l| {
            l.len() > MAX_EVENT_LINE
                || std::str::from_utf8(l).map_or(true, |s| !s.trim().is_empty())
        })
        .count();
    assert_eq!(items, expected, "one item per complete line");
});
