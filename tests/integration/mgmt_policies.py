#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Policies, operator policies, parameters and global parameters in the
management API, written against RabbitMQ 3.10.8 (the parity suite runs it
there) and passing against lepus-control: status codes, JSON fields and
types, RabbitMQ's exact 400 reasons (unknown definition keys, a bad PCRE
pattern, apply-to, priority, missing keys; operator policies' smaller key
set), 404s, the definitions export (policies, parameters,
global_parameters) and import (merged; a bad entry's reason names it).

  mgmt_policies.py --url http://127.0.0.1:15672

Every check prints one line; the exit status is the number of failures
(capped at 100). Every request has a 10 s timeout.
"""
import argparse
import sys

import requests

ap = argparse.ArgumentParser()
ap.add_argument("--url", required=True)
opt = ap.parse_args()
BASE = opt.url.rstrip("/")
failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def req(method, path, body=None, auth=("guest", "guest")):
    return requests.request(method, BASE + path, json=body, auth=auth, timeout=10)


def status(method, path, want, body=None):
    r = req(method, path, body)
    check(r.status_code == want, f"{method} {path} -> {want} (got {r.status_code} {r.text[:160]})")
    return r


def reason(path, body, want, method="PUT"):
    r = req(method, path, body)
    got = r.json().get("reason") if r.status_code == 400 else None
    check(r.status_code == 400 and got == want,
          f"{method} {path} {body}: 400 {want!r} (got {r.status_code} {got!r})")


VF = "Validation failed\n\n%s\n"
P = "/api/policies/%2F/mp-t"
O = "/api/operator-policies/%2F/mp-t-op"

for p in (P, P + "2", O):
    req("DELETE", p)
req("DELETE", "/api/global-parameters/mp-t-g")
req("DELETE", "/api/vhosts/mp-t-v")

# ---- policies -------------------------------------------------------------
status("PUT", P, 201, {"pattern": "^mp-", "definition": {"max-length": 5}, "priority": 1,
                       "apply-to": "queues"})
status("PUT", P, 204, {"pattern": "^(?!amq\\.).*", "definition": {"max-length": 6}})
pol = status("GET", P, 200).json()
check(pol == {"vhost": "/", "name": "mp-t", "pattern": "^(?!amq\\.).*", "apply-to": "all",
              "definition": {"max-length": 6}, "priority": 0}, f"GET policy: normalised ({pol})")
lst = status("GET", "/api/policies", 200).json()
check(any(x["name"] == "mp-t" for x in lst), "GET /api/policies lists it")
check(any(x["name"] == "mp-t" for x in status("GET", "/api/policies/%2F", 200).json()),
      "GET /api/policies/%2F lists it")
status("GET", "/api/policies/mp-nope", 404)
status("GET", P + "-nope", 404)
status("DELETE", P + "-nope", 404)
r = status("PUT", "/api/policies/mp-nope/x", 404, {"pattern": "a", "definition": {"expires": 1}})
check(r.json() == {"error": "not_found", "reason": "vhost_not_found"}, "PUT into a missing vhost")

reason(P + "2", {"pattern": "a"}, "[{key_missing,definition}]")
reason(P + "2", {"definition": {"expires": 1}}, "[{key_missing,pattern}]")
reason(P + "2", {"pattern": "[", "definition": {"max-length": 5}},
       VF % 'pattern should be regular expression but is invalid: {"missing terminating ] for '
       'character class",\n                                                      1}')
reason(P + "2", {"pattern": "a", "definition": {"foo": 5, "bar": "x"}},
       VF % '[{&lt;&lt;"bar"&gt;&gt;,&lt;&lt;"x"&gt;&gt;},{&lt;&lt;"foo"&gt;&gt;,5}] are not '
       'recognised policy settings')
reason(P + "2", {"pattern": "a", "definition": {}}, VF % "no policy provided")
reason(P + "2", {"pattern": "a", "definition": {"max-length": "x"}},
       VF % '&lt;&lt;"x"&gt;&gt; is not a valid maximum length')
reason(P + "2", {"pattern": "a", "definition": {"message-ttl": 1.5}},
       VF % "1.5 is not a valid message TTL")
reason(P + "2", {"pattern": "a", "definition": {"expires": 0}}, VF % "0 is not a valid queue expiry")
reason(P + "2", {"pattern": "a", "definition": {"overflow": "bogus"}},
       VF % '&lt;&lt;"bogus"&gt;&gt; is not a valid overflow value')
reason(P + "2", {"pattern": "a", "definition": {"max-length": 1}, "apply-to": "bogus"},
       VF % "apply-to 'bogus' unrecognised; should be 'queues', 'exchanges' or 'all'")
reason(P + "2", {"pattern": "a", "definition": {"max-length": 1}, "priority": "3"},
       VF % 'priority should be a number, actually was &lt;&lt;"3"&gt;&gt;')
reason(P + "2", {"pattern": "a", "definition": {"ha-params": 1}},
       VF % "ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown")
status("GET", P + "2", 404)

# ---- operator policies ----------------------------------------------------
status("PUT", O, 201, {"pattern": "^mp-", "definition": {"message-ttl": 5}, "apply-to": "queues"})
op = status("GET", O, 200).json()
check(op.get("definition") == {"message-ttl": 5} and op.get("apply-to") == "queues",
      f"GET operator policy ({op})")
reason(O, {"pattern": "a", "definition": {"dead-letter-exchange": "x"}},
       VF % '[{<<"dead-letter-exchange">>,<<"x">>}] are not recognised policy settings')
params = status("GET", "/api/parameters", 200).json()
mine = [x for x in params if x.get("name") == "mp-t-op"]
check(len(mine) == 1 and mine[0]["component"] == "operator_policy" and mine[0]["vhost"] == "/"
      and mine[0]["value"]["definition"] == {"message-ttl": 5},
      f"GET /api/parameters: the operator policy as component operator_policy ({mine})")
check(not any(x.get("name") == "mp-t" for x in params), "GET /api/parameters: no user policy in it")
check(status("GET", "/api/parameters/operator_policy/%2F/mp-t-op", 200).json()["component"]
      == "operator_policy", "GET /api/parameters/operator_policy/%2F/NAME")
check(status("GET", "/api/parameters/mp-comp", 200).json() == [], "an unknown component lists []")
reason("/api/parameters/mp-comp/%2F/x", {"value": {"a": 1}}, VF % "component mp-comp not found")
reason("/api/parameters/mp-comp/%2F/x", {}, "[{key_missing,value}]")

# ---- global parameters ----------------------------------------------------
status("PUT", "/api/global-parameters/mp-t-g", 201, {"value": {"a": [1, "b"]}})
status("PUT", "/api/global-parameters/mp-t-g", 204, {"name": "mp-t-g", "value": {"a": [1, "b"]}})
check(status("GET", "/api/global-parameters/mp-t-g", 200).json() ==
      {"name": "mp-t-g", "value": {"a": [1, "b"]}}, "GET global parameter")
g = status("GET", "/api/global-parameters", 200).json()
check(any(x["name"] == "internal_cluster_id" and isinstance(x["value"], str)
          and x["value"].startswith("rabbitmq-cluster-id-") for x in g),
      "global parameters: internal_cluster_id")
reason("/api/global-parameters/mp-t-g", {}, "[{key_missing,value}]")

# ---- auth -----------------------------------------------------------------
r = req("GET", "/api/policies", auth=("guest", "wrong"))
check(r.status_code == 401, f"a wrong password: 401 (got {r.status_code})")

# ---- definitions ------------------------------------------------------------
d = status("GET", "/api/definitions", 200).json()
check(any(x["name"] == "mp-t" and x["vhost"] == "/" and x["definition"] == {"max-length": 6}
          for x in d["policies"]), "export: policies")
check(any(x["name"] == "mp-t-op" and x["component"] == "operator_policy" for x in d["parameters"]),
      "export: parameters (operator policies)")
check(any(x["name"] == "mp-t-g" and x["value"] == {"a": [1, "b"]} for x in d["global_parameters"]),
      "export: global_parameters")
dv = status("GET", "/api/definitions/%2F", 200).json()
check(any(x["name"] == "mp-t" for x in dv["policies"]) and "global_parameters" not in dv,
      "export of one vhost: its policies, no global parameters")
status("PUT", "/api/vhosts/mp-t-v", 201, {})
status("POST", "/api/definitions", 204, {
    "policies": [{"vhost": "mp-t-v", "name": "imp", "pattern": "x", "apply-to": "exchanges",
                  "definition": {"alternate-exchange": "ae"}, "priority": 4}],
    "parameters": [{"vhost": "mp-t-v", "component": "operator_policy", "name": "imp-op",
                    "value": {"pattern": "y", "definition": {"max-length": 9}, "priority": 0,
                              "apply-to": "queues"}}],
    "global_parameters": [{"name": "mp-t-g", "value": 7}]})
check(status("GET", "/api/policies/mp-t-v/imp", 200).json()["priority"] == 4, "import: the policy")
check(status("GET", "/api/operator-policies/mp-t-v/imp-op", 200).json()["definition"]
      == {"max-length": 9}, "import: the operator policy")
check(status("GET", "/api/global-parameters/mp-t-g", 200).json()["value"] == 7,
      "import: the global parameter replaced")
r = req("POST", "/api/definitions", {"policies": [{"vhost": "/", "name": "mp-t2", "pattern": "x",
        "apply-to": "all", "definition": {"foo": 100}, "priority": 0}]})
check(r.status_code == 400 and r.json().get("reason") ==
      VF % '[{&lt;&lt;"foo"&gt;&gt;,100}] are not recognised policy settings' + " (//mp-t2)",
      f"import: a bad policy's reason names it ({r.status_code} {r.text[:200]})")
# deleting a vhost deletes its policies
status("DELETE", "/api/vhosts/mp-t-v", 204)
status("PUT", "/api/vhosts/mp-t-v", 201, {})
check(status("GET", "/api/policies/mp-t-v", 200).json() == [], "a re-created vhost has no policies")

for p in (P, O, "/api/global-parameters/mp-t-g", "/api/vhosts/mp-t-v"):
    status("DELETE", p, 204)
print(f"{len(failures)} failure(s)")
sys.exit(min(len(failures), 100))
