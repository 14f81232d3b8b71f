#!/usr/bin/env bash
# Fuzzes every parser with cargo-fuzz (libFuzzer), FUZZ_SECONDS each (default 60), seeded with the
# provider fixtures. Installs cargo-fuzz if missing. Uses the nightly toolchain when the machine has
# one, else the stable one with RUSTC_BOOTSTRAP (cargo-fuzz needs -Z flags).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"

if ! cargo fuzz --help >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  toolchain=()
  export RUSTC_BOOTSTRAP=1
fi

targets=$(sed -n 's/^name = "\(.*\)"/\1/p' fuzz/Cargo.toml | grep -v '^doorstep-fuzz$')
cargo "${toolchain[@]}" fuzz build --sanitizer none --release >/dev/null 2>&1 || cargo "${toolchain[@]}" fuzz build --sanitizer none --release

seed() { # target -> fixture files it starts from
  case "$1" in
    easypost) ls tests/fixtures/providers/easypost_*.json ;;
    aftership) ls tests/fixtures/providers/aftership_*.json ;;
    shippo) ls tests/fixtures/providers/shippo_*.json ;;
    seventeen_track) ls tests/fixtures/providers/17track_*.json ;;
    ups) ls tests/fixtures/providers/ups_*.json ;;
    generic_carrier) ls tests/fixtures/providers/generic_carrier_*.json ;;
    generic_store) ls tests/fixtures/providers/generic_store_*.json ;;
    *) true ;;
  esac
}

for target in $targets; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  for file in $(seed "$target"); do cp "$file" "$corpus/"; done
  case "$target" in
    # The first byte picks the topic: 1 orders/updated, 6 products/update, 7 refunds/create.
    shopify) for f in tests/fixtures/providers/shopify_*.json; do
        case "$f" in *product*) topic='\006' ;; *refund*) topic='\007' ;; *) topic='\001' ;; esac
        { printf "$topic"; cat "$f"; } > "$corpus/$(basename "$f")"; done ;;
    # 0 order.created, 3 product.updated.
    woocommerce) { printf '\000'; cat tests/fixtures/providers/woocommerce_order_created_rest_v3_example.json; } > "$corpus/order.json"
      { printf '\003'; cat tests/fixtures/providers/woocommerce_product_rest_v3_example.json; } > "$corpus/product.json" ;;
    tracking) printf '\006%s' 'choice=safe_place&note=%3Cb%3Eback+door%3C%2Fb%3E&date=2026-11-30' > "$corpus/form" ;;
    generic_loyalty) printf '%s' '{"event_id":"txn-1","customer":{"id":"shopify:7","email":"nok@example.com"},"type":"earn","points":120,"reason":"welcome","occurred_at":"2026-11-01T10:00:00Z","expires_at":"2027-11-01T00:00:00Z"}' > "$corpus/earn.json" ;;
    # 0 subscription/created, 3 customer/updated.
    recharge) { printf '\000'; cat tests/fixtures/providers/recharge_subscription_2021_11.json; } > "$corpus/subscription.json"
      { printf '\003'; cat tests/fixtures/providers/recharge_customer_2021_11.json; } > "$corpus/customer.json" ;;
    judgeme) cp tests/fixtures/providers/judgeme_review_created.json "$corpus/" ;;
    generic_review) printf '%s' '{"event_id":"r-1","review":{"id":"9","rating":1,"product_id":"p-1","order_id":"1001","title":"Broke","body":"<b>bad</b>","created_at":"2026-11-20T09:00:00Z","customer":{"id":"c-1","email":"nok@example.com"}}}' > "$corpus/review.json" ;;
    generic_subscription) printf '%s' '{"event_id":"s-1","subscription":{"id":"sub-1","status":"active","interval_days":30,"next_charge_at":"2026-12-10","currency":"THB","items":[{"product_id":"p-1","title":"Coffee","quantity":2,"price":"390.00"}],"customer":{"id":"c-1","email":"nok@example.com","timezone":"Asia/Bangkok"}}}' > "$corpus/subscription.json" ;;
    phone) printf 'TH081-234-5678' > "$corpus/th"; printf 'US+1 (650) 253-0000 ext. 12' > "$corpus/us"
      printf 'ARtel:011 15-2345-6789;phone-context=+54' > "$corpus/ar" ;;
    manage_form) printf '\001%s' 'date=2026-12-08&quantity=3&reason=too+much' > "$corpus/form" ;;
    ses_feedback) printf '%s' '{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"a@example.com"}]}}' > "$corpus/bounce.json" ;;
    preferences_form) printf '%s' 'transactional_email=on&marketing_sms=on' > "$corpus/form" ;;
    render) printf '\003%s' 'Nok <script>alert(1)</script> ข้อความ' > "$corpus/name" ;;
    # zone, locale, an old shipment with two scans at the ends of time and an estimate, a new one.
    notify) printf '\002\001\001\001\002\004\000\001\001\000\002\002\004\003\003\003' > "$corpus/extremes" ;;
  esac
  echo "-- fuzz $target for ${seconds}s"
  cargo "${toolchain[@]}" fuzz run --sanitizer none --release "$target" "$corpus" -- \
    -max_total_time="$seconds" -max_len=65536 -dict=fuzz/dates.dict -print_final_stats=1 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|panicked|SUMMARY' || true
  if [ -n "$(ls fuzz/artifacts/"$target" 2>/dev/null)" ]; then
    echo "fuzz target $target found a crash: fuzz/artifacts/$target" >&2
    exit 1
  fi
done
echo "fuzzing finished: no crashes"
