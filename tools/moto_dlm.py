"""Data Lifecycle Manager for the local emulator: moto 5.2.5 (pinned) has none.

The provider makes the managed store's daily snapshots with a DLM lifecycle policy. Without DLM
in moto, no pipeline with `store.snapshot_retention_days` could be applied, refreshed, imported or
destroyed locally. This module answers the DLM calls the provider makes (CreateLifecyclePolicy,
GetLifecyclePolicy, GetLifecyclePolicies, UpdateLifecyclePolicy, DeleteLifecyclePolicy,
TagResource, UntagResource, ListTagsForResource) in DLM's REST-JSON shape, and refuses what the
DLM API reference says DLM refuses for an EBS snapshot policy: a missing or non-DLM execution
role (looked up in moto's own IAM), a description outside [0-9A-Za-z _-]{1,500}, a state other
than ENABLED/DISABLED, no target tags, no schedule or more than four, a creation interval other
than 1/2/3/4/6/8/12/24 hours, start times not hh:mm, a retain rule that is neither a count
(1-1000) nor an age (interval and unit), tags to add under `aws:`. It runs no schedule: no
snapshot is ever taken. What it cannot say about DLM is checked by the opt-in real-AWS test.

`tools/moto_server.py` routes every request signed for the service `dlm` here.
"""

import json
import re
import secrets
import threading
from urllib.parse import parse_qs, unquote

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import iam_backends

_lock = threading.Lock()
# (region, policy id) -> policy as GetLifecyclePolicy returns it.
_policies = {}

DESCRIPTION = re.compile(r"^[0-9A-Za-z _-]{1,500}$")
TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
CREATE_INTERVALS = {1, 2, 3, 4, 6, 8, 12, 24}
RETAIN_UNITS = {"DAYS", "WEEKS", "MONTHS", "YEARS"}


class DlmError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid(message):
    return DlmError(400, "InvalidRequestException", message)


def not_found(policy_id):
    return DlmError(404, "ResourceNotFoundException", f"Policy {policy_id} was not found.")


