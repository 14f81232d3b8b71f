//! Application services: apply carrier updates and store events through the `Store` port.
//! Every write is conditional on the version read; a conflict means "read again and re-apply"
//! ([`optimistic::with_retries`]).

use crate::catalog::{self, Neighbours, Product};
use crate::ids::{CarrierSlug, CustomerId, OrderId, ProductId, TrackingNumber};
use crate::model::{
    Customer, Order, OrderLink, PendingLink, Provider, Shipment, ShipmentRef, TrackingEvent,
    TrackingUpdate,
};
use crate::notify::milestones::concerns_notifier;
use crate::optimistic::{self, UpdateError};
use crate::ports::{Freshness, ShipmentWrite, Store, StoreError, WriteError};
use crate::rules;
use crate::store_events::{
    FulfillmentSnapshot, MerchantDefaults, OrderSnapshot, ProductSnapshot, RefundSnapshot,
    StoreEvent,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("too many concurrent writers to one record")]
    Contention,
}

impl From<UpdateError> for IngestError {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::Store(e) => Self::Store(e),
            UpdateError::Contended => Self::Contention,
        }
    }
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

/// The shipment an update applies to, as stored, or new (taking over a parked fulfilment).
async fn shipment_for_update(
    store: &dyn Store,
    update: &TrackingUpdate,
    freshness: Freshness,
    now: DateTime<Utc>,
) -> Result<(Shipment, ShipmentWrite), StoreError> {
    if let Some(shipment) = store
        .read_shipment(&update.carrier, &update.tracking_number, freshness)
        .await?
    {
        let write = ShipmentWrite {
            expected_version: Some(shipment.version),
            ..ShipmentWrite::default()
        };
        return Ok((shipment, write));
    }
    let mut shipment = Shipment::new(update.carrier.clone(), update.tracking_number.clone(), now);
    // A fulfilment that named no carrier may be waiting for exactly this parcel.
    let pending = store.get_pending_link(&update.tracking_number).await?;
    let write = ShipmentWrite {
        expected_version: None,
        consume_pending_link: pending.is_some(),
        quiet: false,
    };
    shipment.order = pending.map(|p| p.link);
    Ok((shipment, write))
}

