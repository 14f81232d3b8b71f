#!/usr/bin/env python3
"""Fills a running doorstep-local with a small shop, through the real signed webhooks:

- a catalog of eight products (one out of stock, one no longer sold);
- forty orders from other shoppers, so Doorstep learns what is bought together;
- Somchai's earlier order, and his new order split into two parcels: the first just missed
  delivery (so its page offers delivery choices), the second is in transit and running late;
- Somchai's coffee subscription, renewing in three days: its renewal reminder goes out at once
  and carries the link to his passwordless manage page.

Prints the tracking page links and the manage page's. Python's standard library only.

    scripts/demo.py                       # runner on 127.0.0.1:3000, secrets from ./.doorstep
    scripts/demo.py --url http://127.0.0.1:4000 --data-dir /tmp/doorstep --json
"""

import argparse
import datetime as dt
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

PRODUCTS = [
    ("p-1", "Cotton tee", "390.00", True, True),
    ("p-2", "Linen overshirt", "1290.00", True, True),
    ("p-3", "Canvas tote", "450.00", True, True),
    ("p-4", "Bamboo socks, 3 pairs", "290.00", True, True),
    ("p-5", "Packable rain jacket", "1890.00", True, True),
    ("p-6", "Wide-brim sun hat", "690.00", True, True),
    ("p-7", "Travel mug (discontinued)", "550.00", False, True),
    ("p-8", "Leather card wallet", "990.00", True, False),
]

# (products in the order, how many orders like it)
HISTORY = [
    (["p-1", "p-2"], 12),
    (["p-1", "p-8"], 10),
    (["p-1", "p-7"], 9),
    (["p-1", "p-3"], 8),
    (["p-5", "p-6"], 6),
    (["p-4"], 5),
]


