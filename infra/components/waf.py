"""A regional WAF web ACL in front of the API stage: a per-IP rate limit and AWS's common rules."""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import StageConfig

#: The window the rate-based rule counts requests over (WAF allows 60, 120, 300 or 600 s).
RATE_WINDOW_SECONDS = 300


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True,
        metric_name=metric_name,
        sampled_requests_enabled=True,
    )


class ApiFirewall(Construct):
    """The web ACL and its association with ``api_stage``.

    Rules, in order: block an IP past ``stage.waf_rate_limit`` requests in 5 minutes, then AWS's
    common rule set (its 8 KB body limit is harmless: files go to S3 by presigned POST, and the
    API's JSON bodies are small)."""

    def __init__(
        self, scope: Construct, id_: str, *, stage: StageConfig, api_stage: apigateway.Stage
    ) -> None:
        super().__init__(scope, id_)
        prefix = f"stratus-{stage.name}"
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=f"{prefix}-api",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(f"{prefix}-api"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="rate-limit-per-ip",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP",
                            limit=stage.waf_rate_limit,
                            evaluation_window_sec=RATE_WINDOW_SECONDS,
                        )
                    ),
                    visibility_config=_visibility(f"{prefix}-rate-limit"),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="aws-common-rule-set",
                    priority=1,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name="AWSManagedRulesCommonRuleSet"
                        )
                    ),
                    visibility_config=_visibility(f"{prefix}-common-rules"),
                ),
            ],
        )
        self.association = wafv2.CfnWebACLAssociation(
            self,
            "Association",
            resource_arn=api_stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )
