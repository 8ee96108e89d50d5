"""`make bench`: moto's SQS as shipped vs through tools/moto_server.py, side by side, in one run.

Both servers get the same work: a queue holding BACKLOG messages, then SENDS SendMessage calls and
RECEIVES ReceiveMessage calls (10 messages each) against it. Printed: each server's rates and the
ratio (launcher / plain), the figures docs/local-parts.md quotes.

Usage: .venv/bin/python tools/bench_moto_sqs.py [BACKLOG]
"""

import os
import socket
import subprocess
import sys
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
BACKLOG = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
SENDS = 100
RECEIVES = 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command, port):
    log = open(os.path.join(ROOT, "target", f"bench-moto-{port}.log"), "w")
    process = subprocess.Popen(command + ["-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None:
                sys.exit(f"{command[0]} exited early; see {log.name}")
            time.sleep(0.1)
    process.terminate()
    sys.exit(f"{command} did not listen on {port}")


def measure(name, command):
    port = free_port()
    process = start(command, port)
    try:
        sqs = boto3.client(
            "sqs",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        queue = sqs.create_queue(QueueName="bench")["QueueUrl"]
        body = "x" * 3000
        for start_at in range(0, BACKLOG, 10):
            entries = [{"Id": str(i), "MessageBody": body} for i in range(min(10, BACKLOG - start_at))]
            sqs.send_message_batch(QueueUrl=queue, Entries=entries)
        began = time.perf_counter()
        for _ in range(SENDS):
            sqs.send_message(QueueUrl=queue, MessageBody=body)
        sends = SENDS / (time.perf_counter() - began)
        began = time.perf_counter()
        for _ in range(RECEIVES):
            sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=600)
        receive_ms = (time.perf_counter() - began) / RECEIVES * 1000
        print(f"{name:<28} SendMessage {sends:7.1f}/s   ReceiveMessage {receive_ms:8.1f} ms")
        return sends, receive_ms
    finally:
        process.terminate()
        process.wait(timeout=10)


def main():
    os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
    print(f"moto SQS with {BACKLOG} messages queued (same machine, same run):")
    plain = measure("moto_server (as shipped)", [os.path.join(VENV_BIN, "moto_server")])
    launcher = measure(
        "tools/moto_server.py",
        [os.path.join(VENV_BIN, "python"), os.path.join(ROOT, "tools", "moto_server.py")],
    )
    print(
        f"ratio (launcher / as shipped): SendMessage {launcher[0] / plain[0]:.1f}x faster, "
        f"ReceiveMessage {plain[1] / launcher[1]:.1f}x faster"
    )


if __name__ == "__main__":
    main()
