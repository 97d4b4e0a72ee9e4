#!/usr/bin/env python3
"""Prints an ASL file with every ${Name} placeholder replaced by a well-formed value,
chosen by the name's suffix, so that validators which check ARNs can read it."""
import re
import sys

ACCOUNT, REGION = "123456789012", "us-east-1"


def value(name: str) -> str:
    if name.endswith("FunctionArn"):
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name[:-3]}"
    if name.endswith("TopicArn"):
        return f"arn:aws:sns:{REGION}:{ACCOUNT}:{name[:-3]}"
    if name.endswith("RoleArn"):
        return f"arn:aws:iam::{ACCOUNT}:role/{name[:-3]}"
    if name.endswith("JobDefinitionArn"):
        return f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/{name[:-3]}"
    if name.endswith("JobQueueArn"):
        return f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{name[:-3]}"
    if name.endswith("Image"):
        return f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name.lower()}:latest"
    sys.exit(f"fill-placeholders: no rule for ${{{name}}}; add one")


with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
print(re.sub(r"\$\{(\w+)\}", lambda m: value(m.group(1)), text), end="")