/// Applies one carrier update with a single conditional write (retried on conflict). The first
/// attempt reads the parcel as a replica has it: a stale copy either already holds this
/// delivery (then so does the latest, whose history only grows) or ends in a version conflict
/// and a re-read of the latest.
#[tracing::instrument(name = "tracking_update", skip_all, fields(parcel = %update.key().redacted()))]
pub async fn apply_tracking_update(
    store: &dyn Store,
    update: &TrackingUpdate,
    now: DateTime<Utc>,
) -> Result<UpdateOutcome, IngestError> {
    let digest = &Shipment::delivery_digest(&update.dedupe_key());
    let outcome = optimistic::with_retries_reading(move |freshness| async move {
        let (mut shipment, mut write) = shipment_for_update(store, update, freshness, now).await?;
        // A redelivery (the sender retried, or sent the same event twice) changes nothing.
        if shipment.has_applied(digest) {
            return Ok(UpdateOutcome::Duplicate);
        }
        let before = write.expected_version.is_some().then(|| shipment.clone());
        let applied = rules::apply_update(&mut shipment, update, now);
        if before.is_some() && !applied.changed() {
            // Another delivery said the same things.
            return Ok(UpdateOutcome::Unchanged);
        }
        // A later scan that moves nothing the notifier acts on (an in-transit scan, the same
        // estimate again) needs no notifier, nor does a parcel no order claims yet.
        write.quiet = !concerns_notifier(before.as_ref(), &shipment);
        shipment.remember_delivery(digest.clone());
        match store.save_shipment(&shipment, write).await {
            Ok(()) => Ok(UpdateOutcome::Applied),
            Err(WriteError::Duplicate) => Ok(UpdateOutcome::Duplicate),
            Err(e) => Err(e),
        }
    })
    .await?;
    tracing::debug!(?outcome, "tracking update");
    Ok(outcome)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreOutcome {
    Applied,
    Duplicate,
    Ping,
}

/// Applies a store event. A delivery touches several records (customer, order, parcels), so
/// instead of one transaction every step is an idempotent upsert that writes only what is new.
/// A redelivery, or a retry after a failure part way, redoes the steps harmlessly, and one that
/// finds nothing new to write is answered `duplicate`: no dedupe record of its own is kept (it
/// cost a read and a write on every delivery, for the rare redelivery).
#[tracing::instrument(name = "store_event", skip_all)]
pub async fn apply_store_event(
    store: &dyn Store,
    event: StoreEvent,
    defaults: &MerchantDefaults,
    now: DateTime<Utc>,
) -> Result<StoreOutcome, IngestError> {
    let wrote = match event {
        StoreEvent::Ping => return Ok(StoreOutcome::Ping),
        StoreEvent::Order(snapshot) => apply_order(store, *snapshot, defaults, now).await?,
        StoreEvent::Fulfillment(fulfillment) => {
            let (refs, linked) = link_fulfillment(store, &fulfillment, now).await?;
            let id = OrderId::new(fulfillment.platform, &fulfillment.order_external_id);
            let listed = add_shipments_to_order(
                store,
                &id,
                fulfillment.platform,
                &fulfillment.order_external_id,
                &refs,
                now,
            )
            .await?;
            linked || listed
        }
        StoreEvent::Product(snapshot) => apply_product(store, *snapshot, now).await?,
        StoreEvent::Refund(refund) => apply_refund(store, refund, now).await?,
    };
    Ok(match wrote {
        true => StoreOutcome::Applied,
        false => StoreOutcome::Duplicate,
    })
}

/// Whether a step wrote anything.
type Wrote = bool;

async fn apply_order(
    store: &dyn Store,
    snapshot: OrderSnapshot,
    defaults: &MerchantDefaults,
    now: DateTime<Utc>,
) -> Result<Wrote, IngestError> {
    let id = snapshot.order_id();
    let stored = store.get_order(&id).await?;
    // An older snapshot (webhooks arrive out of order) must not revert the order or the customer.
    let stale = is_stale(
        stored.as_ref().and_then(|o| o.source_updated_at),
        snapshot.updated_at,
    );
    let customer = snapshot.customer.clone().into_customer(
        snapshot.platform,
        &snapshot.external_id,
        defaults,
        now,
    );
    let customer_id = customer.id.clone();
    let mut wrote = false;
    if !stale {
        let history = purchase_history(&snapshot, stored.as_ref());
        wrote |= upsert_customer(store, customer, &history).await?;
    }
    let mut refs = Vec::new();
    for fulfillment in &snapshot.fulfillments {
        let (linked, linked_wrote) = link_fulfillment(store, fulfillment, now).await?;
        refs.extend(linked);
        wrote |= linked_wrote;
    }
    let (id, snapshot, customer_id, refs) = (&id, &snapshot, &customer_id, &refs);
    // The first attempt merges into the order read above; a conflict re-reads it.
    let mut first_read = Some(stored);
    let (saved, counted) = optimistic::with_retries(move || {
        let taken = first_read.take();
        async move {
            let existing = match taken {
                Some(stored) => stored,
                None => store.get_order(id).await?,
            };
            let expected = existing.as_ref().map(|o| o.version);
            let merged = merge_order(existing.as_ref(), snapshot, customer_id, refs, now);
            let changed = merged.is_some();
            let Some(mut order) = merged.or(existing) else {
                return Ok((false, None));
            };
            // The order is counted into the recommendations once, flagged in the same write.
            let count_now = !order.counted && !order.cancelled && order.customer_id.is_some();
            if !changed && !count_now {
                return Ok((false, None));
            }
            order.counted |= count_now;
            store.save_order(&order, expected).await?;
            Ok((true, count_now.then_some(order)))
        }
    })
    .await?;
    if let Some(order) = counted {
        count_purchases(store, &order, now).await?;
    }
    Ok(wrote || saved)
}

/// What an order adds to its customer's histories: the products bought, and those refunded.
struct PurchaseHistory {
    bought: Vec<ProductId>,
    refunded: Vec<ProductId>,
}

fn purchase_history(snapshot: &OrderSnapshot, stored: Option<&Order>) -> PurchaseHistory {
    let product = |line: &crate::model::LineItem| {
        line.product_id
            .as_deref()
            .map(|p| ProductId::new(snapshot.platform, p))
    };
    let refunded_lines = stored
        .map(|o| o.refunded_line_items.as_slice())
        .unwrap_or(&[]);
    PurchaseHistory {
        bought: snapshot.line_items.iter().filter_map(product).collect(),
        refunded: snapshot
            .line_items
            .iter()
            .filter(|l| snapshot.refunded || refunded_lines.contains(&l.id))
            .filter_map(product)
            .collect(),
    }
}

/// Counts a newly counted order's products into co-purchases and the day's sales, once: the
/// order's `counted` flag was set in the conditional write that saved it (only one writer can
/// set it), then the counts follow. A crash between the two loses one order's counts rather
/// than doubling them.
async fn count_purchases(
    store: &dyn Store,
    order: &Order,
    now: DateTime<Utc>,
) -> Result<(), IngestError> {
    let products = catalog::counted_products(order);
    if products.len() > 1 {
        for product in &products {
            add_neighbours(store, product, &products).await?;
        }
    }
    let day = order.created_at.unwrap_or(now).date_naive();
    store.add_sales(day, &order.id, &products).await?;
    Ok(())
}

async fn add_neighbours(
    store: &dyn Store,
    product: &ProductId,
    bought_with: &[ProductId],
) -> Result<(), IngestError> {
    optimistic::with_retries(move || async move {
        let stored = store
            .get_neighbours(std::slice::from_ref(product))
            .await?
            .into_iter()
            .next();
        let expected = stored.as_ref().map(|n| n.version);
        let mut list = stored.unwrap_or_else(|| Neighbours::new(product.clone()));
        list.add(bought_with);
        store.save_neighbours(&list, expected).await
    })
    .await?;
    Ok(())
}

/// A product from the store: kept as the newest snapshot says (an older one changes nothing).
async fn apply_product(
    store: &dyn Store,
    snapshot: ProductSnapshot,
    now: DateTime<Utc>,
) -> Result<Wrote, IngestError> {
    let id = &ProductId::new(snapshot.platform, &snapshot.external_id);
    let snapshot = &snapshot;
    let wrote = optimistic::with_retries(move || async move {
        let stored = store
            .get_products(std::slice::from_ref(id))
            .await?
            .into_iter()
            .next();
        if is_stale(
            stored.as_ref().and_then(|p| p.source_updated_at),
            snapshot.updated_at,
        ) {
            return Ok(false);
        }
        let expected = stored.as_ref().map(|p| p.version);
        let product = Product {
            id: id.clone(),
            title: snapshot.title.clone(),
            url: snapshot.url.clone(),
            handle: snapshot.handle.clone(),
            image_url: snapshot.image_url.clone(),
            price: snapshot.price.clone(),
            currency: snapshot.currency.clone(),
            active: snapshot.active,
            in_stock: snapshot.in_stock,
            product_type: snapshot.product_type.clone(),
            tags: snapshot.tags.clone(),
            source_updated_at: snapshot.updated_at,
            updated_at: now,
            version: expected.unwrap_or(0),
        };
        let unchanged = stored.as_ref().is_some_and(|stored| {
            Product {
                updated_at: stored.updated_at,
                ..product.clone()
            } == *stored
        });
        if unchanged {
            return Ok(false);
        }
        store.save_product(&product, expected).await?;
        Ok(true)
    })
    .await?;
    Ok(wrote)
}

/// A refund: the order remembers which lines were refunded (a refund for an order not seen yet
/// waits on a placeholder), and the customer never gets those products recommended.
async fn apply_refund(
    store: &dyn Store,
    refund: RefundSnapshot,
    now: DateTime<Utc>,
) -> Result<Wrote, IngestError> {
    let id = &OrderId::new(refund.platform, &refund.order_external_id);
    let refund = &refund;
    let (order, order_wrote) = optimistic::with_retries(move || async move {
        let existing = store.get_order(id).await?;
        let expected = existing.as_ref().map(|o| o.version);
        let mut order = existing.unwrap_or_else(|| {
            placeholder_order(id, refund.platform, &refund.order_external_id, now)
        });
        let lines: Vec<String> = match refund.line_item_ids.is_empty() {
            true => order.line_items.iter().map(|l| l.id.clone()).collect(),
            false => refund.line_item_ids.clone(),
        };
        let before = order.refunded_line_items.len();
        for line in lines {
            if !order.refunded_line_items.contains(&line) {
                order.refunded_line_items.push(line);
            }
        }
        let wrote = order.refunded_line_items.len() != before || expected.is_none();
        if wrote {
            order.updated_at = now;
            store.save_order(&order, expected).await?;
        }
        Ok((order, wrote))
    })
    .await?;
    let Some(customer_id) = &order.customer_id else {
        return Ok(order_wrote);
    };
    let mut products: Vec<ProductId> = refund
        .product_ids
        .iter()
        .map(|p| ProductId::new(refund.platform, p))
        .collect();
    for line in order
        .line_items
        .iter()
        .filter(|l| order.refunded_line_items.contains(&l.id))
    {
        if let Some(p) = line.product_id.as_deref() {
            products.push(ProductId::new(order.platform, p));
        }
    }
    let products = &products;
    let customer_wrote = optimistic::with_retries(move || async move {
        let Some(mut customer) = store.get_customer(customer_id).await? else {
            return Ok(false);
        };
        let expected = Some(customer.version);
        let remembered = Customer::remember(&mut customer.refunded, products);
        if remembered {
            store.save_customer(&customer, expected).await?;
        }
        Ok(remembered)
    })
    .await?;
    Ok(order_wrote || customer_wrote)
}

fn placeholder_order(
    id: &OrderId,
    platform: Provider,
    external_id: &str,
    now: DateTime<Utc>,
) -> Order {
    Order {
        id: id.clone(),
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
        ship_to_city: None,
        refunded_line_items: Vec::new(),
        counted: false,
        was_placeholder: false,
        version: 0,
    }
}

/// The order after a snapshot, or `None` when it changes nothing (an older snapshot that adds
/// no parcel).
fn merge_order(
    existing: Option<&Order>,
    snapshot: &OrderSnapshot,
    customer_id: &CustomerId,
    refs: &[ShipmentRef],
    now: DateTime<Utc>,
) -> Option<Order> {
    let stale = is_stale(
        existing.and_then(|o| o.source_updated_at),
        snapshot.updated_at,
    );
    let mut order = match existing {
        Some(existing) if stale => existing.clone(),
        existing => {
            let mut refunded = existing
                .map(|o| o.refunded_line_items.clone())
                .unwrap_or_default();
            if snapshot.refunded {
                for line in &snapshot.line_items {
                    if !refunded.contains(&line.id) {
                        refunded.push(line.id.clone());
                    }
                }
            }
            Order {
                id: snapshot.order_id(),
                platform: snapshot.platform,
                name: snapshot.name.clone(),
                customer_id: Some(customer_id.clone()),
                currency: snapshot.currency.clone(),
                line_items: snapshot.line_items.clone(),
                shipments: existing.map(|o| o.shipments.clone()).unwrap_or_default(),
                // A cancellation is final, whatever order the webhooks came in.
                cancelled: snapshot.cancelled || existing.is_some_and(|o| o.cancelled),
                created_at: snapshot.created_at,
                source_updated_at: snapshot.updated_at,
                updated_at: now,
                ship_to_city: snapshot.ship_to_city.clone(),
                refunded_line_items: refunded,
                counted: existing.is_some_and(|o| o.counted),
                was_placeholder: existing
                    .is_some_and(|o| o.customer_id.is_none() || o.was_placeholder),
                version: existing.map(|o| o.version).unwrap_or(0),
            }
        }
    };
    let added = merge_refs(&mut order.shipments, refs);
    if stale && !added {
        return None;
    }
    // A redelivered snapshot merges into what is stored already: nothing to write.
    if let Some(before) = existing {
        order.updated_at = before.updated_at;
        if order == *before {
            return None;
        }
    }
    order.updated_at = now;
    Some(order)
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

async fn upsert_customer(
    store: &dyn Store,
    incoming: Customer,
    history: &PurchaseHistory,
) -> Result<Wrote, IngestError> {
    let incoming = &incoming;
    let wrote = optimistic::with_retries(move || async move {
        let stored = store.get_customer(&incoming.id).await?;
        let expected = stored.as_ref().map(|c| c.version);
        let mut customer = match stored.clone() {
            Some(mut existing) => {
                existing.merge_from(incoming.clone());
                existing
            }
            None => incoming.clone(),
        };
        Customer::remember(&mut customer.purchased, &history.bought);
        Customer::remember(&mut customer.refunded, &history.refunded);
        // A fulfilment or a redelivered order usually says nothing new about the customer:
        // then the write (a write unit, and a version bump) is skipped.
        if let Some(stored) = &stored {
            let unchanged = Customer {
                updated_at: stored.updated_at,
                ..customer.clone()
            };
            if unchanged == *stored {
                return Ok(false);
            }
        }
        store.save_customer(&customer, expected).await?;
        Ok(true)
    })
    .await?;
    Ok(wrote)
}

/// A fulfilment that arrives before its order gets a placeholder order listing its parcels; the
/// order's own webhook fills in the rest.
async fn add_shipments_to_order(
    store: &dyn Store,
    id: &OrderId,
    platform: Provider,
    external_id: &str,
    refs: &[ShipmentRef],
    now: DateTime<Utc>,
) -> Result<Wrote, IngestError> {
    let wrote = optimistic::with_retries(move || async move {
        let existing = store.get_order(id).await?;
        let expected = existing.as_ref().map(|o| o.version);
        let mut order =
            existing.unwrap_or_else(|| placeholder_order(id, platform, external_id, now));
        if !merge_refs(&mut order.shipments, refs) && expected.is_some() {
            return Ok(false);
        }
        order.updated_at = now;
        // Another parcel on a known order changes nothing a message or the points depend on.
        match expected {
            Some(_) => store.save_order_quietly(&order, expected).await?,
            None => store.save_order(&order, expected).await?,
        }
        Ok(true)
    })
    .await?;
    Ok(wrote)
}

/// Ties each of a fulfilment's tracking numbers to the order, whichever came first.
async fn link_fulfillment(
    store: &dyn Store,
    fulfillment: &FulfillmentSnapshot,
    now: DateTime<Utc>,
) -> Result<(Vec<ShipmentRef>, Wrote), IngestError> {
    let link = OrderLink {
        order_id: OrderId::new(fulfillment.platform, &fulfillment.order_external_id),
        fulfillment_id: fulfillment.fulfillment_id.clone(),
        items: fulfillment.items.clone(),
    };
    let mut refs = Vec::with_capacity(fulfillment.tracking_numbers.len());
    let mut wrote = false;
    for tracking in &fulfillment.tracking_numbers {
        let (carrier, known) =
            resolve_carrier(store, fulfillment.carrier.as_ref(), tracking).await?;
        match &carrier {
            Some(carrier) => {
                wrote |= attach(store, carrier, tracking, known, &link, now).await?;
                if let Some(update) = reported_status(fulfillment, carrier, tracking) {
                    let outcome = apply_tracking_update(store, &update, now).await?;
                    wrote |= outcome == UpdateOutcome::Applied;
                }
            }
            None => {
                let pending = PendingLink {
                    tracking_number: tracking.clone(),
                    link: link.clone(),
                    created_at: now,
                };
                store.put_pending_link(&pending).await?;
                wrote = true;
            }
        }
        refs.push(ShipmentRef {
            carrier,
            tracking_number: tracking.clone(),
        });
    }
    Ok((refs, wrote))
}

/// A status the store itself reports for the parcel (Shopify's `shipment_status`), as an update.
fn reported_status(
    fulfillment: &FulfillmentSnapshot,
    carrier: &CarrierSlug,
    tracking: &TrackingNumber,
) -> Option<TrackingUpdate> {
    let reported = fulfillment.status.as_ref()?;
    Some(TrackingUpdate {
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
            raw_code: format!("{}:{}", fulfillment.platform.as_str(), reported.raw_code),
        }],
        estimated_delivery: None,
    })
}

