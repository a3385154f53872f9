"""Schemathesis hooks for scripts/api-fuzz.sh, loaded through SCHEMATHESIS_HOOKS.

- `role_may_use_route`: a 2xx only on a route the role under test (FIELDCASE_FUZZ_ROLE) may use,
  by the table in roles.py.
- The sync body's media type (`application/vnd.fieldcase+json+zstd`: JSON, zstd-compressed) is
  serialized and deserialized, so the sync route is fuzzed with real bodies and its replies are
  checked against their schema.
- Every request names a source address of its own in X-Forwarded-For (the server is started
  with 127.0.0.1 as its trusted proxy): failed logins are throttled per source, and the run
  makes thousands on purpose; without this the whole run would be answered 429 after twenty.
  The throttle itself has its own Rust tests.
"""

import ipaddress
import itertools
import json
import os
import sys

import schemathesis
import zstandard

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from roles import ALLOWED  # noqa: E402

SYNC_MEDIA_TYPE = "application/vnd.fieldcase+json+zstd"

ROLE = os.environ["FIELDCASE_FUZZ_ROLE"]
if ROLE not in ALLOWED:
    raise SystemExit(f"FIELDCASE_FUZZ_ROLE must be one of {sorted(ALLOWED)}")


@schemathesis.check
def role_may_use_route(ctx, response, case):
    """A 2xx only on a route the role under test may use."""
    route = f"{case.operation.method.upper()} {case.operation.path}"
    if 200 <= response.status_code < 300 and route not in ALLOWED[ROLE]:
        raise AssertionError(
            f"{ROLE} got {response.status_code} from {route}, a route this role may not use"
        )


@schemathesis.serializer(SYNC_MEDIA_TYPE)
def sync_body(ctx, value):
    if value is None:
        return None
    if isinstance(value, bytes):
        return zstandard.ZstdCompressor().compress(value)
    return zstandard.ZstdCompressor().compress(json.dumps(value).encode())


@schemathesis.deserializer(SYNC_MEDIA_TYPE)
def sync_reply(ctx, response):
    reader = zstandard.ZstdDecompressor().stream_reader(response.content)
    return json.loads(reader.read())


# 10.0.0.0/8, one address per request, in order: the server's table of sources is bounded far
# above what a run sends.
_SOURCES = (str(ipaddress.IPv4Address(0x0A000000 + i)) for i in itertools.count(1))


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.headers is None:
        case.headers = {}
    case.headers["X-Forwarded-For"] = next(_SOURCES)
