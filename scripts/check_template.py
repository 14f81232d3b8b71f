#!/usr/bin/env python3
"""Transforms template.yaml the way `sam deploy` does (AWS's own SAM translator), lints the
CloudFormation that comes out, and checks what the webhooks' function URLs need to answer:
each webhook function gets its URL and both public grants (`lambda:InvokeFunctionUrl`, and the
`lambda:InvokeFunction` through the URL that AWS requires since October 2025). Without the
second grant a URL answers 403 to every carrier.

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
    # `sam build` puts each function's code in S3 and says where; the translator wants that form.
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://doorstep-build/function.zip"
    cloudformation = transform(template, {}, NoManagedPolicies())
    resources = cloudformation["Resources"]
    failures = []
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
