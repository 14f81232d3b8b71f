//! What the registries declare is what the stack, the docs, the tests and the fuzzers cover:
//! adding a provider, a message or a job without its other places fails here.

use doorstep_core::jobs::Job;
use doorstep_core::notify::messages::Message;
use doorstep_core::notify::render::LOCALES;
use doorstep_core::notify::settings::Channel;
use doorstep_core::providers::registry::{secret_names, Provider, Route};
use doorstep_tests::{
    carrier_auth, loyalty_headers, review_headers, store_headers, subscription_headers,
};

fn repo_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The fuzz target of each provider's parser (exhaustive: a new provider needs one).
fn fuzz_target(provider: Provider) -> &'static str {
    match provider {
        Provider::EasyPost => "easypost",
        Provider::AfterShip => "aftership",
        Provider::Shippo => "shippo",
        Provider::SeventeenTrack => "seventeen_track",
        Provider::Ups => "ups",
        Provider::Generic => "generic_carrier",
        Provider::Shopify => "shopify",
        Provider::WooCommerce => "woocommerce",
        Provider::GenericStore => "generic_store",
        Provider::GenericLoyalty => "generic_loyalty",
        Provider::Recharge => "recharge",
        Provider::GenericSubscription => "generic_subscription",
        Provider::JudgeMe => "judgeme",
        Provider::GenericReview => "generic_review",
    }
}

#[test]
fn every_provider_is_documented_fuzzed_signed_and_has_its_secret_in_the_template() {
    let template = repo_file("template.yaml");
    let webhooks = repo_file("docs/webhooks.md");
    let fuzz = repo_file("fuzz/Cargo.toml");
    let local = repo_file("docs/local.md");
    for name in secret_names() {
        let ssm = name.to_ascii_lowercase();
        assert!(
            template.contains(&ssm),
            "template.yaml's SecretsPath does not list {ssm}"
        );
        assert!(
            local.contains(&format!("_{name}")),
            "docs/local.md does not list DOORSTEP_SECRET_{name}"
        );
    }
    for &provider in Provider::all() {
        let spec = provider.spec();
        assert!(
            webhooks.contains(&format!("| `{}` |", spec.slug)),
            "docs/webhooks.md has no row for {provider}"
        );
        assert!(
            fuzz.contains(&format!("name = \"{}\"", fuzz_target(provider))),
            "no fuzz target for {provider}"
        );
        // The test helpers can sign for it (they panic on a provider they do not know).
        match spec.route() {
            Route::Carriers => drop(carrier_auth(spec.slug, b"{}")),
            Route::Stores => drop(store_headers(spec.slug, None, None, b"{}")),
            Route::Loyalty => drop(loyalty_headers(spec.slug, b"{}")),
            Route::Subscriptions => drop(subscription_headers(spec.slug, None, b"{}")),
            Route::Reviews => drop(review_headers(spec.slug, b"{}")),
        }
    }
}

#[test]
fn every_message_has_its_templates_in_every_locale() {
    let templates = format!("{}/../shared/core/templates", env!("CARGO_MANIFEST_DIR"));
    for message in Message::all() {
        // Follow-ups render their own templates (checked below).
        if *message == Message::FollowUp {
            continue;
        }
        let channels = message.spec().channels;
        let parts: Vec<&str> = [
            (Channel::Email, "subject"),
            (Channel::Email, "email"),
            (Channel::Sms, "sms"),
        ]
        .iter()
        .filter(|(channel, _)| channels.contains(channel))
        .map(|(_, part)| *part)
        .collect();
        for locale in LOCALES {
            for part in &parts {
                let path = format!("{templates}/{locale}/{message}.{part}.j2");
                assert!(
                    std::path::Path::new(&path).exists(),
                    "missing template {path}"
                );
            }
        }
    }
    // The built-in follow-ups, in every locale, and the renderer agrees they exist.
    let renderer = doorstep_core::notify::render::Renderer::new(None, 2);
    for name in ["care", "rewards_update"] {
        assert!(
            renderer.has_follow_up(name),
            "follow-up {name} lacks templates"
        );
        for locale in LOCALES {
            for part in ["subject", "email", "sms"] {
                let path = format!("{templates}/{locale}/follow_up_{name}.{part}.j2");
                assert!(
                    std::path::Path::new(&path).exists(),
                    "missing template {path}"
                );
            }
        }
    }
    assert!(!renderer.has_follow_up("not_defined"));
}

