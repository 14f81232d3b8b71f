//! Replay: many events per shipment, delivered in overlapping batches, twice, in shuffled order.
//! Whatever the order, the final status is the journey's last milestone and no event is doubled.

use doorstep_core::ids::{CarrierSlug, TrackingNumber};
use doorstep_core::ports::Store;
use doorstep_tests::*;
use serde_json::json;
use std::sync::Arc;

/// Small deterministic generator (xorshift), so a failing order can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// One parcel's journey: info received, many transit scans, out for delivery, a failed attempt,
/// out for delivery again, delivered.
fn journey(parcel: usize) -> Vec<serde_json::Value> {
    let mut statuses = vec!["info_received"];
    statuses.extend(std::iter::repeat_n("in_transit", 12));
    statuses.extend([
        "out_for_delivery",
        "failed_attempt",
        "out_for_delivery",
        "delivered",
    ]);
    statuses
        .iter()
        .enumerate()
        .map(|(i, status)| {
            let reason = (*status == "failed_attempt").then_some("recipient");
            json!({
                "status": status,
                "reason": reason,
                "occurred_at": format!("2024-06-{:02}T{:02}:{:02}:00Z", 1 + i / 6, (i % 6) * 4, parcel % 60),
                "description": format!("scan {i}"),
                "location": format!("Hub {}", i % 5),
                "code": format!("C{i}"),
            })
        })
        .collect()
}

/// Batches of 1–4 consecutive events, each batch a delivery with its own event id; every batch
/// is sent twice (a retry), then everything is shuffled.
fn deliveries(rng: &mut Rng, parcels: usize) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    for parcel in 0..parcels {
        let events = journey(parcel);
        let mut start = 0;
        let mut batch = 0;
        while start < events.len() {
            let end = (start + 1 + rng.below(4)).min(events.len());
            let body = serde_json::to_vec(&json!({
                "carrier": "dhl",
                "tracking_number": format!("JD{parcel:08}"),
                "event_id": format!("p{parcel}-b{batch}"),
                "events": events[start..end],
            }))
            .unwrap();
            bodies.push(body.clone());
            bodies.push(body);
            start = end;
            batch += 1;
        }
        // A late, overlapping re-send under a new id (a carrier's "full history" push).
        let overlap = serde_json::to_vec(&json!({
            "carrier": "DHL", "tracking_number": format!("jd {parcel:08}"), "event_id": format!("p{parcel}-full"), "events": events[..5],
        }))
        .unwrap();
        bodies.push(overlap);
    }
    rng.shuffle(&mut bodies);
    bodies
}

async fn replay(store: Arc<dyn Store>, seed: u64, parcels: usize) {
    let app = carrier_webhook::App {
        store: store.clone(),
        config: config(),
    };
    let mut rng = Rng(seed);
    for body in deliveries(&mut rng, parcels) {
        let (status, json) =
            status_and_json(carrier_webhook::handle(&app, carrier_event("generic", &body)).await);
        assert_eq!(status, 200, "seed {seed}: {json}");
    }
    for parcel in 0..parcels {
        let shipment = store
            .get_shipment(
                &CarrierSlug::parse("dhl").unwrap(),
                &TrackingNumber::parse(&format!("JD{parcel:08}")).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            shipment.status,
            doorstep_core::status::ShipmentStatus::Delivered,
            "seed {seed} parcel {parcel}"
        );
        assert_eq!(
            shipment.events.len(),
            17,
            "seed {seed} parcel {parcel}: each event once"
        );
        let times: Vec<_> = shipment.events.iter().map(|e| e.order_key()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "history sorted");
    }
}

#[tokio::test]
async fn shuffled_duplicated_deliveries_converge_on_sqlite() {
    for seed in [1, 42, 7919, 104_729] {
        replay(Arc::new(sqlite_store()), seed, 5).await;
    }
}

#[tokio::test]
async fn shuffled_duplicated_deliveries_converge_on_dynamodb() {
    replay(Arc::new(dynamo_store().await), 2024, 3).await;
}
