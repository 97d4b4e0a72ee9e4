"""Runs one state machine execution in moto's Step Functions interpreter
(execute_state_machine mode) and prints {status, seconds, output} as JSON.
Usage: moto_execute.py DEFINITION.json INPUT.json (see scripts/bench-sfn)."""
import json, sys, time
import boto3
from moto import mock_aws

definition = json.load(open(sys.argv[1]))
payload = json.load(open(sys.argv[2]))

@mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
def main():
    client = boto3.client("stepfunctions", region_name="us-east-1")
    arn = client.create_state_machine(
        name="bench", definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/bench")["stateMachineArn"]
    started = time.perf_counter()
    execution = client.start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]
    while True:
        described = client.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            break
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    print(json.dumps({"status": described["status"], "seconds": seconds,
                      "output": json.loads(described.get("output", "null"))}))

main()
