"""Which routes each role may use, for scripts/api-fuzz.sh (the check is in hooks.py).

The table below
is the access rule of the server written out once more, from its sources: server/src/roles.rs
(what each role is for), server/src/http/auth.rs (device credentials on device routes, admin
tokens on /v1/admin, `require_system`), server/src/http/principal.rs (who reads reports, case
reviews and the duplicate list) and server/src/http/meta.rs (/metrics). Written independently of
the server's code on purpose: if the server ever lets a role through where this table says no,
the run fails.
"""

# Open to anyone: health, the API document, the dashboard's static files, and enrollment (which
# checks a one-time code instead of a token).
PUBLIC = {
    "GET /healthz",
    "GET /openapi.json",
    "GET /dashboard",
    "GET /dashboard/app.js",
    "GET /dashboard/app.css",
    "GET /dashboard/vendor.js",
    "GET /dashboard/parts/{name}",
    "GET /dashboard/world.json",
    "GET /dashboard/labels.json",
    "POST /v1/enroll",
}

# An enrolled phone (a caseworker's or a supervisor's device credential): its agency's case work.
DEVICE = {
    "POST /v1/sync",
    "GET /v1/referrals/{referral_id}/timeline",
    "PUT /v1/attachments/{attachment_id}",
    "GET /v1/attachments/{attachment_id}",
    "GET /v1/attachments/{attachment_id}/upload",
    "PUT /v1/attachments/{attachment_id}/chunks/{index}",
    "GET /v1/attachments/{attachment_id}/chunks/{index}",
    "GET /v1/cases/{case_id}/attachments",
}

# Administration a system admin alone may do (`Admin::require_system`, always).
SYSTEM_ADMIN_ONLY = {
    "POST /v1/admin/agencies",
    "POST /v1/admin/tokens",
    "GET /v1/admin/audit/checkpoints",
    "POST /v1/admin/audit/checkpoints",
    "POST /v1/admin/retention/purge",
    "GET /metrics",
}

# Administration an agency admin may do too, limited to its agency.
AGENCY_ADMINISTRATION = {
    "GET /v1/admin/agencies",
    "GET /v1/admin/agencies/{code}/retention",
    "PUT /v1/admin/agencies/{code}/retention",
    "PUT /v1/admin/agencies/{code}/device-policy",
    "GET /v1/admin/users",
    "POST /v1/admin/users",
    "POST /v1/admin/users/{user_id}/enrollment-codes",
    "POST /v1/admin/users/{user_id}/api-tokens",
    "POST /v1/admin/users/{user_id}/api-tokens/revoke",
    "GET /v1/admin/devices",
    "POST /v1/admin/devices/{device_id}/revoke",
    "POST /v1/admin/devices/{device_id}/renew",
    "GET /v1/admin/tokens",
    "POST /v1/admin/tokens/rotate",
    "POST /v1/admin/tokens/{token_id}/revoke",
    "GET /v1/admin/api-tokens",
    "POST /v1/admin/api-tokens/{token_id}/revoke",
    "GET /v1/admin/enrollment-codes",
    "POST /v1/admin/enrollment-codes/{code_id}/revoke",
    "GET /v1/admin/forms",
    "POST /v1/admin/forms",
    "GET /v1/admin/audit",
}

REPORTS = {
    "GET /v1/reports",
    "GET /v1/reports/options",
    "GET /v1/reports/series",
    "GET /v1/reports/{table}",
}
CASE_REVIEWS = {"GET /v1/case-reviews"}
DUPLICATES = {
    "GET /v1/duplicates",
    "POST /v1/duplicates/{pair_id}/confirm",
    "POST /v1/duplicates/{pair_id}/reject",
}

ALLOWED = {
    "anonymous": PUBLIC,
    # The device of a caseworker: sync and its agency's referrals and attachments, nothing else.
    "caseworker": PUBLIC | DEVICE,
    # A supervisor's API token: its agency's figures and the cases that need review.
    "supervisor": PUBLIC | REPORTS | CASE_REVIEWS,
    # An analyst's API token from a system admin, without grants: figures only.
    "analyst": PUBLIC | REPORTS,
    # An agency admin's token: its agency's administration, figures and review list.
    "agency_admin": PUBLIC | AGENCY_ADMINISTRATION | REPORTS | CASE_REVIEWS,
    # The system admin: the whole network's administration, figures and duplicate review; the
    # review list is the agency's case work (403).
    "system_admin": PUBLIC | AGENCY_ADMINISTRATION | SYSTEM_ADMIN_ONLY | REPORTS | DUPLICATES,
}
