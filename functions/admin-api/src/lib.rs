//! The admin API's routes (`doorstep_core::admin::ROUTES`): the handler only translates.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use doorstep_apigw::{bad_encoding, json_response, Request};
use doorstep_core::admin::{self, Admin, AdminRequest, Jobs};
use doorstep_core::chrono::Utc;
use doorstep_core::ports::Store;
use doorstep_core::secrets::Secret;
use doorstep_core::settings::Settings;
use doorstep_core::webhook::WebhookResponse;
use std::sync::Arc;

pub struct App {
    pub store: Arc<dyn Store>,
    pub admin_token: Secret,
    pub settings: Settings,
    /// Runs jobs by hand (`POST /api/jobs/{job}/run`) with the notifier's own wiring.
    pub jobs: Arc<dyn Jobs>,
}

pub async fn handle(app: &App, event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
    let Ok(request) = Request::from_event(event) else {
        return bad_encoding();
    };
    let authorization = request
        .headers
        .iter()
        .find(|(name, _)| name == "authorization")
        .map(|(_, value)| value.as_str());
    let admin = Admin {
        store: app.store.as_ref(),
        token: &app.admin_token,
        settings: &app.settings,
        jobs: app.jobs.as_ref(),
    };
    let (status, body) = admin::handle(
        &admin,
        AdminRequest {
            route_key: &request.route_key,
            path_params: &request.path_parameters,
            query: request.query.as_deref(),
            authorization,
        },
        Utc::now(),
    )
    .await;
    json_response(&WebhookResponse {
        status,
        body: body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use doorstep_core::notify::service::Notifier;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A notifier that cannot be built (the Lambda's environment lacks its queue, say).
    #[derive(Default)]
    struct Unbuildable(AtomicUsize);

    #[async_trait::async_trait]
    impl Jobs for Unbuildable {
        async fn notifier(&self) -> Result<Notifier<'_>, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err("environment variable DEAD_LETTER_QUEUE_URL is not set".into())
        }
    }

    fn event(route_key: &str, path: &str, token: Option<&str>) -> ApiGatewayV2httpRequest {
        let mut event = ApiGatewayV2httpRequest::default();
        event.route_key = Some(route_key.to_string());
        event.raw_path = Some(path.to_string());
        event.path_parameters = HashMap::from([("job".to_string(), "points-expiry".to_string())]);
        if let Some(token) = token {
            event
                .headers
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        event
    }

    #[tokio::test]
    async fn the_notifier_is_built_only_for_job_routes_and_its_failure_is_a_503() {
        let jobs = Arc::new(Unbuildable::default());
        let app = App {
            store: Arc::new(doorstep_embedded::SqliteStore::in_memory().unwrap()),
            admin_token: Secret::new("admin".to_string()),
            settings: Settings::default(),
            jobs: jobs.clone(),
        };
        let run = "POST /api/jobs/{job}/run";
        let unauthorized = handle(&app, event(run, "/api/jobs/points-expiry/run", None)).await;
        assert_eq!(unauthorized.status_code, 401);
        let clicks = handle(&app, event("GET /api/clicks", "/api/clicks", Some("admin"))).await;
        assert_eq!(clicks.status_code, 200);
        assert_eq!(
            jobs.0.load(Ordering::SeqCst),
            0,
            "no job route, no notifier"
        );
        let refused = handle(
            &app,
            event(run, "/api/jobs/points-expiry/run", Some("admin")),
        )
        .await;
        assert_eq!(refused.status_code, 503);
        let body = match refused.body {
            Some(aws_lambda_events::encodings::Body::Text(text)) => text,
            other => panic!("{other:?}"),
        };
        assert!(body.contains("DEAD_LETTER_QUEUE_URL"), "{body}");
        assert_eq!(jobs.0.load(Ordering::SeqCst), 1);
    }
}
