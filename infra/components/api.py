"""The REST API: routes to functions, the Lambda authorizer, a throttled and traced stage with
JSON access logs, a usage plan, CORS for the frontend's origin when one is given, and gateway
responses that are RFC 9457 problems (the table is ``functions/gateway.py``)."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.gateway import BINARY_MEDIA_TYPES, GATEWAY_RESPONSES
from infra.components.retention import LOG_RETENTION
from infra.config import ConfigurationError, StageConfig
from shared.platform.declare import AuthorizerTrigger, Route
from shared.platform.http import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, CORS_MAX_AGE_SECONDS
from shared.platform.observability import REQUEST_ID_HEADER

#: API Gateway's integration timeout: a function behind the API must finish before it.
INTEGRATION_TIMEOUT_SECONDS = 29


def access_log_format() -> apigateway.AccessLogFormat:
    """One JSON object per request: who, what, the outcome, and where the time went."""
    field = apigateway.AccessLogField
    return apigateway.AccessLogFormat.custom(
        json.dumps(
            {
                "requestId": field.context_request_id(),
                "extendedRequestId": field.context_extended_request_id(),
                "requestTime": field.context_request_time(),
                "ip": field.context_identity_source_ip(),
                "userAgent": field.context_identity_user_agent(),
                "httpMethod": field.context_http_method(),
                "resourcePath": field.context_resource_path(),
                "protocol": field.context_protocol(),
                "status": field.context_status(),
                "responseLength": field.context_response_length(),
                "responseLatency": field.context_response_latency(),
                "integrationStatus": field.context_integration_status(),
                "integrationLatency": field.context_integration_latency(),
                "errorMessage": field.context_error_message(),
                "authorizerError": field.context_authorizer_error(),
                "principalId": field.context_authorizer_principal_id(),
                "wafStatus": field.context_waf_status(),
                "xrayTraceId": field.context_xray_trace_id(),
            }
        )
    )


class StratusApi(Construct):
    """A regional REST API with one stage named after the environment."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        stage: StageConfig,
        authorizer: tuple[lambda_.IFunction, AuthorizerTrigger] | None = None,
        frontend_origin: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=LOG_RETENTION[stage.log_retention_days],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        cors = None
        if frontend_origin:
            cors = apigateway.CorsOptions(
                allow_origins=[frontend_origin],
                allow_methods=apigateway.Cors.ALL_METHODS,
                allow_headers=list(CORS_ALLOW_HEADERS),
                expose_headers=list(CORS_EXPOSE_HEADERS),
                max_age=cdk.Duration.seconds(CORS_MAX_AGE_SECONDS),
            )
        self._stage_name = stage.name
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            rest_api_name=f"stratus-{stage.name}",
            description=f"Stratus API ({stage.name})",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            binary_media_types=list(BINARY_MEDIA_TYPES),
            # API Gateway writes logs with one role per account and region (AWS::ApiGateway::
            # Account). The feature flag disableCloudWatchRole only changes the default, so the
            # role is asked for here; it is retained on delete, since another stack of the same
            # account and region (dev beside prod) may rely on the same setting.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
            default_cors_preflight_options=cors,
            deploy_options=apigateway.StageOptions(
                stage_name=stage.name,
                tracing_enabled=True,
                metrics_enabled=True,
                # Execution logs of errors only (never request or response bodies).
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                throttling_rate_limit=stage.api_rate_limit,
                throttling_burst_limit=stage.api_burst_limit,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=access_log_format(),
            ),
        )
        # API Gateway writes execution logs to this group, and would create it without a
        # retention; made first, with the functions' retention.
        self.execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{stage.name}",
            retention=LOG_RETENTION[stage.log_retention_days],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.rest_api.deployment_stage.node.add_dependency(self.execution_logs)
        # Throttling per API key, from the same limits as the stage's. It applies to requests
        # that carry a key; until clients get keys, the stage throttling above is what binds.
        self.usage_plan = self.rest_api.add_usage_plan(
            "UsagePlan",
            name=f"stratus-{stage.name}",
            throttle=apigateway.ThrottleSettings(
                rate_limit=stage.api_rate_limit, burst_limit=stage.api_burst_limit
            ),
            api_stages=[
                apigateway.UsagePlanPerApiStage(
                    api=self.rest_api, stage=self.rest_api.deployment_stage
                )
            ],
        )
        # API Gateway's own error responses carry the CORS headers too, so a browser can read
        # the problem document, its request id and Retry-After (the functions add their own:
        # FRONTEND_ORIGIN, shared.platform.http).
        cors_headers = (
            {
                "Access-Control-Allow-Origin": frontend_origin,
                "Access-Control-Expose-Headers": ", ".join(CORS_EXPOSE_HEADERS),
                "Vary": "Origin",
            }
            if frontend_origin
            else {}
        )
        for response in GATEWAY_RESPONSES.values():
            self.rest_api.add_gateway_response(
                response.type,
                type=apigateway.ResponseType.of(response.type),
                status_code=str(response.status),
                # Header values are static strings in API Gateway's quoting; the request id is
                # API Gateway's own, the one the body and the access log carry too.
                response_headers={
                    **{k: f"'{v}'" for k, v in {**response.all_headers, **cors_headers}.items()},
                    REQUEST_ID_HEADER: "context.requestId",
                },
                # The template is picked by content negotiation and defaults to application/json;
                # the Content-Type header above is what the client sees.
                templates={"application/json": json.dumps(response.body("$context.requestId"))},
            )
        self._authorizer_spec = authorizer
        self._authorizer: apigateway.TokenAuthorizer | None = None

    @property
    def url(self) -> str:
        return self.rest_api.url

    @property
    def base_url(self) -> str:
        """The stage's URL built from the API's id alone, so a function of this API may carry it
        (``rest_api.url`` names the deployment stage, which depends on the functions)."""
        stack = cdk.Stack.of(self)
        return (
            f"https://{self.rest_api.rest_api_id}.execute-api.{stack.region}"
            f".{stack.url_suffix}/{self._stage_name}/"
        )

    def add_route(self, route: Route, function: lambda_.IFunction) -> apigateway.Method:
        """``route`` served by ``function`` (its ``live`` alias) through a Lambda proxy
        integration."""
        underlying = function.version.lambda_ if isinstance(function, lambda_.Alias) else function
        timeout = underlying.timeout if isinstance(underlying, lambda_.Function) else None
        if timeout is not None and timeout.to_seconds() >= INTEGRATION_TIMEOUT_SECONDS:
            raise ConfigurationError(
                f"{route.method} {route.path}: the function's timeout ({timeout.to_seconds()} s)"
                f" must be below API Gateway's {INTEGRATION_TIMEOUT_SECONDS} s"
            )
        resource = self.rest_api.root.resource_for_path(route.path)
        integration = apigateway.LambdaIntegration(function, allow_test_invoke=False)
        authorizer = self._token_authorizer() if route.auth else None
        if route.auth and authorizer is None:
            # Still closed: shared.platform.http answers 401 when the request carries no principal.
            cdk.Annotations.of(self).add_warning_v2(
                "stratus:route-without-authorizer",
                f"{route.method} {route.path} requires auth but no authorizer is declared",
            )
        if authorizer is None:
            return resource.add_method(route.method, integration)
        return resource.add_method(
            route.method,
            integration,
            authorizer=authorizer,
            authorization_type=apigateway.AuthorizationType.CUSTOM,
        )

    def _token_authorizer(self) -> apigateway.TokenAuthorizer | None:
        # Created with the first route that uses it: an authorizer on no method fails validation.
        if self._authorizer is None and self._authorizer_spec is not None:
            function, trigger = self._authorizer_spec
            self._authorizer = apigateway.TokenAuthorizer(
                self,
                "Authorizer",
                handler=function,
                identity_source=apigateway.IdentitySource.header(trigger.identity_header),
                results_cache_ttl=cdk.Duration.seconds(trigger.result_ttl_seconds),
            )
        return self._authorizer
