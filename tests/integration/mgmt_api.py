#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The management HTTP API, endpoint by endpoint: status codes, headers and
the names and JSON types of the fields, written against RabbitMQ 3.10's
management plugin (the parity suite runs it there) and passing against
lepus-control. Objects declared over HTTP are then used over AMQP (pika,
run through --amqp-prefix, e.g. in the client namespace), which proves the
dataplane got them.

  mgmt_api.py --url http://127.0.0.1:15672 --amqp-host 198.18.0.1 \
      [--amqp-prefix "ip netns exec NS"] [--target lepus|rabbitmq]

Every check prints one line; the exit status is the number of failures
(capped at 100). Bounded: every request has a 10 s timeout.
"""
import argparse
import json
import shlex
import subprocess
import sys
import time

import requests

ap = argparse.ArgumentParser()
ap.add_argument("--url", required=True)
ap.add_argument("--amqp-host", required=True)
ap.add_argument("--amqp-prefix", default="")
ap.add_argument("--target", default="lepus")
opt = ap.parse_args()

BASE = opt.url.rstrip("/")
GUEST = ("guest", "guest")
failures = []
PREFIX = "mgmt-t"  # every object this test makes starts with it


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def req(method, path, auth=GUEST, body=None, raw=None):
    kw = {"timeout": 10, "auth": auth, "allow_redirects": False}
    if body is not None:
        kw["data"] = json.dumps(body)
        kw["headers"] = {"content-type": "application/json"}
    if raw is not None:
        kw["data"] = raw
        kw["headers"] = {"content-type": "application/json"}
    return requests.request(method, BASE + path, **kw)


def status(method, path, want, **kw):
    r = req(method, path, **kw)
    check(r.status_code == want, f"{method} {path} -> {want} (got {r.status_code} {r.text[:200]})")
    return r


def get_json(path, auth=GUEST):
    r = req("GET", path, auth=auth)
    check(r.status_code == 200, f"GET {path} -> 200 (got {r.status_code} {r.text[:200]})")
    try:
        return r.json()
    except ValueError:
        check(False, f"GET {path}: JSON body")
        return None


def types(obj, spec, where):
    """spec: {field: type or tuple of types}; every field present, typed so."""
    if not check(isinstance(obj, dict), f"{where}: an object"):
        return
    for k, t in spec.items():
        check(k in obj and isinstance(obj[k], t) and not (t is int and isinstance(obj[k], bool)),
              f"{where}.{k}: {getattr(t, '__name__', t)} (got {type(obj.get(k)).__name__}"
              f" {json.dumps(obj.get(k))[:60]})")


def no_nulls(obj, where):
    bad = []

    def walk(o, path):
        if o is None:
            bad.append(path)
        elif isinstance(o, dict):
            for k, v in o.items():
                walk(v, f"{path}.{k}")
        elif isinstance(o, list):
            for i, v in enumerate(o):
                walk(v, f"{path}[{i}]")
    walk(obj, where)
    check(not bad, f"{where}: no null values (found {bad[:3]})")


def error_body(r, where, error=None):
    try:
        j = r.json()
    except ValueError:
        check(False, f"{where}: JSON error body (got {r.text[:80]!r})")
        return
    types(j, {"error": str, "reason": str}, where)
    if error:
        check(j.get("error") == error, f"{where}: error '{error}' (got {j.get('error')!r})")


def wait_for(pred, what, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return check(False, what)


def amqp(script, *args):
    """Run a pika snippet (argv[1:] are args) where the broker is reachable."""
    code = ("import sys, pika\n"
            f"c = pika.BlockingConnection(pika.ConnectionParameters({opt.amqp_host!r},"
            " credentials=pika.PlainCredentials('guest', 'guest'), socket_timeout=5,"
            " blocked_connection_timeout=5))\n"
            "ch = c.channel()\n" + script + "\nc.close()\n")
    cmd = shlex.split(opt.amqp_prefix) + ["timeout", "30", "/usr/bin/python3", "-c", code, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=40)
    return p.returncode, p.stdout.strip(), p.stderr.strip()[-300:]


# ---- auth, errors, routing ------------------------------------------------
r = status("GET", "/api/overview", 401, auth=None)
check("basic" in r.headers.get("www-authenticate", "").lower(),
      f"401 has WWW-Authenticate: Basic (got {r.headers.get('www-authenticate')!r})")
check(r.text == "", f"401 without credentials has no body (got {r.text[:80]!r})")
r = status("GET", "/api/overview", 401, auth=("guest", "wrong"))
error_body(r, "bad password body", "not_authorized")  # sic: RabbitMQ spells it so here
check("basic" in r.headers.get("www-authenticate", "").lower(), "bad password: WWW-Authenticate")
r = status("GET", "/api/no-such-thing", 404)
error_body(r, "404 body")
r = status("POST", "/api/overview", 405, body={})
check(r.headers.get("allow") == "HEAD, GET, OPTIONS", f"405 Allow (got {r.headers.get('allow')!r})")
r = status("GET", "/api/exchanges/%2F?page=1&page_size=900", 400)
error_body(r, "page_size over 500", "invalid_pagination_parameters")

# ---- overview, whoami, nodes ---------------------------------------------
ov = get_json("/api/overview")
types(ov, {"management_version": str, "rabbitmq_version": str, "product_name": str,
           "product_version": str, "node": str, "cluster_name": str, "object_totals": dict,
           "message_stats": dict, "queue_totals": dict, "exchange_types": list,
           "listeners": list, "contexts": list, "rates_mode": str, "disable_stats": bool},
      "overview")
types(ov.get("object_totals"), {k: int for k in
                                ("channels", "connections", "consumers", "exchanges", "queues")},
      "overview.object_totals")
for x in ov.get("exchange_types", []):
    types(x, {"name": str, "description": str, "enabled": bool}, "overview.exchange_types[]")
check({"direct", "fanout", "topic", "headers"} <= {x.get("name") for x in ov.get("exchange_types", [])},
      "overview lists the four exchange types")
if opt.target == "lepus":
    check(ov.get("product_name") == "Lepus", "overview.product_name is Lepus")
node = ov.get("node", "")

me = get_json("/api/whoami")
types(me, {"name": str, "tags": list}, "whoami")
check(me.get("name") == "guest" and "administrator" in me.get("tags", []), "whoami: guest, administrator")

# RabbitMQ fills a node's statistics in at its first emission (seconds
# after start); Lepus has them at once.
wait_for(lambda: "mem_used" in (get_json("/api/nodes") or [{}])[0], "node statistics", 30)
nodes = get_json("/api/nodes")
check(isinstance(nodes, list) and len(nodes) == 1, "one node")
if nodes:
    types(nodes[0], {"name": str, "type": str, "running": bool, "os_pid": str,
                     "mem_used": int, "mem_limit": int, "mem_alarm": bool,
                     "disk_free": int, "disk_free_limit": int, "disk_free_alarm": bool,
                     "fd_used": int, "fd_total": int, "uptime": int, "processors": int,
                     "exchange_types": list, "partitions": list}, "nodes[0]")
    check(nodes[0].get("name") == node, "nodes[0].name is overview.node")
    check(get_json("/api/nodes/" + requests.utils.quote(node, safe="")).get("name") == node,
          "GET /api/nodes/NAME")

# ---- vhosts (with %2F and a vhost holding '/') ------------------------------
V = PREFIX + "-v"
status("PUT", f"/api/vhosts/{V}", 201, body={})
status("PUT", f"/api/vhosts/{V}", 204, body={"description": "again"})
vs = get_json("/api/vhosts")
check(V in [v.get("name") for v in vs], "vhost listed")
for v in vs:
    types(v, {"name": str, "tracing": bool}, "vhosts[]")
no_nulls(vs, "vhosts")
check(get_json("/api/vhosts/%2F").get("name") == "/", "%2F is the default vhost")
status("PUT", f"/api/vhosts/{PREFIX}%2Fslash", 201)
check(get_json(f"/api/vhosts/{PREFIX}%2Fslash").get("name") == PREFIX + "/slash",
      "%2F decoded inside one segment")
status("DELETE", f"/api/vhosts/{PREFIX}%2Fslash", 204)
status("GET", f"/api/vhosts/{PREFIX}-none", 404)

# ---- users -----------------------------------------------------------------
U = PREFIX + "-u"
status("PUT", f"/api/users/{U}", 201, body={"password": "pw1", "tags": "management"})
status("PUT", f"/api/users/{U}", 204, body={"password": "pw1", "tags": "management"})
u = get_json(f"/api/users/{U}")
types(u, {"name": str, "password_hash": str, "hashing_algorithm": str, "tags": list}, "user")
check(u.get("tags") == ["management"], f"user tags ['management'] (got {u.get('tags')})")
check(u.get("hashing_algorithm") == "rabbit_password_hashing_sha256", "sha256 hashing")
users = get_json("/api/users")
check(U in [x.get("name") for x in users], "user listed")
no_nulls(users, "users")
check(get_json("/api/whoami", auth=(U, "pw1")).get("name") == U, "whoami as the new user")
status("GET", "/api/whoami", 401, auth=(U, "nope"))
# the same hash under another name logs in with the same password
U2 = PREFIX + "-u2"
status("PUT", f"/api/users/{U2}", 201,
       body={"password_hash": u.get("password_hash", ""), "hashing_algorithm":
             "rabbit_password_hashing_sha256", "tags": ["monitoring"]})
check(get_json("/api/whoami", auth=(U2, "pw1")).get("tags") == ["monitoring"],
      "password_hash import logs in, tags as a list")
# tags enforced
r = status("GET", "/api/users", 401, auth=(U, "pw1"))
error_body(r, "management user on /api/users", "not_authorised")
status("GET", "/api/nodes", 401, auth=(U, "pw1"))
status("GET", "/api/nodes", 200, auth=(U2, "pw1"))
status("PUT", f"/api/vhosts/{PREFIX}-nope", 401, auth=(U2, "pw1"))
U3 = PREFIX + "-notags"
r = status("PUT", f"/api/users/{U3}", 400, body={"password": "pw3"})
error_body(r, "user without tags", "bad_request")
status("PUT", f"/api/users/{U3}", 201, body={"password": "pw3", "tags": ""})
status("GET", "/api/overview", 401, auth=(U3, "pw3"))
status("DELETE", f"/api/users/{U3}", 204)
status("DELETE", f"/api/users/{U3}", 404)

# ---- permissions -----------------------------------------------------------
status("GET", f"/api/queues/{V}", 401, auth=(U, "pw1"))
check(V not in [v["name"] for v in get_json("/api/vhosts", auth=(U, "pw1"))],
      "management user does not see a vhost without permissions")
check(V in [v["name"] for v in get_json("/api/vhosts", auth=(U2, "pw1"))],
      "monitoring user sees every vhost")
P = {"configure": ".*", "write": ".*", "read": ".*"}
status("PUT", f"/api/permissions/{V}/{U}", 201, body=P)
status("PUT", f"/api/permissions/{V}/{U}", 204, body={"configure": "^$", "write": ".*", "read": ".*"})
p = get_json(f"/api/permissions/{V}/{U}")
types(p, {"user": str, "vhost": str, "configure": str, "write": str, "read": str}, "permission")
check(p.get("configure") == "^$", "permission updated")
check({"user": U, "vhost": V} .items() <= next((x for x in get_json("/api/permissions")
                                               if x.get("user") == U), {}).items(),
      "permission listed")
check(sorted(x.get("user") for x in get_json(f"/api/vhosts/{V}/permissions")) == sorted([U, "guest"]),
      "GET /api/vhosts/V/permissions (the vhost's creator has permissions too)")
check([x.get("vhost") for x in get_json(f"/api/users/{U}/permissions")] == [V],
      "GET /api/users/U/permissions")
status("GET", f"/api/queues/{V}", 200, auth=(U, "pw1"))
# configure '^$': the user may not declare
status("PUT", f"/api/queues/{V}/{PREFIX}-denied", 401, auth=(U, "pw1"), body={})

# ---- exchanges -------------------------------------------------------------
X = PREFIX + "-x"
status("PUT", f"/api/exchanges/%2F/{X}", 201, body={"type": "direct", "durable": "true"})
status("PUT", f"/api/exchanges/%2F/{X}", 204, body={"type": "direct", "durable": True})
r = status("PUT", f"/api/exchanges/%2F/{X}", 400, body={"type": "direct", "durable": False})
error_body(r, "inequivalent exchange", "bad_request")
x = get_json(f"/api/exchanges/%2F/{X}")
types(x, {"name": str, "vhost": str, "type": str, "durable": bool, "auto_delete": bool,
          "internal": bool, "arguments": dict}, "exchange")
check(x.get("durable") is True and x.get("type") == "direct", "exchange as declared")
xs = get_json("/api/exchanges/%2F")
names = [e.get("name") for e in xs]
check({"", "amq.direct", "amq.fanout", "amq.topic", "amq.headers", X} <= set(names),
      "default, amq.* and ours listed")
no_nulls(xs, "exchanges")
check(get_json("/api/exchanges/%2F/amq.default").get("name") == "", "amq.default is ''")
status("PUT", f"/api/exchanges/%2F/{X}-bad", 400, body={"type": "no-such-type"})
r = status("PUT", f"/api/exchanges/%2F/amq.{X}", 401, body={"type": "direct"})
error_body(r, "reserved name", "not_authorised")
r = status("PUT", f"/api/exchanges/{PREFIX}-none/{X}", 404, body={"type": "direct"})
error_body(r, "PUT into a missing vhost", "not_found")
r = status("PUT", f"/api/exchanges/%2F/{X}-b", 400, body={"type": "direct", "durable": "yes"})
check(r.json().get("reason") == ["not_boolean", "yes"], f"not_boolean reason (got {r.text[:80]})")
status("PUT", f"/api/exchanges/%2F/{X}-nt", 201, body={})
check(get_json(f"/api/exchanges/%2F/{X}-nt").get("type") == "direct", "type defaults to direct")
status("DELETE", f"/api/exchanges/%2F/{X}-nt", 204)
status("DELETE", f"/api/exchanges/%2F/{X}-none", 404)

# ---- queues: declare, columns, sort, pagination -----------------------------
Q = PREFIX + "-q"
status("PUT", f"/api/queues/%2F/{Q}", 201,
       body={"durable": True, "auto_delete": "false", "arguments": {"x-max-length": 10}})
status("PUT", f"/api/queues/%2F/{Q}", 204, body={"durable": True, "arguments": {"x-max-length": 10}})
status("PUT", f"/api/queues/%2F/{Q}", 400, body={"durable": False, "arguments": {"x-max-length": 10}})
status("PUT", f"/api/queues/%2F/{Q}-neg", 400, body={"arguments": {"x-max-length": -1}})
q = get_json(f"/api/queues/%2F/{Q}")
types(q, {"name": str, "vhost": str, "durable": bool, "auto_delete": bool, "exclusive": bool,
          "arguments": dict, "node": str, "type": str}, "queue")
check(q.get("arguments") == {"x-max-length": 10}, f"queue arguments typed (got {q.get('arguments')})")
for k in ("messages", "messages_ready", "messages_unacknowledged", "consumers"):
    if k in q:  # RabbitMQ adds them with its first stats emission
        check(isinstance(q[k], int), f"queue.{k}: int")
for i in (1, 2):
    status("PUT", f"/api/queues/%2F/{Q}-{i}", 201, body={})
qs = get_json(f"/api/queues/%2F?columns=name,durable&sort=name&sort_reverse=true")
mine = [e for e in qs if e.get("name", "").startswith(Q)]
check([e["name"] for e in mine] == [f"{Q}-2", f"{Q}-1", Q], f"sort_reverse by name (got {[e.get('name') for e in mine]})")
check(all(set(e) == {"name", "durable"} for e in qs), "columns keep only name, durable")
pg = get_json(f"/api/queues/%2F?page=1&page_size=2&name={Q}&sort=name")
types(pg, {k: int for k in ("filtered_count", "item_count", "page", "page_count", "page_size",
                            "total_count")} | {"items": list}, "page")
check(pg.get("item_count") == 2 and pg.get("page_count") == 2 and pg.get("filtered_count") == 3,
      f"page 1 of 2 (got {({k: v for k, v in pg.items() if k != 'items'})})")
pg2 = get_json(f"/api/queues/%2F?page=2&page_size=2&name={Q}&sort=name")
check([e.get("name") for e in pg2.get("items", [])] == [f"{Q}-2"], "page 2")
status("GET", f"/api/queues/%2F?page=9&page_size=2&name={Q}", 400)
status("DELETE", f"/api/queues/%2F/{Q}-2", 204)
status("DELETE", f"/api/queues/%2F/{Q}-2", 404)
status("DELETE", f"/api/queues/%2F/{Q}-1?if-empty=true", 204)

# ---- a queue's live counts and message_stats (the dataplane's samples) ----
QL = PREFIX + "-live"
status("PUT", f"/api/queues/%2F/{QL}", 201, body={})
rc, out, err = amqp("ch.confirm_delivery()\n"
                    "for i in range(3): ch.basic_publish('', sys.argv[1], b'm%d' % i)\n"
                    "print('published')", QL)
check(rc == 0 and out == "published", f"3 confirmed publishes to {QL} ({err})")


def live(pred):
    q = get_json(f"/api/queues/%2F/{QL}")
    return q is not None and pred(q)


def stat(q, key):
    return q.get("message_stats", {}).get(key)


wait_for(lambda: live(lambda q: q.get("messages_ready") == 3 and q.get("messages") == 3
                      and stat(q, "publish") == 3),
         "messages_ready 3 and message_stats.publish 3 after the publishes", seconds=15)
q = get_json(f"/api/queues/%2F/{QL}")
types(q, {"messages": int, "messages_ready": int, "messages_unacknowledged": int,
          "consumers": int, "message_bytes_ready": int, "message_stats": dict}, "live queue")
types(q.get("message_stats", {}), {"publish": int, "publish_details": dict}, "message_stats")
check(isinstance(q.get("message_stats", {}).get("publish_details", {}).get("rate"), (int, float)),
      "message_stats.publish_details.rate is a number")
check(q.get("message_bytes_ready") == 6, f"message_bytes_ready 6 (got {q.get('message_bytes_ready')})")
# A consumer holding one unacked delivery (prefetch 1) for a few seconds.
consumer = subprocess.Popen(shlex.split(opt.amqp_prefix) + [
    "timeout", "30", "/usr/bin/python3", "-c",
    "import sys, time, pika\n"
    f"c = pika.BlockingConnection(pika.ConnectionParameters({opt.amqp_host!r},"
    " credentials=pika.PlainCredentials('guest', 'guest')))\n"
    "ch = c.channel(); ch.basic_qos(prefetch_count=1)\n"
    "ch.basic_consume(sys.argv[1], lambda *a: None)\n"
    "end = time.time() + 12\n"
    "while time.time() < end: c.process_data_events(0.2)\n"
    "c.close()\n", QL])
wait_for(lambda: live(lambda q: q.get("messages_unacknowledged") == 1 and q.get("consumers") == 1
                      and q.get("messages_ready") == 2 and q.get("messages") == 3),
         "1 unacked, 2 ready, 1 consumer while the consumer holds a delivery", seconds=15)
q = get_json(f"/api/queues/%2F/{QL}")
check((stat(q, "deliver_get") or 0) >= 1 and (stat(q, "deliver") or 0) >= 1,
      f"message_stats.deliver and deliver_get count the delivery (got {q.get('message_stats')})")
r = status("DELETE", f"/api/queues/%2F/{QL}?if-unused=true", 400)
error_body(r, "DELETE if-unused of a queue with a consumer", "bad_request")
consumer.wait(timeout=40)
wait_for(lambda: live(lambda q: q.get("messages_ready") == 3 and q.get("consumers") == 0),
         "the unacked delivery is back (3 ready, no consumer) after the consumer closed", seconds=15)
r = status("DELETE", f"/api/queues/%2F/{QL}?if-empty=true", 400)
error_body(r, "DELETE if-empty of a queue with messages", "bad_request")
status("DELETE", f"/api/queues/%2F/{QL}", 204)

# ---- bindings --------------------------------------------------------------
base = f"/api/bindings/%2F/e/{X}/q/{Q}"
r = status("POST", base, 201, body={"routing_key": "a.b", "arguments": {}})
loc = r.headers.get("location", "")
check(loc == f"{Q}/a.b", f"Location names the binding (got {loc!r})")
r = status("POST", base, 201, body={"routing_key": "r k~x"})
check(r.headers.get("location") == f"{Q}/r%2Bk%257Ex", f"Location quoting (got {r.headers.get('location')!r})")
status("DELETE", f"{base}/r%2Bk%257Ex", 204)
r = status("POST", f"/api/bindings/%2F/e/amq.default/q/{Q}", 401, body={"routing_key": "k"})
r = status("POST", base, 201, body={"routing_key": "", "arguments": {"k": "v"}})
bs = get_json(base)
for b in bs:
    types(b, {"source": str, "vhost": str, "destination": str, "destination_type": str,
              "routing_key": str, "arguments": dict, "properties_key": str}, "binding")
pks = sorted(b.get("properties_key") for b in bs)
check(len(bs) == 2 and "a.b" in pks and any(k.startswith("~") and len(k) > 1 for k in pks),
      f"properties_key: key, or ~hash with arguments (got {pks})")
status("GET", f"{base}/a.b", 200)
qb = get_json(f"/api/queues/%2F/{Q}/bindings")
check(any(b.get("source") == "" and b.get("routing_key") == Q for b in qb),
      "queue bindings include the default exchange's")
check(len([b for b in get_json(f"/api/exchanges/%2F/{X}/bindings/source")]) == 2,
      "exchange source bindings")
check(any(b.get("source") == X for b in get_json("/api/bindings/%2F")), "bindings of the vhost")
no_nulls(get_json("/api/bindings"), "bindings")

# ---- topology sync: what HTTP declared, AMQP uses ----------------------------
rc, out, err = amqp("ch.basic_publish(sys.argv[1], 'a.b', b'via-http')\n"
                    "for _ in range(50):\n"
                    "    m = ch.basic_get(sys.argv[2], auto_ack=True)\n"
                    "    if m[0]: print(m[2].decode()); break\n"
                    "    c.sleep(0.1)", X, Q)
check(rc == 0 and out == "via-http",
      f"AMQP publish to the HTTP exchange reaches the HTTP queue (rc {rc}, out {out!r}, {err})")

for b in bs:
    status("DELETE", f"{base}/{requests.utils.quote(b['properties_key'], safe='')}", 204)
status("GET", f"{base}/a.b", 404)
check(get_json(base) == [], "bindings deleted")
rc, out, err = amqp("ch.basic_publish(sys.argv[1], 'a.b', b'x', mandatory=True)\n"
                    "ch.confirm_delivery()\n"
                    "try:\n"
                    "    ch.basic_publish(sys.argv[1], 'a.b', b'x', mandatory=True); print('routed')\n"
                    "except pika.exceptions.UnroutableError: print('unroutable')", X)
check(out == "unroutable", f"AMQP sees the unbind (got {out!r} {err})")

# ---- definitions -------------------------------------------------------------
d = get_json("/api/definitions")
types(d, {"rabbit_version": str, "users": list, "vhosts": list, "permissions": list,
          "topic_permissions": list, "parameters": list, "global_parameters": list,
          "policies": list, "queues": list, "exchanges": list, "bindings": list}, "definitions")
g = next((x for x in d.get("users", []) if x.get("name") == "guest"), {})
types(g, {"name": str, "password_hash": str, "hashing_algorithm": str}, "definitions.users[guest]")
check(not any(x.get("name", "").startswith("amq.") or x.get("name") == ""
              for x in d.get("exchanges", [])), "no default exchanges exported")
dq = next((x for x in d.get("queues", []) if x.get("name") == Q), {})
types(dq, {"name": str, "vhost": str, "durable": bool, "auto_delete": bool, "arguments": dict},
      "definitions.queues[]")
V2 = PREFIX + "-imported"
imp = {"vhosts": [{"name": V2}],
       "users": [{"name": PREFIX + "-iu", "password_hash": u.get("password_hash", ""),
                  "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": "management"}],
       "permissions": [{"user": PREFIX + "-iu", "vhost": V2, "configure": ".*", "write": ".*",
                        "read": ".*"}],
       "exchanges": [{"name": "ix", "vhost": V2, "type": "fanout", "durable": True,
                      "auto_delete": False, "internal": False, "arguments": {}}],
       "queues": [{"name": "iq", "vhost": V2, "durable": True, "auto_delete": False,
                   "arguments": {"x-max-length": 5}},
                  {"name": Q, "vhost": "/", "durable": False, "auto_delete": False, "arguments": {}}],
       "bindings": [{"source": "ix", "vhost": V2, "destination": "iq", "destination_type": "queue",
                     "routing_key": "", "arguments": {}}]}
status("POST", "/api/definitions", 204, body=imp)
check(get_json(f"/api/queues/{V2}/iq").get("arguments") == {"x-max-length": 5}, "imported queue")
check(get_json(f"/api/exchanges/{V2}/ix").get("type") == "fanout", "imported exchange")
check(len(get_json(f"/api/bindings/{V2}/e/ix/q/iq")) == 1, "imported binding")
check(get_json("/api/whoami", auth=(PREFIX + "-iu", "pw1")).get("name") == PREFIX + "-iu",
      "imported user logs in")
check(get_json(f"/api/queues/%2F/{Q}").get("durable") is True, "import keeps an existing queue")
dv = get_json(f"/api/definitions/{V2}")
check([x.get("name") for x in dv.get("queues", [])] == ["iq"], "per-vhost export")
r = status("POST", "/api/definitions", 400, raw="{not json")
check(r.json().get("reason") == "failed_to_parse_json", "import of bad JSON")
r = status("PUT", f"/api/permissions/%2F/{U}", 400, body={"configure": ".*"})
check(r.json().get("reason") == "[{key_missing,write},{key_missing,read}]",
      f"permission keys missing (got {r.text[:100]})")
r = status("PUT", f"/api/permissions/%2F/{PREFIX}-nouser", 400, body=P)
check(r.json().get("reason") == "vhost_or_user_not_found", "permission of a missing user")
check([v for v in get_json("/api/definitions").get("vhosts", []) if v.get("name") == "/"] == [{"name": "/"}],
      "exported vhosts are {name}")

# ---- aliveness and health ----------------------------------------------------
a = get_json("/api/aliveness-test/%2F")
check(a == {"status": "ok"}, f"aliveness-test ok (got {a})")
status("GET", f"/api/aliveness-test/{PREFIX}-none", 404)
for h in ("alarms", "local-alarms", "virtual-hosts"):
    check(get_json(f"/api/health/checks/{h}") == {"status": "ok"}, f"health check {h}")

# ---- clean up ------------------------------------------------------------------
status("DELETE", f"/api/queues/%2F/{Q}", 204)
status("DELETE", f"/api/queues/%2F/aliveness-test", 204)
status("DELETE", f"/api/exchanges/%2F/{X}", 204)
status("DELETE", f"/api/exchanges/%2F/{X}", 404)
for vh in (V, V2):
    status("DELETE", f"/api/vhosts/{vh}", 204)
status("DELETE", f"/api/vhosts/{V}", 404)
for name in (U, U2, PREFIX + "-iu"):
    status("DELETE", f"/api/users/{name}", 204)
left = [x["name"] for x in get_json("/api/queues") if x["name"].startswith(PREFIX)]
check(not left, f"nothing left behind (queues {left})")

print(f"{len(failures)} failure(s)" + (": " + "; ".join(failures[:10]) if failures else ""))
sys.exit(min(len(failures), 100))
