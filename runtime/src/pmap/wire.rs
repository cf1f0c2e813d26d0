//! The messages of pmap between the master (a zeromq ROUTER on rank 0) and its workers
//! (DEALERs), in one place. A message is a JSON header frame, then one frame per item or result
//! (the item's or result's own MessagePack), so payloads are not encoded twice. Payloads are
//! MessagePack, not JSON, because JSON has no NaN or infinity: an `f64` result of NaN must come
//! back as NaN from a pod, as it does from a thread.
//!
//! A worker says hello (and says it again every 500 ms, its beat), asks for items of call `k`
//! for its free threads, and sends results back; the master answers with batches of call `k`,
//! beats every 500 ms, says `over k` when call `k` is complete and `bye` when it shuts down.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// From a worker to the master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "m", rename_all = "snake_case")]
pub enum ToMaster {
    /// Who the worker is; also its beat, so a master that presumed it dead learns it back.
    /// `serving`: a long-lived worker (a ReplicaSet's), whose rank means nothing. `token`: the
    /// job's shared secret. `holding`: the items of call `call` it has and has not sent results
    /// for yet, as ranges `[start, end)`: the master hands out again what a worker has lost.
    /// `seen`: the number of the last batch of that call it got, so that a beat sent before a
    /// batch came is not taken as the batch lost.
    Hello {
        rank: usize,
        host: String,
        threads: usize,
        #[serde(default)]
        serving: bool,
        #[serde(default)]
        token: String,
        #[serde(default)]
        call: u64,
        #[serde(default)]
        holding: Vec<(u64, u64)>,
        #[serde(default)]
        seen: u64,
    },
    /// Items of call `call` for `free` threads (a batch for each); call 0 is whatever call is
    /// on (a long-lived worker, see `serve`).
    Ask { call: u64, free: usize },
    /// Results of call `call`, for these item indexes; one result frame follows per index.
    Results { call: u64, indexes: Vec<u64> },
    /// The function panicked on item `index`.
    Panicked { call: u64, index: u64, message: String },
}

/// From the master to a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "m", rename_all = "snake_case")]
pub enum ToWorker {
    /// Items of call `call`, for these indexes; one item frame follows per index. `seq`: the
    /// batch's number, counted per worker and call from 1.
    Batch {
        call: u64,
        #[serde(default)]
        seq: u64,
        indexes: Vec<u64>,
    },
    /// Call `call` is complete: its results are all on the master.
    Over { call: u64 },
    /// The master is shutting down.
    Bye,
    /// The master is alive.
    Beat,
}

/// A message as frames: its header, then its payloads.
pub fn encode<M: Serialize>(head: &M, payloads: Vec<Bytes>) -> Vec<Bytes> {
    let mut frames = Vec::with_capacity(payloads.len() + 1);
    frames.push(Bytes::from(serde_json::to_vec(head).expect("pmap headers are plain data")));
    frames.extend(payloads);
    frames
}

/// A message from its frames: the header and the payloads, which must be as many as the
/// header's indexes say (checked by [`payloads_fit`]).
pub fn decode<M: DeserializeOwned>(mut frames: Vec<Bytes>) -> Result<(M, Vec<Bytes>), String> {
    if frames.is_empty() {
        return Err("an empty pmap message".into());
    }
    let payloads = frames.split_off(1);
    let head = serde_json::from_slice(&frames[0]).map_err(|e| format!("not a pmap message: {e}"))?;
    Ok((head, payloads))
}

/// An item or result as a payload frame (MessagePack, fields by name).
pub fn pack<V: Serialize>(value: &V) -> Result<Bytes, String> {
    rmp_serde::to_vec_named(value).map(Bytes::from).map_err(|e| e.to_string())
}

/// A payload frame back as an item or result.
pub fn unpack<V: DeserializeOwned>(payload: &[u8]) -> Result<V, String> {
    rmp_serde::from_slice(payload).map_err(|e| e.to_string())
}

/// Item indexes as ranges `[start, end)`, for a beat (batches are mostly runs of indexes).
pub fn ranges(indexes: impl IntoIterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut sorted: Vec<u64> = indexes.into_iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for i in sorted {
        match out.last_mut() {
            Some((_, end)) if *end == i => *end += 1,
            _ => out.push((i, i + 1)),
        }
    }
    out
}

/// Whether a batch or results message carries one payload per index.
pub fn payloads_fit(indexes: &[u64], payloads: &[Bytes]) -> bool {
    indexes.len() == payloads.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<M: Serialize + DeserializeOwned>(m: &M, payloads: Vec<Bytes>) -> (M, Vec<Bytes>) {
        decode(encode(m, payloads)).unwrap()
    }

    #[test]
    fn messages_read_back() {
        for m in [
            ToMaster::Hello { rank: 3, host: "sq-1.sq".into(), threads: 4, serving: false, token: "t".into(), call: 2, holding: vec![(0, 4), (9, 10)], seen: 3 },
            ToMaster::Ask { call: 2, free: 4 },
            ToMaster::Panicked { call: 1, index: 7, message: "boom \"quoted\"\nline".into() },
        ] {
            assert_eq!(round_trip(&m, vec![]), (m.clone(), vec![]));
        }
        for m in [ToWorker::Over { call: 9 }, ToWorker::Bye, ToWorker::Beat] {
            assert_eq!(round_trip(&m, vec![]).0, m);
        }
    }

    #[test]
    fn payloads_follow_the_header_unchanged() {
        let items: Vec<Bytes> = [1u64, 20, 300].iter().map(|i| pack(i).unwrap()).collect();
        let batch = ToWorker::Batch { call: 1, seq: 4, indexes: vec![0, 5, 9] };
        let (head, payloads) = round_trip(&batch, items.clone());
        assert_eq!((head.clone(), payloads.clone()), (batch, items));
        let ToWorker::Batch { indexes, .. } = head else { panic!("not a batch") };
        assert!(payloads_fit(&indexes, &payloads) && !payloads_fit(&indexes[1..], &payloads));
        let back: Vec<u64> = payloads.iter().map(|p| unpack(p).unwrap()).collect();
        assert_eq!(back, vec![1, 20, 300]);
        let results = ToMaster::Results { call: 1, indexes: vec![5] };
        assert_eq!(round_trip(&results, vec![Bytes::from_static(b"[1,2]")]), (results, vec![Bytes::from_static(b"[1,2]")]));
    }

    #[test]
    fn indexes_become_ranges() {
        assert_eq!(ranges([5, 1, 2, 3, 9, 10, 3]), vec![(1, 4), (5, 6), (9, 11)]);
        assert_eq!(ranges([]), vec![]);
        // A hello of an older worker (no holding) still reads.
        let (m, _) = decode::<ToMaster>(vec![Bytes::from_static(br#"{"m":"hello","rank":1,"host":"h","threads":2}"#)]).unwrap();
        assert!(matches!(m, ToMaster::Hello { holding, serving: false, .. } if holding.is_empty()));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(decode::<ToWorker>(vec![]).is_err());
        assert!(decode::<ToWorker>(vec![Bytes::from_static(b"{\"m\":\"nope\"}")]).is_err());
        assert!(decode::<ToMaster>(vec![Bytes::from_static(b"\xff")]).is_err());
    }
}
