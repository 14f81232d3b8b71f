//! A hello-world Lambda with the same runtime, event types and release profile as Doorstep's
//! functions, and nothing else: what `scripts/bench.sh` measures sizes and cold starts against.
//!
//! By default it starts Tokio as `#[tokio::main]` does (multi-threaded, as in lambda_runtime's
//! examples); `HELLO_RUNTIME=current_thread` starts the single-threaded runtime Doorstep's
//! functions use, so each can be compared with the baseline built like it.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{service_fn, Error, LambdaEvent};

fn main() -> Result<(), Error> {
    let mut runtime = match std::env::var("HELLO_RUNTIME").as_deref() {
        Ok("current_thread") => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    runtime.enable_all().build()?.block_on(serve())
}

async fn serve() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |_event: LambdaEvent<ApiGatewayV2httpRequest>| async {
            let mut response = ApiGatewayV2httpResponse::default();
            response.status_code = 200;
            response.body = Some("hello".into());
            Ok::<_, Error>(response)
        },
    ))
    .await
}
