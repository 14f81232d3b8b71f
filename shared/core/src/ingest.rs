//! Application services: apply carrier updates and store events through the `Store` port.
//! Every write is conditional on the version read; a conflict means "read again and re-apply".

use crate::ids::{CarrierSlug, TrackingNumber};
use crate::model::{
    Customer, Order, OrderLink, PendingLink, Provider, Shipment, ShipmentRef, TrackingEvent,
    TrackingUpdate,
};
use crate::ports::{ShipmentWrite, Store, StoreError, WriteError, DEDUPE_RETENTION_DAYS};
use crate::rules;
use crate::store_events::{
    order_id, FulfillmentSnapshot, MerchantDefaults, OrderSnapshot, StoreEvent,
};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// Optimistic writes retried this many times before giving up with a retryable error.
const MAX_ATTEMPTS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("too many concurrent writers to one record")]
    Contention,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateOutcome {
    /// Written: the shipment changed.
    Applied,
    /// This delivery (by provider id or content hash) was applied before.
    Duplicate,
    /// Nothing new in it (every event already in the history).
    Unchanged,
}

/// Applies one carrier update with a single conditional write (retried on conflict).
pub async fn apply_tracking_update(
    store: &dyn Store,
    update: &TrackingUpdate,
    now: DateTime<Utc>,
) -> Result<UpdateOutcome, IngestError> {
    let dedupe_key = update.dedupe_key();
    for _ in 0..MAX_ATTEMPTS {
        let existing = store
            .get_shipment(&update.carrier, &update.tracking_number)
            .await?;
        let (mut shipment, expected_version, consume_pending_link) = match existing {
            Some(shipment) => {
                let version = shipment.version;
                (shipment, Some(version), false)
            }
            None => {
                let mut shipment =
                    Shipment::new(update.carrier.clone(), update.tracking_number.clone(), now);
                // A fulfilment that named no carrier may be waiting for exactly this parcel.
                let pending = store.get_pending_link(&update.tracking_number).await?;
                let consume = pending.is_some();
                shipment.order = pending.map(|p| p.link);
                (shipment, None, consume)
            }
        };
        let applied = rules::apply_update(&mut shipment, update, now);
        if expected_version.is_some() && !applied.changed() {
            // Nothing new: either the sender retried a delivery it already made, or another
            // delivery said the same things.
            if store.update_seen(&dedupe_key).await? {
                return Ok(UpdateOutcome::Duplicate);
            }
            return Ok(UpdateOutcome::Unchanged);
        }
        let write = ShipmentWrite {
            expected_version,
            dedupe_key: Some(&dedupe_key),
            consume_pending_link,
        };
        match store.save_shipment(&shipment, write).await {
            Ok(()) => return Ok(UpdateOutcome::Applied),
            Err(WriteError::Duplicate) => return Ok(UpdateOutcome::Duplicate),
            Err(WriteError::Conflict) => continue,
            Err(WriteError::Store(e)) => return Err(e.into()),
        }
    }
    Err(IngestError::Contention)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreOutcome {
    Applied,
    Duplicate,
    Ping,
}

/// Applies a store event. Store deliveries touch several records, so instead of one transaction
/// every step is an idempotent upsert and the delivery id is recorded only after all succeeded:
/// a retry after a failure redoes the steps harmlessly.
pub async fn apply_store_event(
    store: &dyn Store,
    event: StoreEvent,
    delivery_key: Option<&str>,
    defaults: &MerchantDefaults,
    now: DateTime<Utc>,
) -> Result<StoreOutcome, IngestError> {
    if matches!(event, StoreEvent::Ping) {
        return Ok(StoreOutcome::Ping);
    }
    if let Some(key) = delivery_key {
        if store.delivery_seen(key).await? {
            return Ok(StoreOutcome::Duplicate);
        }
    }
    match event {
        StoreEvent::Order(snapshot) => apply_order(store, *snapshot, defaults, now).await?,
        StoreEvent::Fulfillment(fulfillment) => {
            let refs = link_fulfillment(store, &fulfillment, now).await?;
            let id = order_id(fulfillment.platform, &fulfillment.order_external_id);
            add_shipments_to_order(
                store,
                &id,
                fulfillment.platform,
                &fulfillment.order_external_id,
                &refs,
                now,
            )
            .await?;
        }
        StoreEvent::Ping => {}
    }
    if let Some(key) = delivery_key {
        store
            .mark_delivery(
                key,
                crate::bounds::later(now, Duration::days(DEDUPE_RETENTION_DAYS)),
            )
            .await?;
    }
    Ok(StoreOutcome::Applied)
}

async fn apply_order(
    store: &dyn Store,
    snapshot: OrderSnapshot,
    defaults: &MerchantDefaults,
    now: DateTime<Utc>,
) -> Result<(), IngestError> {
    let id = snapshot.order_id();
    let existing = store.get_order(&id).await?;
    // An older snapshot (webhooks arrive out of order) must not revert the order or the customer.
    let stale = is_stale(
        existing.as_ref().and_then(|o| o.source_updated_at),
        snapshot.updated_at,
    );
    let customer = snapshot.customer.clone().into_customer(
        snapshot.platform,
        &snapshot.external_id,
        defaults,
        now,
    );
    let customer_id = customer.id.clone();
    if !stale {
        upsert_customer(store, customer).await?;
    }
    let mut refs = Vec::new();
    for fulfillment in &snapshot.fulfillments {
        refs.extend(link_fulfillment(store, fulfillment, now).await?);
    }
    for _ in 0..MAX_ATTEMPTS {
        let existing = store.get_order(&id).await?;
        let expected = existing.as_ref().map(|o| o.version);
        let stale = is_stale(
            existing.as_ref().and_then(|o| o.source_updated_at),
            snapshot.updated_at,
        );
        let mut order = match existing {
            Some(existing) if stale => existing,
            existing => Order {
                id: id.clone(),
                platform: snapshot.platform,
                name: snapshot.name.clone(),
                customer_id: Some(customer_id.clone()),
                currency: snapshot.currency.clone(),
                line_items: snapshot.line_items.clone(),
                shipments: existing
                    .as_ref()
                    .map(|o| o.shipments.clone())
                    .unwrap_or_default(),
                // A cancellation is final, whatever order the webhooks came in.
                cancelled: snapshot.cancelled || existing.as_ref().is_some_and(|o| o.cancelled),
                created_at: snapshot.created_at,
                source_updated_at: snapshot.updated_at,
                updated_at: now,
                version: existing.as_ref().map(|o| o.version).unwrap_or(0),
            },
        };
        let added = merge_refs(&mut order.shipments, &refs);
        if stale && !added {
            return Ok(());
        }
        order.updated_at = now;
        match store.save_order(&order, expected).await {
            Ok(()) => return Ok(()),
            Err(WriteError::Conflict | WriteError::Duplicate) => continue,
            Err(WriteError::Store(e)) => return Err(e.into()),
        }
    }
    Err(IngestError::Contention)
}

fn is_stale(stored: Option<DateTime<Utc>>, incoming: Option<DateTime<Utc>>) -> bool {
    matches!((stored, incoming), (Some(stored), Some(incoming)) if incoming < stored)
}

/// Adds parcels the order does not list yet; true if any was added.
fn merge_refs(shipments: &mut Vec<ShipmentRef>, refs: &[ShipmentRef]) -> bool {
    let mut added = false;
    for r in refs {
        match shipments
            .iter_mut()
            .find(|s| s.tracking_number == r.tracking_number)
        {
            Some(known) if known.carrier.is_none() && r.carrier.is_some() => {
                known.carrier = r.carrier.clone();
                added = true;
            }
            Some(_) => {}
            None => {
                shipments.push(r.clone());
                added = true;
            }
        }
    }
    added
}

async fn upsert_customer(store: &dyn Store, incoming: Customer) -> Result<(), IngestError> {
    for _ in 0..MAX_ATTEMPTS {
        let existing = store.get_customer(&incoming.id).await?;
        let (customer, expected) = match existing {
            Some(mut existing) => {
                let version = existing.version;
                existing.merge_from(incoming.clone());
                (existing, Some(version))
            }
            None => (incoming.clone(), None),
        };
        match store.save_customer(&customer, expected).await {
            Ok(()) => return Ok(()),
            Err(WriteError::Conflict | WriteError::Duplicate) => continue,
            Err(WriteError::Store(e)) => return Err(e.into()),
        }
    }
    Err(IngestError::Contention)
}

/// A fulfilment that arrives before its order gets a placeholder order listing its parcels; the
/// order's own webhook fills in the rest.
async fn add_shipments_to_order(
    store: &dyn Store,
    id: &str,
    platform: Provider,
    external_id: &str,
    refs: &[ShipmentRef],
    now: DateTime<Utc>,
) -> Result<(), IngestError> {
    for _ in 0..MAX_ATTEMPTS {
        let existing = store.get_order(id).await?;
        let expected = existing.as_ref().map(|o| o.version);
        let mut order = existing.unwrap_or_else(|| Order {
            id: id.to_string(),
            platform,
            name: format!("#{external_id}"),
            customer_id: None,
            currency: None,
            line_items: Vec::new(),
            shipments: Vec::new(),
            cancelled: false,
            created_at: None,
            source_updated_at: None,
            updated_at: now,
            version: 0,
        });
        if !merge_refs(&mut order.shipments, refs) && expected.is_some() {
            return Ok(());
        }
        order.updated_at = now;
        match store.save_order(&order, expected).await {
            Ok(()) => return Ok(()),
            Err(WriteError::Conflict | WriteError::Duplicate) => continue,
            Err(WriteError::Store(e)) => return Err(e.into()),
        }
    }
    Err(IngestError::Contention)
}

/// Ties each of a fulfilment's tracking numbers to the order, whichever came first.
async fn link_fulfillment(
    store: &dyn Store,
    fulfillment: &FulfillmentSnapshot,
    now: DateTime<Utc>,
) -> Result<Vec<ShipmentRef>, IngestError> {
    let link = OrderLink {
        order_id: order_id(fulfillment.platform, &fulfillment.order_external_id),
        fulfillment_id: fulfillment.fulfillment_id.clone(),
        items: fulfillment.items.clone(),
    };
    let mut refs = Vec::with_capacity(fulfillment.tracking_numbers.len());
    for tracking in &fulfillment.tracking_numbers {
        let carrier = resolve_carrier(store, fulfillment.carrier.as_ref(), tracking).await?;
        match carrier {
            Some(carrier) => {
                attach(store, &carrier, tracking, &link, now).await?;
                if let Some(reported) = &fulfillment.status {
                    let update = TrackingUpdate {
                        provider: fulfillment.platform,
                        carrier: carrier.clone(),
                        tracking_number: tracking.clone(),
                        delivery_id: None,
                        events: vec![TrackingEvent {
                            status: reported.status,
                            reason: reported.reason,
                            occurred_at: reported.at,
                            description: String::new(),
                            location: None,
                            raw_code: format!(
                                "{}:{}",
                                fulfillment.platform.as_str(),
                                reported.raw_code
                            ),
                        }],
                        estimated_delivery: None,
                    };
                    apply_tracking_update(store, &update, now).await?;
                }
                refs.push(ShipmentRef {
                    carrier: Some(carrier),
                    tracking_number: tracking.clone(),
                });
            }
            None => {
                store
                    .put_pending_link(&PendingLink {
                        tracking_number: tracking.clone(),
                        link: link.clone(),
                        created_at: now,
                    })
                    .await?;
                refs.push(ShipmentRef {
                    carrier: None,
                    tracking_number: tracking.clone(),
                });
            }
        }
    }
    Ok(refs)
}

/// The carrier a fulfilment's parcel is tracked under: the shipment already known under this
/// number when there is exactly one (carriers and stores spell carriers differently), else the
/// store's carrier, else none (parked until a carrier reports the number).
async fn resolve_carrier(
    store: &dyn Store,
    named: Option<&CarrierSlug>,
    tracking: &TrackingNumber,
) -> Result<Option<CarrierSlug>, IngestError> {
    if let Some(carrier) = named {
        if store.get_shipment(carrier, tracking).await?.is_some() {
            return Ok(Some(carrier.clone()));
        }
    }
    let known = store.find_shipments(tracking).await?;
    match (known.as_slice(), named) {
        ([only], _) => Ok(Some(only.carrier.clone())),
        (_, Some(carrier)) => Ok(Some(carrier.clone())),
        ([], None) => Ok(None),
        (_, None) => {
            tracing::warn!(
                candidates = known.len(),
                "fulfilment names no carrier and its tracking number is ambiguous; parked"
            );
            Ok(None)
        }
    }
}

async fn attach(
    store: &dyn Store,
    carrier: &CarrierSlug,
    tracking: &TrackingNumber,
    link: &OrderLink,
    now: DateTime<Utc>,
) -> Result<(), IngestError> {
    for _ in 0..MAX_ATTEMPTS {
        let existing = store.get_shipment(carrier, tracking).await?;
        let (mut shipment, expected_version) = match existing {
            Some(shipment) if shipment.order.as_ref() == Some(link) => return Ok(()),
            Some(shipment) => {
                let version = shipment.version;
                (shipment, Some(version))
            }
            None => (Shipment::new(carrier.clone(), tracking.clone(), now), None),
        };
        shipment.order = Some(link.clone());
        shipment.updated_at = now;
        let write = ShipmentWrite {
            expected_version,
            dedupe_key: None,
            consume_pending_link: false,
        };
        match store.save_shipment(&shipment, write).await {
            Ok(()) => return Ok(()),
            Err(WriteError::Conflict | WriteError::Duplicate) => continue,
            Err(WriteError::Store(e)) => return Err(e.into()),
        }
    }
    Err(IngestError::Contention)
}
