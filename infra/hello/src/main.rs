//! A hello-world Lambda with the same runtime, event types and release profile as Doorstep's
//! functions, and nothing else: what `scripts/bench.sh` measures sizes and cold starts against.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
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