/// The carrier a fulfilment's parcel is tracked under: the shipment already known under this
/// number when there is exactly one (carriers and stores spell carriers differently), else the
/// store's carrier, else none (parked until a carrier reports the number). With it, what was
/// read of the parcel under that carrier on the way (`Some(None)`: read, and not there yet), so
/// that attaching it does not read it again.
async fn resolve_carrier(
    store: &dyn Store,
    named: Option<&CarrierSlug>,
    tracking: &TrackingNumber,
) -> Result<(Option<CarrierSlug>, Option<Option<Shipment>>), IngestError> {
    if let Some(carrier) = named {
        if let Some(shipment) = store.get_shipment(carrier, tracking).await? {
            return Ok((Some(carrier.clone()), Some(Some(shipment))));
        }
    }
    let mut known = store.find_shipments(tracking).await?;
    match (known.len(), named) {
        (1, _) => {
            let only = known.pop();
            Ok((only.as_ref().map(|s| s.carrier.clone()), Some(only)))
        }
        (_, Some(carrier)) => Ok((Some(carrier.clone()), Some(None))),
        (0, None) => Ok((None, None)),
        (_, None) => {
            tracing::warn!(
                candidates = known.len(),
                "fulfilment names no carrier and its tracking number is ambiguous; parked"
            );
            Ok((None, None))
        }
    }
}

