"""Schemathesis hooks for scripts/api-conformance.sh.

The run generates `DELETE /api/v1/tokens/{id}` and `POST /api/v1/tokens/{id}/regenerate`
with ids of its own choosing and with ids found in earlier answers (the token listing holds
the run's own token). Revoking or regenerating the token the run authenticates with would
turn every later check into a meaningless 401, so such a request is pointed at a decoy token
instead: it gets the same kind of answer (the decoy revoked or replaced, or 404 once it is),
and the run goes on with a working token.
"""

import os
import re

import schemathesis

PROTECTED_TOKEN_ID = int(os.environ["TW_CONFORMANCE_TOKEN_ID"])
DECOY_TOKEN_ID = int(os.environ["TW_CONFORMANCE_DECOY_ID"])
# What the server reads as a token id (Rust's i64 parsing): an optional sign, then digits.
TOKEN_ID = re.compile(r"[+-]?[0-9]+")


@schemathesis.hook
def before_call(context, case, **kwargs):
    # The only operations with an `id` in their path revoke or regenerate a token.
    if case.method.upper() not in ("DELETE", "POST") or not case.path_parameters:
        return
    targeted = str(case.path_parameters.get("id"))
    if TOKEN_ID.fullmatch(targeted) and int(targeted) == PROTECTED_TOKEN_ID:
        case.path_parameters["id"] = DECOY_TOKEN_ID
