"""moto's server, with its own SQS-to-Lambda trigger switched off.

moto 5.2.5 (pinned) makes every SendMessage to a queue with an enabled event source mapping
receive the message itself (receive count +1) and try to run the function in Docker. Nami's local
data plane is the queue's poller, so it must be the only consumer: during add_message the queue's
`lambda_event_source_mappings` is hidden. The mappings themselves are untouched: they still read
back Enabled, with their ScalingConfig, through the Lambda API.

Usage: python tools/moto_server.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""

import os
import sys

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.sqs.models import Queue  # noqa: E402
from moto.server import main  # noqa: E402

_add_message = Queue.add_message


def add_message_without_lambda_trigger(self, message):
    mappings = self.lambda_event_source_mappings
    self.lambda_event_source_mappings = {}
    try:
        return _add_message(self, message)
    finally:
        self.lambda_event_source_mappings = mappings


Queue.add_message = add_message_without_lambda_trigger

if __name__ == "__main__":
    sys.exit(main())