def stored_secrets(data_dir):
    try:
        with open(os.path.join(data_dir, "secrets.json"), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


class Shop:
    def __init__(self, url, secret, admin_token):
        self.url = url.rstrip("/")
        self.secret = secret.encode()
        self.admin_token = admin_token

    def post(self, path, payload):
        body = json.dumps(payload).encode()
        t = str(int(time.time()))
        v1 = hmac.new(self.secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            self.url + path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Doorstep-Signature": f"t={t},v1={v1}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as e:
            sys.exit(f"{path}: {e.code} {e.read().decode(errors='replace')}")

    def store(self, payload):
        return self.post("/webhooks/stores/generic", payload)

    def carrier(self, payload):
        return self.post("/webhooks/carriers/generic", payload)

    def admin(self, method, path):
        request = urllib.request.Request(
            self.url + path, method=method, data=b"" if method == "POST" else None,
            headers={"Authorization": f"Bearer {self.admin_token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def shipment(self, carrier, number):
        request = urllib.request.Request(
            f"{self.url}/api/shipments/{carrier}/{number}",
            headers={"Authorization": f"Bearer {self.admin_token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


def iso(moment):
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def order(order_id, customer, items, when, city="Bangkok", fulfillments=()):
    return {
        "type": "order",
        "event_id": f"order-{order_id}",
        "order": {
            "id": order_id,
            "name": f"#{order_id}",
            "currency": "THB",
            "created_at": iso(when),
            "updated_at": iso(when),
            "customer": customer,
            "shipping_address": {"country_code": "TH", "province_code": "CM", "city": city},
            "line_items": [
                {"id": f"{order_id}-{i}", "product_id": p, "title": title(p), "price": price(p), "quantity": 1}
                for i, p in enumerate(items, 1)
            ],
            "fulfillments": list(fulfillments),
        },
    }


def title(product):
    return next(t for p, t, *_ in PRODUCTS if p == product)


def price(product):
    return next(pr for p, _, pr, *_ in PRODUCTS if p == product)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--data-dir", default=os.environ.get("DOORSTEP_DATA_DIR", "./.doorstep"))
    parser.add_argument("--secret", help="the generic webhook secret (default: DOORSTEP_SECRET_GENERIC, else the data dir's)")
    parser.add_argument("--admin-token", help="default: DOORSTEP_ADMIN_TOKEN, else the data dir's")
    parser.add_argument("--locale", default="th", help="Somchai's language (th or en)")
    parser.add_argument("--run", default=str(int(time.time())), help="makes the ids of this run unique")
    parser.add_argument("--json", action="store_true", help="print the links as JSON")
    args = parser.parse_args()

    stored = stored_secrets(args.data_dir)
    secret = args.secret or os.environ.get("DOORSTEP_SECRET_GENERIC") or stored.get("GENERIC")
    admin = args.admin_token or os.environ.get("DOORSTEP_ADMIN_TOKEN") or stored.get("ADMIN_TOKEN")
    if not secret or not admin:
        sys.exit("no secrets: pass --secret and --admin-token, or --data-dir of the running doorstep-local")
    shop = Shop(args.url, secret, admin)
    run = args.run
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    today = now.date()

    for pid, name, amount, active, in_stock in PRODUCTS:
        shop.store({
            "type": "product",
            "event_id": f"product-{pid}-{run}",
            "product": {
                "id": pid, "title": name, "price": amount, "currency": "THB",
                "url": f"https://shop.example.com/products/{pid}",
                "image_url": f"https://cdn.shop.example.com/images/{pid}.jpg",
                "active": active, "in_stock": in_stock, "updated_at": iso(now - dt.timedelta(days=40)),
            },
        })

    n = 0
    for items, count in HISTORY:
        for _ in range(count):
            n += 1
            guest = {"id": f"guest-{run}-{n}", "first_name": "Guest", "email": f"guest{n}@example.com"}
            shop.store(order(f"{run}{n:03d}", guest, items, now - dt.timedelta(days=20, hours=n)))

    somchai = {
        "id": f"somchai-{run}", "first_name": "Somchai", "email": "somchai@example.co.th",
        "phone": "081 234 5678", "locale": args.locale, "timezone": "Asia/Bangkok",
        "accepts_email_marketing": True, "accepts_sms_marketing": False,
    }
    shop.store(order(f"{run}900", somchai, ["p-3"], now - dt.timedelta(days=60)))
    first, second = f"TH{run}01", f"TH{run}02"
    order_id = f"{run}901"
    shop.store(order(order_id, somchai, ["p-1", "p-5"], now - dt.timedelta(days=3), city="Chiang Mai"))
    for i, (number, line) in enumerate([(first, 1), (second, 2)], 1):
        shop.store({
            "type": "fulfillment",
            "event_id": f"fulfillment-{order_id}-{i}",
            "fulfillment": {
                "id": f"f-{order_id}-{i}", "order_id": order_id, "carrier": "Thailand Post",
                "tracking_number": number, "line_items": [{"line_item_id": f"{order_id}-{line}", "quantity": 1}],
            },
        })

    def scan(number, status, hours_ago, description, location=None, reason=None, estimate=None):
        event = {"status": status, "occurred_at": iso(now - dt.timedelta(hours=hours_ago)),
                 "description": description, "code": status.upper()}
        if location:
            event["location"] = location
        if reason:
            event["reason"] = reason
        payload = {"carrier": "thailand-post", "tracking_number": number,
                   "event_id": f"{number}-{status}-{hours_ago}", "events": [event]}
        if estimate:
            payload["estimated_delivery"] = estimate.isoformat()
        shop.carrier(payload)

    scan(first, "info_received", 52, "Shipping label created", "Bangkok", estimate=today + dt.timedelta(days=1))
    scan(first, "in_transit", 30, "Departed sorting centre", "Lak Si Mail Centre")
    scan(first, "in_transit", 14, "Arrived at delivery office", "Chiang Mai")
    scan(first, "out_for_delivery", 5, "Out for delivery", "Chiang Mai")
    scan(first, "failed_attempt", 2, "Nobody home to sign for the parcel", "Chiang Mai", reason="recipient")
    scan(second, "info_received", 50, "Shipping label created", "Bangkok", estimate=today + dt.timedelta(days=1))
    scan(second, "in_transit", 20, "In transit to the destination hub", "Nakhon Sawan",
         estimate=today + dt.timedelta(days=3))

    links = {}
    for name, number in [("failed_attempt", first), ("in_transit", second)]:
        shipment = shop.shipment("thailand-post", number)
        links[name] = {"tracking_number": number, "token": shipment["tracking_token"],
                       "url": f"{shop.url}/t/{shipment['tracking_token']}"}
    shop.post("/webhooks/subscriptions/generic", {
        "event_id": f"subscription-{run}",
        "subscription": {
            "id": f"coffee-{run}", "status": "active", "interval_days": 30,
            "next_charge_at": (today + dt.timedelta(days=3)).isoformat(), "currency": "THB",
            "items": [{"product_id": "p-9", "title": "Doi Chang coffee beans, 500 g", "quantity": 2, "price": "420.00"}],
            "customer": {"id": somchai["id"], "email": somchai["email"], "phone": somchai["phone"],
                         "locale": args.locale, "timezone": "Asia/Bangkok", "first_name": "Somchai"},
        },
    })
    shop.admin("POST", "/api/jobs/renewal-reminders/run")
    marker = "/s/"
    for entry in shop.admin("GET", "/api/outbox"):
        body = entry.get("body") or ""
        if entry.get("message") == "renewal_reminder" and marker in body:
            token = body.split(marker, 1)[1].split()[0].rstrip(".,)")
            links["subscription"] = {"token": token, "url": f"{shop.url}/s/{token}"}
            break
    if args.json:
        print(json.dumps(links))
    else:
        print("Tracking pages (open on a phone-sized window):")
        for name in ("failed_attempt", "in_transit"):
            print(f"  {name:15} {links[name]['url']}")
        print(f"  English:        {links['failed_attempt']['url']}?lang=en")
        if "subscription" in links:
            print("Somchai's subscription, from the renewal reminder just sent:")
            print(f"  manage page     {links['subscription']['url']}")


if __name__ == "__main__":
    main()
