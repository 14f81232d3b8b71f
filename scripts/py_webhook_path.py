#!/usr/bin/env python3
"""The webhook CPU path in Python's standard library, for a side-by-side figure with criterion.

The same three bodies criterion measures (tests/fixtures/providers/): verify the provider's
signature in constant time, parse the JSON, and normalize it to the fields Doorstep keeps (status
from the provider's table, times parsed to UTC, texts and places). No storage, as in criterion.

Usage: scripts/py_webhook_path.py [ITERATIONS]   prints the median microseconds per body
"""
import base64, hashlib, hmac, json, os, statistics, sys, time
from datetime import datetime, timezone
from decimal import Decimal

SECRET = b"bench-secret"
ROOT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "providers")
EASYPOST_STATUS = {"pre_transit": "info_received", "in_transit": "in_transit", "out_for_delivery": "out_for_delivery",
                   "delivered": "delivered", "available_for_pickup": "available_for_pickup",
                   "return_to_sender": "returned_to_sender", "failure": "exception", "cancelled": "exception",
                   "error": "exception", "unknown": "unknown"}
GENERIC_STATUS = {s: s for s in ("info_received", "in_transit", "out_for_delivery", "failed_attempt",
                                 "available_for_pickup", "delivered", "exception", "returned_to_sender")}


def utc(text):
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def easypost(headers, body):
    expected = "hmac-sha256-hex=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers["x-hmac-signature"]):
        raise PermissionError("signature")
    event = json.loads(body)
    tracker = event["result"]
    events = [{
        "status": EASYPOST_STATUS.get(d.get("status"), "unknown"),
        "at": utc(d.get("datetime")),
        "description": (d.get("message") or "")[:500],
        "location": ", ".join(v for v in ((d.get("tracking_location") or {}).get(k) for k in ("city", "state", "country")) if v),
        "code": d.get("status_detail") or "",
    } for d in tracker.get("tracking_details") or []]
    return {"carrier": tracker["carrier"].lower(), "tracking": tracker["tracking_code"].upper(),
            "delivery_id": event["id"], "estimated": utc(tracker.get("est_delivery_date")), "events": events}


def shopify(headers, body):
    expected = base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected, headers["x-shopify-hmac-sha256"]):
        raise PermissionError("signature")
    order = json.loads(body)
    customer = order.get("customer") or {}
    address = order.get("shipping_address") or {}
    return {"id": str(order["id"]), "name": order.get("name"), "email": (order.get("email") or "").lower(),
            "phone": order.get("phone") or address.get("phone"), "locale": order.get("customer_locale"),
            "created": utc(order.get("created_at")), "currency": order.get("currency"),
            "subtotal": Decimal(order.get("subtotal_price") or "0"),
            "customer": {"id": customer.get("id"), "first_name": customer.get("first_name"),
                         "marketing": bool(order.get("buyer_accepts_marketing"))},
            "city": address.get("city"), "country": address.get("country_code"),
            "items": [{"id": i.get("id"), "product": i.get("product_id"), "title": i.get("title"),
                       "quantity": int(i.get("quantity") or 0), "price": Decimal(i.get("price") or "0")}
                      for i in order.get("line_items") or []]}


def generic(headers, body):
    parts = dict(p.split("=", 1) for p in headers["doorstep-signature"].split(","))
    expected = hmac.new(SECRET, parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts["v1"]) or abs(time.time() - int(parts["t"])) > 300:
        raise PermissionError("signature")
    update = json.loads(body)
    return {"carrier": update["carrier"].lower(), "tracking": update["tracking_number"].replace(" ", "").upper(),
            "delivery_id": update.get("event_id"),
            "events": [{"status": GENERIC_STATUS.get(e["status"], "unknown"), "reason": e.get("reason"),
                        "at": utc(e["occurred_at"]), "description": e.get("description", "")[:500],
                        "location": e.get("location"), "code": e.get("code", "")}
                       for e in update.get("events") or []]}


def fixture(name):
    with open(os.path.join(ROOT, name), "rb") as f:
        return f.read()


def median_us(fn, headers, body, iterations):
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn(headers, body)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    ep = fixture("easypost_tracker_updated_in_transit.json")
    so = fixture("shopify_orders_create_sample.json")
    ge = fixture("generic_carrier_update.json")
    t = str(int(time.time()))
    cases = [
        ("EasyPost tracker.updated", easypost, ep,
         {"x-hmac-signature": "hmac-sha256-hex=" + hmac.new(SECRET, ep, hashlib.sha256).hexdigest()}),
        ("Shopify orders/create", shopify, so,
         {"x-shopify-hmac-sha256": base64.b64encode(hmac.new(SECRET, so, hashlib.sha256).digest()).decode()}),
        ("generic carrier", generic, ge,
         {"doorstep-signature": f"t={t},v1=" + hmac.new(SECRET, t.encode() + b"." + ge, hashlib.sha256).hexdigest()}),
    ]
    for name, fn, body, headers in cases:
        print(f"python stdlib {name} ({len(body) / 1024:.1f} KB): {median_us(fn, headers, body, iterations):.1f} µs")


if __name__ == "__main__":
    main()