#[test]
fn every_job_has_a_schedule_at_its_cadence() {
    let template = repo_file("template.yaml");
    for &job in Job::all() {
        let input = format!("Input: '{{\"job\": \"{job}\"}}'");
        let at = template
            .find(&input)
            .unwrap_or_else(|| panic!("template.yaml schedules no {job}"));
        // The `rate(N unit)` of the schedule the input belongs to, in seconds.
        let schedule = &template[at.saturating_sub(200)..at];
        let expression = schedule
            .rsplit("rate(")
            .next()
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_else(|| panic!("{job}'s schedule has no rate(): {schedule}"));
        let (count, unit) = expression.split_once(' ').unwrap();
        let unit_s = match unit.trim_end_matches('s') {
            "minute" => 60,
            "hour" => 3600,
            "day" => 86_400,
            other => panic!("unknown unit {other}"),
        };
        assert_eq!(
            count.parse::<u64>().unwrap() * unit_s,
            job.spec().every.as_secs(),
            "{job} runs at rate({expression}) in template.yaml"
        );
    }
}

#[test]
fn the_template_declares_the_indexes_the_code_creates_and_sizes() {
    let template = repo_file("template.yaml");
    for (index, attribute, projected) in doorstep_aws::schema::INDEXES {
        let at = template
            .find(&format!("IndexName: {index}"))
            .unwrap_or_else(|| panic!("template.yaml has no index {index}"));
        let block = &template[at..(at + 300).min(template.len())];
        assert!(
            block.contains(&format!("AttributeName: {attribute}")),
            "{index}'s key in template.yaml: {block}"
        );
        let projection = match projected {
            doorstep_aws::schema::Projected::KeysOnly => "KEYS_ONLY",
            doorstep_aws::schema::Projected::All => "ALL",
        };
        // The projection is a parameter (existing stacks keep theirs); its default is the code's.
        assert!(
            block.contains("ProjectionType: !Ref IndexProjection"),
            "{index}'s projection in template.yaml: {block}"
        );
        let parameter = template
            .find("  IndexProjection:")
            .map(|at| &template[at..(at + 200).min(template.len())])
            .expect("an IndexProjection parameter");
        assert!(
            parameter.contains(&format!("Default: {projection}")),
            "IndexProjection's default: {parameter}"
        );
    }
}

/// Each webhook function's routes, as its handler matches them, are its HTTP API events in
/// template.yaml, and it has a function URL (which sends every route as `$default`, matched in
/// the handler against the same list); the webhook outputs point at those URLs.
#[test]
fn the_webhook_functions_serve_their_routes_on_the_api_and_at_their_urls() {
    let template = repo_file("template.yaml");
    for (function, routes) in [
        ("CarrierWebhookFunction", carrier_webhook::ROUTES),
        ("StoreWebhookFunction", store_webhook::ROUTES),
    ] {
        let start = template
            .find(&format!("\n  {function}:\n"))
            .unwrap_or_else(|| panic!("template.yaml has no {function}"));
        let rest = &template[start + 1..];
        // The resource runs to the next line indented as little as its name.
        let end = rest
            .match_indices("\n  ")
            .find(|(at, _)| !rest[at + 3..].starts_with(' '))
            .map_or(rest.len(), |(at, _)| at);
        let resource = &rest[..end];
        assert!(
            resource.contains("FunctionUrlConfig:\n        AuthType: NONE"),
            "{function} has no function URL"
        );
        for route in routes {
            let (method, path) = route.split_once(' ').unwrap();
            assert!(
                resource.contains(&format!("Path: {path}\n            Method: {method}")),
                "{function} does not declare {route} on the API"
            );
        }
    }
    for (output, url, path) in [
        (
            "CarrierWebhookUrl",
            "CarrierWebhookFunctionUrl",
            "webhooks/carriers/",
        ),
        (
            "StoreWebhookUrl",
            "StoreWebhookFunctionUrl",
            "webhooks/stores/",
        ),
    ] {
        let at = template
            .find(&format!("\n  {output}:\n"))
            .unwrap_or_else(|| panic!("template.yaml has no output {output}"));
        let block = &template[at..(at + 400).min(template.len())];
        assert!(
            block.contains(&format!("${{{url}.FunctionUrl}}{path}")),
            "{output}: {block}"
        );
    }
}
