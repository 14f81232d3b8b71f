#!/usr/bin/env python3
"""Transforms template.yaml the way `sam deploy` does (AWS's own SAM translator), lints the
CloudFormation that comes out, and checks what the webhooks' function URLs need to answer:
each webhook function gets its URL and both public grants (`lambda:InvokeFunctionUrl`, and the
`lambda:InvokeFunction` through the URL that AWS requires since October 2025). Without the
second grant a URL answers 403 to every carrier. It also checks that the notifier (and so its
stream filter, which passes shipments, orders and accounts only with the `notify` mark newer
writers set) is updated after every function allowed to write the table.

Usage: scripts/check_template.py [template.yaml]   (exits 1 with the reasons on any failure)
"""

import json
import os
import subprocess
import sys
import tempfile

from cfnlint.decode import decode_str
from samtranslator.translator.transform import transform

WEBHOOK_FUNCTIONS = ("CarrierWebhookFunction", "StoreWebhookFunction")
TABLE_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem", "dynamodb:TransactWriteItems"}


def table_writers(template):
    """Every function whose inline policy allows a write to the table."""
    writers = set()
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies", []):
            if not isinstance(policy, dict):
                continue
            for statement in policy.get("Statement", []):
                actions = statement.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                if statement.get("Effect") == "Allow" and TABLE_WRITES.intersection(actions):
                    writers.add(name)
    return writers


def notifier_order(template):
    """Why the notifier might be updated before a writer of the table (nothing when it is not)."""
    notifier = template["Resources"]["NotifierFunction"]
    depends = notifier.get("DependsOn", [])
    depends = {depends} if isinstance(depends, str) else set(depends)
    missing = sorted(table_writers(template) - depends - {"NotifierFunction"})
    return [f"NotifierFunction does not DependsOn {name}, which writes the table" for name in missing]


class NoManagedPolicies:
    """The template names no AWS managed policy, so the translator needs none looked up."""

    def load(self):
        return {}


def main(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(path, encoding="utf-8") as f:
        template, problems = decode_str(f.read())
    if problems:
        return [f"{path} does not parse: {p}" for p in problems]
    failures = notifier_order(template)
    # `sam build` puts each function's code in S3 and says where; the translator wants that form.
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://doorstep-build/function.zip"
    cloudformation = transform(template, {}, NoManagedPolicies())
    resources = cloudformation["Resources"]
    for function in WEBHOOK_FUNCTIONS:
        expected = {
            f"{function}Url": ("AWS::Lambda::Url", {"AuthType": "NONE"}),
            f"{function}UrlPublicPermissions": (
                "AWS::Lambda::Permission",
                {"Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE"},
            ),
            f"{function}URLInvokeAllowPublicAccess": (
                "AWS::Lambda::Permission",
                {"Action": "lambda:InvokeFunction", "Principal": "*", "InvokedViaFunctionUrl": True},
            ),
        }
        for name, (kind, properties) in expected.items():
            resource = resources.get(name)
            if resource is None or resource.get("Type") != kind:
                failures.append(f"the transformed template has no {kind} {name}")
                continue
            for key, value in properties.items():
                if resource["Properties"].get(key) != value:
                    failures.append(f"{name}.{key} is {resource['Properties'].get(key)!r}, not {value!r}")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(cloudformation, out)
    try:
        lint = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "cfn-lint"), out.name],
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(out.name)
    if lint.returncode != 0:
        failures.append("cfn-lint on the transformed template:\n" + lint.stdout + lint.stderr)
    return failures


if __name__ == "__main__":
    failures = main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
    for failure in failures:
        print(failure, file=sys.stderr)
    if failures:
        sys.exit(1)
    print("template.yaml transforms, lints clean, and both webhook functions have a public URL")
