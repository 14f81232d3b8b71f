//! The JSON views Doorstep serves of its records.

use crate::model::Shipment;
use serde_json::{json, Value};

/// `GET /api/shipments/{carrier}/{tracking_number}`.
pub fn shipment_json(shipment: &Shipment) -> Value {
    json!({
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "status": shipment.status,
        "reason": shipment.reason,
        "status_at": shipment.status_at.map(|t| t.to_rfc3339()),
        "order_id": shipment.order_id(),
        "fulfillment_id": shipment.order.as_ref().and_then(|o| o.fulfillment_id.clone()),
        "items": shipment.order.as_ref().map(|o| o.items.clone()).unwrap_or_default(),
        "tracking_token": shipment.tracking_token,
        "estimated_delivery": shipment.estimated_delivery.as_ref().map(|e| e.latest.to_string()),
        "original_estimated_delivery": shipment.estimated_delivery.as_ref().map(|e| e.original.to_string()),
        "events": shipment.events.iter().map(|e| json!({
            "status": e.status,
            "reason": e.reason,
            "occurred_at": e.occurred_at.to_rfc3339(),
            "description": e.description,
            "location": e.location,
            "code": e.raw_code,
        })).collect::<Vec<_>>(),
        "delivery_choice": shipment.delivery_choice.as_ref().map(|c| json!({
            "choice": c.choice,
            "date": c.date.map(|d| d.to_string()),
            "note": c.note,
            "chosen_at": c.chosen_at.to_rfc3339(),
            "attempt": c.attempt,
        })),
        "created_at": shipment.created_at.to_rfc3339(),
        "updated_at": shipment.updated_at.to_rfc3339(),
    })
}
