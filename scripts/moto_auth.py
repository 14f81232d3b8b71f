#!/usr/bin/env python3
"""Readies a moto server for the test that checks our own SigV4 requests (the Parameter Store
read in doorstep_aws::parameter_store): an IAM user with an access key allowed to read and write
parameters, one SecureString under /doorstep-auth/secrets, then authentication switched on, so
moto verifies every later request's signature with botocore's signer. Prints the shell exports
the test reads.

Usage: scripts/moto_auth.py URL
"""
import json, sys, urllib.request

import boto3

url = sys.argv[1]
unchecked = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **unchecked)
iam.create_user(UserName="doorstep-function")
key = iam.create_access_key(UserName="doorstep-function")["AccessKey"]
iam.put_user_policy(UserName="doorstep-function", PolicyName="parameters", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ssm:GetParametersByPath", "ssm:PutParameter"], "Resource": "*"}],
}))
boto3.client("ssm", **unchecked).put_parameter(
    Name="/doorstep-auth/secrets/easypost", Value="easypost-key", Type="SecureString")
# From here on every request must carry a valid signature by a known key.
urllib.request.urlopen(urllib.request.Request(
    f"{url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}))
print(f"export DOORSTEP_MOTO_AUTH_KEY_ID={key['AccessKeyId']} DOORSTEP_MOTO_AUTH_SECRET={key['SecretAccessKey']}")