async fn attach(
    store: &dyn Store,
    carrier: &CarrierSlug,
    tracking: &TrackingNumber,
    first_read: Option<Option<Shipment>>,
    link: &OrderLink,
    now: DateTime<Utc>,
) -> Result<Wrote, IngestError> {
    // The first attempt uses what resolving the carrier read; a conflict reads again.
    let mut first_read = first_read;
    let wrote = optimistic::with_retries(move || {
        let taken = first_read.take();
        async move {
            let stored = match taken {
                Some(read) => read,
                None => store.get_shipment(carrier, tracking).await?,
            };
            let (mut shipment, expected_version) = match &stored {
                Some(shipment) if shipment.order.as_ref() == Some(link) => return Ok(false),
                Some(shipment) => (shipment.clone(), Some(shipment.version)),
                None => (Shipment::new(carrier.clone(), tracking.clone(), now), None),
            };
            shipment.order = Some(link.clone());
            shipment.updated_at = now;
            // A parcel made for the fulfilment, before any scan, has nothing to tell yet.
            let write = ShipmentWrite {
                expected_version,
                quiet: !concerns_notifier(stored.as_ref(), &shipment),
                ..ShipmentWrite::default()
            };
            store.save_shipment(&shipment, write).await?;
            Ok(true)
        }
    })
    .await?;
    Ok(wrote)
}