def is_dlm_request(environ):
    """Whether the request is signed for DLM (its credential scope's service)."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    match = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/", authorization)
    return bool(match) and match.group(2) == "dlm"


def _region(environ):
    match = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else "us-east-1"


def _check_role(arn):
    roles = iam_backends[DEFAULT_ACCOUNT_ID]["aws"].roles.values()
    role = next((r for r in roles if r.arn == arn), None)
    if role is None:
        raise invalid(f"The execution role {arn} does not exist.")
    trust = json.loads(unquote(role.assume_role_policy_document))
    services = []
    for statement in trust.get("Statement", []):
        service = statement.get("Principal", {}).get("Service", [])
        services += service if isinstance(service, list) else [service]
    if "dlm.amazonaws.com" not in services:
        raise invalid(f"The execution role {arn} cannot be assumed by dlm.amazonaws.com.")


def _check_details(details):
    if not isinstance(details, dict):
        raise invalid("PolicyDetails is required.")
    if details.get("PolicyType", "EBS_SNAPSHOT_MANAGEMENT") != "EBS_SNAPSHOT_MANAGEMENT":
        raise invalid("Only EBS_SNAPSHOT_MANAGEMENT policies are emulated.")
    if not set(details.get("ResourceTypes") or []) <= {"VOLUME", "INSTANCE"} or not details.get(
        "ResourceTypes"
    ):
        raise invalid("ResourceTypes must be VOLUME or INSTANCE.")
    targets = details.get("TargetTags") or []
    if not 1 <= len(targets) <= 50:
        raise invalid("TargetTags must hold 1 to 50 tags.")
    schedules = details.get("Schedules") or []
    if not 1 <= len(schedules) <= 4:
        raise invalid("Schedules must hold 1 to 4 schedules.")
    for schedule in schedules:
        create = schedule.get("CreateRule") or {}
        if "CronExpression" not in create:
            if create.get("Interval") not in CREATE_INTERVALS or create.get("IntervalUnit") != "HOURS":
                raise invalid("CreateRule Interval must be 1, 2, 3, 4, 6, 8, 12 or 24 HOURS.")
        for time in create.get("Times") or []:
            if not TIME.match(time):
                raise invalid(f"CreateRule Times {time!r} is not hh:mm.")
        retain = schedule.get("RetainRule") or {}
        count = retain.get("Count", 0)
        age = retain.get("Interval", 0)
        if bool(count) == bool(age):
            raise invalid("RetainRule takes either Count or Interval and IntervalUnit.")
        if count and not 1 <= count <= 1000:
            raise invalid("RetainRule Count must be 1 to 1000.")
        if age and (age < 1 or retain.get("IntervalUnit") not in RETAIN_UNITS):
            raise invalid("RetainRule Interval needs an IntervalUnit of DAYS, WEEKS, MONTHS or YEARS.")
        for tag in schedule.get("TagsToAdd") or []:
            if tag.get("Key", "").startswith("aws:"):
                raise invalid("TagsToAdd keys cannot start with aws:.")


def _check(body, creating):
    if creating or "ExecutionRoleArn" in body:
        _check_role(body.get("ExecutionRoleArn", ""))
    if creating or "Description" in body:
        if not DESCRIPTION.match(body.get("Description", "")):
            raise invalid("Description must be 1 to 500 of [0-9A-Za-z _-].")
    if creating or "State" in body:
        if body.get("State") not in ("ENABLED", "DISABLED"):
            raise invalid("State must be ENABLED or DISABLED.")
    if creating or "PolicyDetails" in body:
        _check_details(body.get("PolicyDetails"))


def _summary(policy):
    keys = ("PolicyId", "Description", "State", "Tags", "PolicyType")
    summary = {key: policy[key] for key in keys if key in policy}
    return summary


def _by_arn(region, arn):
    policy = next((p for (r, _), p in _policies.items() if r == region and p["PolicyArn"] == arn), None)
    if policy is None:
        raise DlmError(404, "ResourceNotFoundException", f"Resource {arn} was not found.")
    return policy


def handle(method, path, query, body, region):
    """One DLM call: (status, response body)."""
    parts = [unquote(p) for p in path.strip("/").split("/", 1)]
    with _lock:
        if parts == ["policies"] and method == "POST":
            _check(body, creating=True)
            policy_id = "policy-" + secrets.token_hex(9)[:17]
            _policies[(region, policy_id)] = {
                "PolicyId": policy_id,
                "Description": body["Description"],
                "State": body["State"],
                "ExecutionRoleArn": body["ExecutionRoleArn"],
                "PolicyDetails": body["PolicyDetails"],
                "PolicyType": body["PolicyDetails"].get("PolicyType", "EBS_SNAPSHOT_MANAGEMENT"),
                "Tags": dict(body.get("Tags") or {}),
                "PolicyArn": f"arn:aws:dlm:{region}:{DEFAULT_ACCOUNT_ID}:policy/{policy_id}",
            }
            return 200, {"PolicyId": policy_id}
        if parts == ["policies"] and method == "GET":
            found = [p for (r, _), p in _policies.items() if r == region]
            for wanted in query.get("targetTags", []):
                key, _, value = wanted.partition("=")
                found = [
                    p
                    for p in found
                    if {"Key": key, "Value": value} in p["PolicyDetails"].get("TargetTags", [])
                ]
            if "state" in query:
                found = [p for p in found if p["State"] in query["state"]]
            if "policyIds" in query:
                found = [p for p in found if p["PolicyId"] in query["policyIds"]]
            return 200, {"Policies": [_summary(p) for p in found]}
        if len(parts) == 2 and parts[0] == "policies":
            policy = _policies.get((region, parts[1]))
            if policy is None:
                raise not_found(parts[1])
            if method == "GET":
                return 200, {"Policy": policy}
            if method == "PATCH":
                _check(body, creating=False)
                for key in ("ExecutionRoleArn", "State", "Description", "PolicyDetails"):
                    if key in body:
                        policy[key] = body[key]
                return 200, {}
            if method == "DELETE":
                del _policies[(region, parts[1])]
                return 200, {}
        if len(parts) == 2 and parts[0] == "tags":
            policy = _by_arn(region, parts[1])
            if method == "POST":
                policy["Tags"].update(body.get("Tags") or {})
                return 204, None
            if method == "DELETE":
                for key in query.get("tagKeys", []):
                    policy["Tags"].pop(key, None)
                return 204, None
            if method == "GET":
                return 200, {"Tags": policy["Tags"]}
    raise DlmError(404, "UnknownOperationException", f"{method} {path} is not a DLM call here.")


def app(environ, start_response):
    """The WSGI application answering DLM calls."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        body = json.loads(raw) if raw else {}
        query = parse_qs(environ.get("QUERY_STRING", ""))
        status, payload = handle(
            environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/"), query, body, _region(environ)
        )
        headers = [("Content-Type", "application/json")]
    except DlmError as error:
        status, payload = error.status, {"Message": error.message}
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.code)]
    except ValueError as error:
        status, payload = 400, {"Message": f"Malformed request body: {error}"}
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", "InvalidRequestException")]
    data = b"" if payload is None else json.dumps(payload).encode()
    reasons = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found"}
    start_response(f"{status} {reasons.get(status, 'Error')}", headers)
    return [data]
