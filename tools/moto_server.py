"""moto's server, with its own SQS-to-Lambda trigger switched off.

moto 5.2.5 (pinned) makes every SendMessage to a queue with an enabled event source mapping
receive the message itself (receive count +1) and try to run the function in Docker. Nami's local
data plane is the queue's poller, so it must be the only consumer: a queue's
`lambda_event_source_mappings` always reads empty. (It was hidden during each add_message and put
back after; with concurrent sends one thread could put it back while another was past hiding it,
and moto then ran the function — seen as "error running docker" lines in a function's log group.)
The mappings themselves are untouched: they still read back Enabled, with their ScalingConfig,
through the Lambda API.

It also removes three hot spots that make moto's SQS slow down with the queue's length (the first
two measured with 2,000 queued messages: SendMessage fell to ~10/s, one ReceiveMessage took 2.6 s):
`unix_time()` builds datetimes for every message each time a queue is scanned, every received
message recomputes all queue attributes just to read the retention period, and every sent message
recomputes them (three scans of the whole queue for its approximate counts) just to read
ContentBasedDeduplication. The replacements return the same values.

And it remembers which backend serves a host: moto's dispatcher lists its own package directory
(a listdir and ~180 stats) for every request to find it, a third of a SendMessage's time.

And it makes a queue's receives and deletes atomic, as they are on SQS. moto's threaded server
runs them concurrently without a lock: DeleteMessage rebuilds the message list, so a message
appended or deleted by another thread meanwhile is lost or comes back (seen in a 3,000-webhook
burst: 14 deleted messages reappeared after the visibility timeout). Both now hold the queue's
own condition lock, which moto's long poll releases while it waits.

And it answers Data Lifecycle Manager, which moto lacks (tools/moto_dlm.py: every request signed
for the service `dlm` goes there).

Usage: python tools/moto_server.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""

import os
import sys

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

import threading  # noqa: E402
import time  # noqa: E402

import moto.sqs.models as sqs_models  # noqa: E402
from moto.sqs.models import Queue, SQSBackend  # noqa: E402
from moto.server import main  # noqa: E402

_unix_time = sqs_models.unix_time


def unix_time(dt=None):
    """Seconds since the epoch; `time.time()` for "now" (moto's version builds two datetimes)."""
    return time.time() if dt is None else _unix_time(dt)


def unix_time_millis(dt=None):
    return unix_time(dt) * 1000.0


sqs_models.unix_time = unix_time
sqs_models.unix_time_millis = unix_time_millis


def is_message_valid_based_on_retention_period(self, queue_name, message):
    """moto's check, reading the one attribute it needs instead of computing all of them."""
    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return retention_period + message.sent_timestamp / 1000 > unix_time()


SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period

_delete_message = Queue.delete_message
_receive_message = SQSBackend.receive_message


def delete_message_atomically(self, receipt_handle):
    with self._messages_lock:
        return _delete_message(self, receipt_handle)


def receive_message_atomically(self, queue_name, *args, **kwargs):
    with self.get_queue(queue_name)._messages_lock:
        return _receive_message(self, queue_name, *args, **kwargs)


Queue.delete_message = delete_message_atomically
SQSBackend.receive_message = receive_message_atomically

_queue_attributes = Queue.attributes.fget
_sending = threading.local()


class _OneAttribute:
    """What a send reads of its queue's attributes: `.get(name)` of one of them, computed alone
    and spelled as moto's `attributes` spells it (booleans as "true"/"false")."""

    def __init__(self, queue):
        self._queue = queue

    def get(self, name, default=None):
        value = getattr(self._queue, sqs_models.camelcase_to_underscores(name), default)
        return str(value).lower() if isinstance(value, bool) else value


def attributes_read_by_sends(self):
    """All of the queue's attributes, except inside a send on this thread: there moto reads only
    ContentBasedDeduplication, so that one is computed instead of every count."""
    return _OneAttribute(self) if getattr(_sending, "active", False) else _queue_attributes(self)


def sending(send):
    def send_reading_one_attribute(*args, **kwargs):
        _sending.active = True
        try:
            return send(*args, **kwargs)
        finally:
            _sending.active = False

    return send_reading_one_attribute


Queue.attributes = property(attributes_read_by_sends)
SQSBackend.send_message = sending(SQSBackend.send_message)

def no_lambda_triggers(self):
    """A queue's event source mappings, as add_message sees them: none, ever. moto keeps the
    mappings in the Lambda backend (that is what the Lambda API reads back); the queue's own dict
    only feeds its trigger. A fresh empty dict per access: whatever moto writes into it is
    dropped, and no thread can see another's."""
    return {}


Queue.lambda_event_source_mappings = property(no_lambda_triggers, lambda self, value: None)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import moto_dlm  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402

_dispatch = DomainDispatcherApplication.__call__
_backend_for_host = DomainDispatcherApplication.get_backend_for_host
_backends_by_host = {}


def remembered_backend_for_host(self, host):
    """moto's answer for `host`, found once: it depends only on the host and moto's own files."""
    if host not in _backends_by_host:
        _backends_by_host[host] = _backend_for_host(self, host)
    return _backends_by_host[host]


DomainDispatcherApplication.get_backend_for_host = remembered_backend_for_host


def dispatch_with_dlm(self, environ, start_response):
    if moto_dlm.is_dlm_request(environ):
        return moto_dlm.app(environ, start_response)
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = dispatch_with_dlm

# With NAMI_MOTO_ENFORCE_ROLES=1, moto enforces IAM for requests signed with an assumed role's
# credentials — the functions' and the event source mapping's, which nami-local gives each its
# execution role's — and for nothing else: the provider, the tests and nami-local itself call as
# before. (moto's own switch, INITIAL_NO_AUTH_ACTION_COUNT, enforces every request, and then
# refuses signatures it recomputes wrongly for Lambda's and API Gateway's REST calls, and crashes
# on AssumeRole of a role trusting a service.) What moto evaluates faithfully is in
# docs/local-parts.md.
if os.environ.get("NAMI_MOTO_ENFORCE_ROLES") == "1":
    import re  # noqa: E402

    from moto import settings  # noqa: E402
    from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
    from moto.core.authorization import ActionAuthenticatorMixin  # noqa: E402
    from moto.sts.models import sts_backends  # noqa: E402

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    _authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authorize_assumed_roles_only(self, iam_request_cls, resource="*"):
        authorization = self.headers.get("Authorization", "")
        match = re.search(r"Credential=([^/]+)/", authorization)
        backend = next(iter(sts_backends[DEFAULT_ACCOUNT_ID].values()))
        if match and backend.get_assumed_role_from_access_key(match.group(1)) is not None:
            return _authorize(self, iam_request_cls, resource)
        return None

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize_assumed_roles_only

if __name__ == "__main__":
    sys.exit(main())
