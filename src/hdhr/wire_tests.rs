//! Golden packets from the specification (§2.4, §2.5) and property tests: random and mutated
//! frames never panic, and what we encode decodes back to itself.

use proptest::prelude::*;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

/// Every request form of spec §2.4, with the exact bytes.
const REQUESTS: &[(&str, &str)] = &[
    ("libhdhomerun <= 20220302, Jellyfin, Emby", "00 02 00 0C 01 04 FF FF FF FF 02 04 FF FF FF FF 73 CC 7D 8F"),
    ("Kodi pvr.hdhomerun", "00 02 00 0C 01 04 00 00 00 01 02 04 FF FF FF FF 4E 50 7F 35"),
    ("libhdhomerun >= 20221010 discover", "00 02 00 06 01 04 FF FF FF FF 4C 20 CB 4E"),
    ("libhdhomerun >= 20221010 tuner only", "00 02 00 06 01 04 00 00 00 01 39 30 77 E7"),
    ("libhdhomerun >= 20221010 multi type", "00 02 00 0A 2D 08 00 00 00 01 00 00 00 05 4F 63 39 1F"),
];

#[test]
fn every_request_form_of_the_spec_parses_and_matches() {
    for (who, bytes) in REQUESTS {
        let req = DiscoverRequest::parse(&hex(bytes)).unwrap_or_else(|e| panic!("{who}: {e}"));
        assert!(req.matches(0x1050_ABCE), "{who}: {req:?}");
    }
    // The multi-type request lists tuner and storage.
    assert_eq!(DiscoverRequest::parse(&hex(REQUESTS[4].1)).unwrap().types, [1, 5]);
}

#[test]
fn the_jellyfin_packet_has_the_documented_crc() {
    let mut b = FrameBuilder::new(kind::DISCOVER_REQ);
    b.push_u32(tag::DEVICE_TYPE, WILDCARD).unwrap().push_u32(tag::DEVICE_ID, WILDCARD).unwrap();
    let frame = b.finish();
    assert_eq!(frame, hex(REQUESTS[0].1));
    assert_eq!(&frame[16..], &[0x73, 0xCC, 0x7D, 0x8F]);
}

#[test]
fn targeted_requests_match_only_our_id_and_storage_only_requests_do_not_match() {
    let targeted = |id: u32| {
        let mut b = FrameBuilder::new(kind::DISCOVER_REQ);
        b.push_u32(tag::DEVICE_TYPE, WILDCARD).unwrap().push_u32(tag::DEVICE_ID, id).unwrap();
        DiscoverRequest::parse(&b.finish()).unwrap()
    };
    assert!(targeted(0x1050_ABCE).matches(0x1050_ABCE));
    assert!(!targeted(0x1050_0009).matches(0x1050_ABCE));
    let mut b = FrameBuilder::new(kind::DISCOVER_REQ);
    b.push_u32(tag::DEVICE_TYPE, 5).unwrap();
    assert!(!DiscoverRequest::parse(&b.finish()).unwrap().matches(0x1050_ABCE));
    // No tags at all: anything matches.
    assert!(DiscoverRequest::parse(&FrameBuilder::new(kind::DISCOVER_REQ).finish()).unwrap().matches(7));
}

#[test]
fn the_example_reply_of_the_spec_is_reproduced_byte_for_byte() {
    let mut b = FrameBuilder::new(kind::DISCOVER_RPY);
    b.push_u32(tag::DEVICE_TYPE, 1)
        .unwrap()
        .push_u32(tag::DEVICE_ID, 0x1050_ABCE)
        .unwrap()
        .push(tag::TUNER_COUNT, &[2])
        .unwrap()
        .push(tag::BASE_URL, b"http://192.168.1.50:5004")
        .unwrap();
    let frame = b.finish();
    let mut want = hex("00 03 00 29 01 04 00 00 00 01 02 04 10 50 AB CE 10 01 02 2A 18");
    want.extend_from_slice(b"http://192.168.1.50:5004");
    want.extend_from_slice(&hex("01 48 75 C7"));
    assert_eq!(frame.len(), 49);
    assert_eq!(frame, want);
}

#[test]
fn our_reply_carries_every_tag_with_the_right_sizes() {
    let reply = DiscoverReply {
        device_id: 0x1050_ABCE,
        tuner_count: 4,
        base_url: "http://10.0.0.2:5004",
        lineup_url: "http://10.0.0.2:5004/lineup.json",
        device_auth: "abcdefghijklmnopqrstuvwx",
    };
    let frame = reply.encode().unwrap();
    let f = decode(&frame).unwrap();
    assert_eq!(f.kind, kind::DISCOVER_RPY);
    let items: Vec<Tlv<'_>> = tlvs(f.payload).map(Result::unwrap).collect();
    let get = |t: u8| items.iter().find(|i| i.tag == t).unwrap().value;
    assert_eq!(get(tag::DEVICE_TYPE), [0, 0, 0, 1]);
    assert_eq!(get(tag::DEVICE_ID), [0x10, 0x50, 0xAB, 0xCE]);
    assert_eq!(get(tag::TUNER_COUNT), [4]);
    assert_eq!(get(tag::BASE_URL), b"http://10.0.0.2:5004");
    assert_eq!(get(tag::LINEUP_URL), b"http://10.0.0.2:5004/lineup.json");
    assert_eq!(get(tag::DEVICE_AUTH_STR), b"abcdefghijklmnopqrstuvwx");
}

