//! Carriers' names and their own tracking pages, so a shopper can check at the source.

use crate::ids::{CarrierSlug, TrackingNumber};

/// `(slug, English name, Thai name, tracking URL with {n} for the number)`.
const CARRIERS: &[(&str, &str, &str, &str)] = &[
    ("ups", "UPS", "UPS", "https://www.ups.com/track?tracknum={n}"),
    (
        "fedex",
        "FedEx",
        "FedEx",
        "https://www.fedex.com/fedextrack/?trknbr={n}",
    ),
    (
        "usps",
        "USPS",
        "USPS",
        "https://tools.usps.com/go/TrackConfirmAction?tLabels={n}",
    ),
    (
        "dhl",
        "DHL Express",
        "DHL Express",
        "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id={n}",
    ),
    (
        "dhl-global-mail",
        "DHL eCommerce",
        "DHL eCommerce",
        "https://webtrack.dhlecs.com/?trackingnumber={n}",
    ),
    (
        "canada-post",
        "Canada Post",
        "Canada Post",
        "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={n}",
    ),
    (
        "royal-mail",
        "Royal Mail",
        "Royal Mail",
        "https://www.royalmail.com/track-your-item#/tracking-results/{n}",
    ),
    (
        "thailand-post",
        "Thailand Post",
        "ไปรษณีย์ไทย",
        "https://track.thailandpost.co.th/?trackNumber={n}",
    ),
    (
        "kerry-logistics",
        "Kerry Express",
        "Kerry Express",
        "https://th.kerryexpress.com/en/track/?track={n}",
    ),
    (
        "flash-express",
        "Flash Express",
        "Flash Express",
        "https://www.flashexpress.co.th/fle/tracking?se={n}",
    ),
];

/// Carriers without a page of their own here are looked up on 17TRACK, which knows most.
const ANY_CARRIER: &str = "https://t.17track.net/en#nums={n}";

/// The carrier's name as the shopper knows it.
pub fn name(carrier: &CarrierSlug, lang: &str) -> String {
    match CARRIERS.iter().find(|(slug, ..)| *slug == carrier.as_str()) {
        Some((_, english, thai, _)) if lang == "th" => (*thai).to_string(),
        Some((_, english, _, _)) => (*english).to_string(),
        // `royal-mail` reads "Royal Mail"; an acronym stays upper-case when it is short.
        None if carrier.as_str().len() <= 4 => carrier.as_str().to_ascii_uppercase(),
        None => carrier
            .as_str()
            .split('-')
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The carrier's own tracking page for a number.
pub fn tracking_url(carrier: &CarrierSlug, number: &TrackingNumber) -> String {
    let template = CARRIERS
        .iter()
        .find(|(slug, ..)| *slug == carrier.as_str())
        .map_or(ANY_CARRIER, |(.., url)| url);
    let number: String = form_urlencoded::byte_serialize(number.as_str().as_bytes()).collect();
    template.replace("{n}", &number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_carriers_link_to_their_own_page_and_others_to_17track() {
        let number = TrackingNumber::parse("1Z999AA10123456784").unwrap();
        let ups = CarrierSlug::parse("UPS").unwrap();
        assert_eq!(
            tracking_url(&ups, &number),
            "https://www.ups.com/track?tracknum=1Z999AA10123456784"
        );
        let thai = CarrierSlug::parse("Thai Post").unwrap();
        assert_eq!(name(&thai, "th"), "ไปรษณีย์ไทย");
        let other = CarrierSlug::parse("Ninja Van").unwrap();
        assert_eq!(name(&other, "en"), "Ninja Van");
        assert!(tracking_url(&other, &number).starts_with("https://t.17track.net/"));
        assert_eq!(name(&CarrierSlug::parse("gls").unwrap(), "en"), "GLS");
    }
}
