"""The REST API: routes to functions, the Lambda authorizer, a throttled and traced stage, and
gateway responses that are RFC 9457 problems (the table is ``functions/gateway.py``)."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from functions.gateway import BINARY_MEDIA_TYPES, GATEWAY_RESPONSES, REQUEST_ID_HEADER
from infra.config import StageConfig
from shared.declare import AuthorizerTrigger, Route


class StratusApi(Construct):
    """A regional REST API with one stage named after the environment."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        stage: StageConfig,
        authorizer: tuple[lambda_.IFunction, AuthorizerTrigger] | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            rest_api_name=f"stratus-{stage.name}",
            description=f"Stratus API ({stage.name})",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            binary_media_types=list(BINARY_MEDIA_TYPES),
            # The account-wide CloudWatch role and access logs come with the production
            # infrastructure work (they need the account's API Gateway logging settings).
            cloud_watch_role=False,
            deploy_options=apigateway.StageOptions(
                stage_name=stage.name,
                tracing_enabled=True,
                metrics_enabled=True,
                throttling_rate_limit=stage.api_rate_limit,
                throttling_burst_limit=stage.api_burst_limit,
            ),
        )
        for response in GATEWAY_RESPONSES.values():
            self.rest_api.add_gateway_response(
                response.type,
                type=apigateway.ResponseType.of(response.type),
                status_code=str(response.status),
                # Header values are static strings in API Gateway's quoting; the request id is
                # API Gateway's own, the one the body and the access log carry too.
                response_headers={
                    **{k: f"'{v}'" for k, v in response.all_headers.items()},
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

    def add_route(self, route: Route, function: lambda_.IFunction) -> apigateway.Method:
        """``route`` served by ``function`` through a Lambda proxy integration."""
        resource = self.rest_api.root.resource_for_path(route.path)
        integration = apigateway.LambdaIntegration(function, allow_test_invoke=False)
        authorizer = self._token_authorizer() if route.auth else None
        if route.auth and authorizer is None:
            # Still closed: shared.http answers 401 when the request carries no principal.
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
