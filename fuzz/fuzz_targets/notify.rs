//! Fuzzes the notifier's decisions and rendering on arbitrary shipments: any statuses, any event
//! times (chrono's extremes included), any estimate, any customer zone and clock. Milestones,
//! the policy and every message must come out without a panic (a stored record like this once
//! stopped the notifier for good).
#![no_main]

use doorstep_core::chrono::{DateTime, Duration, NaiveDate, Utc};
use doorstep_core::contact::Contact;
use doorstep_core::ids::{CarrierSlug, TrackingNumber};
use doorstep_core::model::{
    Consents, Customer, EstimatedDelivery, Order, OrderLink, Provider, Shipment, TrackingEvent,
};
use doorstep_core::notify::milestones::shipment_milestones;
use doorstep_core::notify::policy::{self, Suppressions};
use doorstep_core::notify::render::Renderer;
use doorstep_core::notify::service::{message_context, MessageSubject};
use doorstep_core::ids::{CustomerId, OrderId, Token};
use doorstep_core::notify::settings::Channel;
use doorstep_core::settings::Settings;
use doorstep_core::status::{ExceptionReason, ShipmentStatus};
use doorstep_core::timezone::TimezoneSource;
use libfuzzer_sys::fuzz_target;
use strum::VariantArray;
use std::sync::OnceLock;

const ZONES: [&str; 6] = [
    "America/New_York",
    "Europe/London",
    "Asia/Bangkok",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "UTC",
];

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(|| Renderer::new(None, 2))
}

/// Reads the fuzzer's bytes as a stream of small decisions.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *first
    }

    fn i64(&mut self) -> i64 {
        let mut raw = [0u8; 8];
        for b in &mut raw {
            *b = self.byte();
        }
        i64::from_le_bytes(raw)
    }

    fn instant(&mut self) -> DateTime<Utc> {
        match self.byte() % 4 {
            0 => DateTime::<Utc>::MIN_UTC,
            1 => DateTime::<Utc>::MAX_UTC,
            2 => DateTime::from_timestamp(self.i64(), 0).unwrap_or(DateTime::<Utc>::MAX_UTC),
            _ => DateTime::from_timestamp(1_714_000_000 + i64::from(self.byte()) * 3_600, 0)
                .unwrap_or_default(),
        }
    }

    fn date(&mut self) -> Option<NaiveDate> {
        match self.byte() % 3 {
            0 => None,
            1 => Some(NaiveDate::MAX),
            _ => NaiveDate::from_num_days_from_ce_opt((self.i64() % 100_000_000) as i32),
        }
    }

    fn shipment(&mut self) -> Shipment {
        let mut shipment = Shipment::new(
            CarrierSlug::parse("ups").unwrap_or_else(|| unreachable!()),
            TrackingNumber::parse("1Z1").unwrap_or_else(|| unreachable!()),
            DateTime::from_timestamp(1_714_000_000, 0).unwrap_or_default(),
        );
        shipment.order = (self.byte() % 8 != 0).then(|| OrderLink {
            order_id: OrderId::new(Provider::GenericStore, "1"),
            fulfillment_id: None,
            items: vec![],
        });
        for _ in 0..self.byte() % 6 {
            let status = ShipmentStatus::VARIANTS[self.byte() as usize % ShipmentStatus::VARIANTS.len()];
            let reason = ExceptionReason::VARIANTS.get(self.byte() as usize % 12).copied();
            shipment.events.push(TrackingEvent {
                status,
                reason,
                occurred_at: self.instant(),
                description: String::new(),
                location: None,
                raw_code: String::new(),
            });
        }
        if let Some(last) = shipment.events.last() {
            shipment.status = last.status;
            shipment.reason = last.reason;
            shipment.status_at = Some(last.occurred_at);
        }
        if let (Some(original), Some(latest)) = (self.date(), self.date()) {
            shipment.estimated_delivery = Some(EstimatedDelivery {
                original,
                original_as_of: None,
                latest,
                as_of: Some(self.instant()),
            });
        }
        shipment
    }
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = Bytes(data);
    let zone = ZONES[bytes.byte() as usize % ZONES.len()];
    let customer = Customer {
        id: CustomerId::of_store_customer(Provider::GenericStore, "c"),
        first_name: Some("Nok".into()),
        email: Some(Contact::email("nok@example.com")),
        phone: Some(Contact::phone("+66812345678", None)),
        locale: if bytes.byte() % 2 == 0 {
            "th".into()
        } else {
            "en".into()
        },
        timezone: zone.into(),
        timezone_source: TimezoneSource::Profile,
        consents: Consents::default(),
        tier: None,
        marketing_suppressed_until: None,
        purchased: vec![],
        refunded: vec![],
        disliked: vec![],
        preferences_token: Token::random(),
        updated_at: DateTime::<Utc>::MIN_UTC,
        version: 1,
    };
    let order = Order {
        id: OrderId::new(Provider::GenericStore, "1"),
        platform: Provider::GenericStore,
        name: "#1".into(),
        customer_id: Some(customer.id.clone()),
        currency: None,
        line_items: vec![],
        shipments: vec![],
        cancelled: false,
        created_at: None,
        source_updated_at: None,
        updated_at: DateTime::<Utc>::MIN_UTC,
        ship_to_city: None,
        refunded_line_items: vec![],
        counted: false,
        was_placeholder: false,
        version: 1,
    };
    let old = (bytes.byte() % 3 != 0).then(|| bytes.shipment());
    let new = bytes.shipment();
    let now = bytes.instant();
    let settings = Settings::default();
    let tz = policy::zone(&customer, &settings);
    for reached in shipment_milestones(old.as_ref(), &new, tz) {
        let message = reached.occasion.message;
        let plan = policy::plan(
            message,
            &customer,
            Suppressions::default(),
            &settings,
            now,
        );
        let _ = policy::quiet_until(
            settings.quiet_hours.unwrap_or_else(|| unreachable!()),
            tz,
            now + Duration::zero(),
        );
        let context = message_context(
            &settings,
            &MessageSubject {
                message,
                customer: &customer,
                order: Some(&order),
                shipment: Some(&new),
                parcels_remaining: 0,
                points: None,
                subscription: None,
                alert: None,
                detail: None,
            },
        );
        for (channel, _decision) in plan {
            let _ = renderer().render(message, channel, &customer.locale, "en", &context);
        }
        let _ = renderer().render(message, Channel::Email, "th", "en", &context);
    }
});