#[test]
fn long_values_use_the_two_byte_length() {
    let mut b = FrameBuilder::new(kind::GETSET_RPY);
    b.push(tag::GETSET_VALUE, &[b'x'; 300]).unwrap();
    let frame = b.finish();
    assert_eq!(&frame[4..7], &[tag::GETSET_VALUE, 0xAC, 0x02]);
    let t = tlvs(decode(&frame).unwrap().payload).next().unwrap().unwrap();
    assert_eq!(t.value.len(), 300);
}

#[test]
fn bad_frames_are_refused_with_the_reason() {
    let good = hex(REQUESTS[0].1);
    let mut bad_crc = good.clone();
    bad_crc[19] ^= 1;
    assert!(matches!(DiscoverRequest::parse(&bad_crc), Err(WireError::BadCrc { .. })));
    assert!(matches!(DiscoverRequest::parse(&good[..10]), Err(WireError::LengthMismatch { .. })));
    assert!(matches!(DiscoverRequest::parse(&good[..5]), Err(WireError::TooShort(5))));
    let mut huge = good.clone();
    huge[2] = 0x10;
    assert!(matches!(DiscoverRequest::parse(&huge), Err(WireError::TooLong(_))));
    let reply = getset_reply("/sys/model", Ok("x")).unwrap();
    assert!(matches!(DiscoverRequest::parse(&reply), Err(WireError::WrongType(kind::GETSET_RPY))));
    // A DEVICE_ID of 3 bytes.
    let mut b = FrameBuilder::new(kind::DISCOVER_REQ);
    b.push(tag::DEVICE_ID, &[1, 2, 3]).unwrap();
    assert_eq!(DiscoverRequest::parse(&b.finish()), Err(WireError::BadValue { tag: tag::DEVICE_ID }));
    // A TLV whose length runs past the payload (CRC recomputed so only the TLV is wrong).
    let mut raw = vec![0, 2, 0, 3, tag::DEVICE_ID, 9, 1];
    let c = crc(&raw);
    raw.extend_from_slice(&c.to_le_bytes());
    assert_eq!(DiscoverRequest::parse(&raw), Err(WireError::TruncatedTlv(0)));
    // Oversized values cannot be built.
    assert!(FrameBuilder::new(kind::GETSET_RPY).push(tag::GETSET_VALUE, &[0; MAX_PAYLOAD]).is_err());
}

#[test]
fn getset_requests_round_trip_and_frames_split_across_reads_are_found() {
    let req = GetSetRequest { name: "/sys/model".into(), value: None, lockkey: None };
    let frame = req.encode().unwrap();
    assert_eq!(frame_len(&frame[..3]), Ok(None));
    assert_eq!(frame_len(&frame[..frame.len() - 1]), Ok(None));
    assert_eq!(frame_len(&frame), Ok(Some(frame.len())));
    assert_eq!(GetSetRequest::from_frame(decode(&frame).unwrap()).unwrap(), req);
    assert_eq!(frame_len(&[0, 4, 0xFF, 0xFF]), Err(WireError::TooLong(0xFFFF)));
    let nameless = FrameBuilder::new(kind::GETSET_REQ).finish();
    assert_eq!(GetSetRequest::from_frame(decode(&nameless).unwrap()), Err(WireError::MissingName));
}

fn arb_request() -> impl Strategy<Value = GetSetRequest> {
    ("[ -~]{1,200}", proptest::option::of("[ -~]{0,300}"), proptest::option::of(any::<u32>()))
        .prop_map(|(name, value, lockkey)| GetSetRequest { name, value, lockkey })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let _ = DiscoverRequest::parse(&bytes);
        if let Ok(Some(n)) = frame_len(&bytes)
            && let Ok(f) = decode(&bytes[..n])
        {
            let _ = GetSetRequest::from_frame(f);
        }
    }

    #[test]
    fn mutated_valid_frames_never_panic_and_mutations_are_caught(
        which in 0..REQUESTS.len(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let mut bytes = hex(REQUESTS[which].1);
        for (i, x) in &flips {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        // Never panics, and a corrupted frame is refused (a corruption that keeps CRC-32
        // valid has odds of 2^-32; flips of one byte that cancel out leave the frame intact).
        let changed = bytes != hex(REQUESTS[which].1);
        let parsed = DiscoverRequest::parse(&bytes);
        prop_assert!(!changed || parsed.is_err(), "accepted a corrupted frame: {parsed:?}");
    }

    #[test]
    fn getset_requests_round_trip(req in arb_request()) {
        let frame = req.encode().unwrap();
        prop_assert_eq!(frame_len(&frame), Ok(Some(frame.len())));
        let back = GetSetRequest::from_frame(decode(&frame).unwrap()).unwrap();
        prop_assert_eq!(back, req);
    }

    #[test]
    fn discover_replies_round_trip(id in any::<u32>(), tuners in any::<u8>(), url in "http://[0-9.]{7,15}:[0-9]{1,5}") {
        let lineup = format!("{url}/lineup.json");
        let frame = DiscoverReply { device_id: id, tuner_count: tuners, base_url: &url, lineup_url: &lineup,
            device_auth: "0123456789abcdefghijklmn" }.encode().unwrap();
        let f = decode(&frame).unwrap();
        let items: Vec<_> = tlvs(f.payload).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(items.len(), 6);
        prop_assert_eq!(items[1].value, &id.to_be_bytes()[..]);
        prop_assert_eq!(items[3].value, url.as_bytes());
    }
}
