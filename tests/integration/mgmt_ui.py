#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The web UI in Debian's headless Chromium (selenium + chromedriver),
against a live lepus-control (and its dataplane): log in (a wrong password
refused), the overview's totals and charts, a queue declared over AMQP
(pika, through --amqp-prefix) listed, a queue declared through the form
present in the API, server-side paging and sorting, the publish, get and
purge forms showing exactly the API's answer, policies (a bad pattern's
reason shown), users, vhosts, definitions download and upload, delete,
log out. Each step saves a screenshot into --shots.

  mgmt_ui.py --url http://127.0.0.1:15672 --shots DIR \
      [--amqp-host 198.18.0.1 --amqp-prefix "ip netns exec NS"]

Every check prints one line; the exit status is the number of failures
(capped at 100). Bounded: every wait is at most 15 s.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

ap = argparse.ArgumentParser()
ap.add_argument("--url", required=True)
ap.add_argument("--shots", required=True)
ap.add_argument("--amqp-host")
ap.add_argument("--amqp-prefix", default="")
opt = ap.parse_args()

BASE = opt.url.rstrip("/")
GUEST = ("guest", "guest")
failures = []
os.makedirs(opt.shots, exist_ok=True)


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def api(method, path, body=None):
    return requests.request(method, BASE + "/api" + path, auth=GUEST, timeout=10,
                            json=body)


profile = tempfile.mkdtemp(prefix="lepus-ui-chromium.")
o = webdriver.ChromeOptions()
o.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1400,1000", "--user-data-dir=" + profile, "--no-first-run",
          "--disable-extensions", "--disable-background-networking"):
    o.add_argument(a)
o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
drv.set_page_load_timeout(15)
wait = WebDriverWait(drv, 15)


def shot(name):
    path = os.path.join(opt.shots, name + ".png")
    drv.save_screenshot(path)
    check(os.path.getsize(path) > 1000, f"screenshot {path}")


def css(sel):
    return wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, sel)))


def text_in(sel, want):
    try:
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, sel), want))
        return True
    except Exception:
        return False


def fill(form, values):
    f = css(form)
    for k, v in values.items():
        e = f.find_element(By.NAME, k)
        if e.tag_name == "select":
            Select(e).select_by_value(v)
        else:
            e.clear()
            e.send_keys(v)
    return f


def submit(form):
    css(form).find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def go(hash_):
    drv.get(BASE + "/#/" + hash_)


def error_of(r):
    j = r.json()
    return f"{r.status_code} {j['error']}: {j['reason']}"


try:
    # ---- objects made outside the UI ------------------------------------------
    for q in ("ui-amqp-q",):
        api("DELETE", f"/queues/%2F/{q}")
    if opt.amqp_host:
        script = ("import pika, sys; c = pika.BlockingConnection(pika.ConnectionParameters("
                  "sys.argv[1], connection_attempts=5, retry_delay=1)); ch = c.channel(); "
                  "ch.queue_declare(queue='ui-amqp-q', durable=True); c.close()")
        rc = subprocess.run(shlex.split(opt.amqp_prefix) + ["/usr/bin/python3", "-c", script,
                            opt.amqp_host], timeout=60).returncode
        check(rc == 0, "queue ui-amqp-q declared over AMQP")
    else:
        check(api("PUT", "/queues/%2F/ui-amqp-q", {"durable": True}).status_code in (201, 204),
              "queue ui-amqp-q declared over HTTP")
    for i in range(25):
        api("PUT", f"/queues/%2F/ui-page-{i:02d}", {"durable": False})

    # ---- login ------------------------------------------------------------
    drv.get(BASE + "/")
    css("form#login")
    shot("01-login")
    fill("form#login", {"username": "guest", "password": "wrong"})
    submit("form#login")
    check(text_in("form#login .error", "401"), "a wrong password is refused (401 shown)")
    fill("form#login", {"username": "guest", "password": "guest"})
    submit("form#login")
    check(text_in("#who", "user guest"), "logged in as guest")

    # ---- overview ----------------------------------------------------------
    check(text_in("[data-total=queues] b", str(api("GET", "/overview").json()["object_totals"]["queues"])),
          "overview: the queue total is the API's")
    drawn = drv.execute_script(
        "const c = document.getElementById('rates'); const d = c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
        "for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;")
    check(drawn > 500, f"overview: the rate chart is drawn ({drawn} pixels)")
    shot("02-overview")

    # ---- queues: list, paging and sorting, declare through the form ----------
    go("queues")
    check(text_in(".list table", "ui-amqp-q"), "queues: the queue declared over AMQP is listed")
    Select(css(".list select[name=page_size]")).select_by_value("20")
    check(text_in(".pager", "page 1 of"), "queues: pager shown")
    rows = len(drv.find_elements(By.CSS_SELECTOR, ".list table tr")) - 1
    total = len(api("GET", "/queues").json())
    check(rows == min(20, total), f"queues: page_size 20 shows {min(20, total)} rows (got {rows})")
    check(text_in(".pager", f"of {total})"), f"queues: pager counts {total} queues")
    # sorted by name ascending: one click on its header reverses it
    wait.until(EC.element_to_be_clickable((By.XPATH, "//div[@class='list']//th[text()='Name']"))).click()
    check(text_in(".list table tr:nth-child(2) td:nth-child(2)", "ui-page-24"),
          "queues: sort_reverse by name puts ui-page-24 first")
    fill(".list", {"filter": "ui-page-0"})
    css(".list input[name=filter]").send_keys("\n")
    check(text_in(".pager", "(10 of"), "queues: the name filter leaves 10 queues")
    fill("form#add-queue", {"name": "ui-form-q", "durable": "true",
                            "arguments": '{"x-max-length": 42}'})
    submit("form#add-queue")
    check(text_in("main .ok", "queue 'ui-form-q' declared"), "queues: declared through the form")
    r = api("GET", "/queues/%2F/ui-form-q")
    check(r.status_code == 200 and r.json()["durable"] is True
          and r.json()["arguments"] == {"x-max-length": 42},
          f"queues: the API has ui-form-q, durable, x-max-length 42 ({r.text[:120]})")
    fill("form#add-queue", {"name": "amq.reserved"})
    submit("form#add-queue")
    want = error_of(api("PUT", "/queues/%2F/amq.reserved", {"durable": True}))
    check(text_in("main .error", want), f"queues: a refused declaration shows the API's error ({want})")
    shot("03-queues")

    # ---- one queue: publish, get, purge (the API's answers), delete ----------
    go("queues/%2F/ui-form-q")
    check(text_in("#queue-details [data-field=arguments]", "x-max-length"), "queue page: details")
    fill("form#publish", {"payload": "hello from the UI"})
    submit("form#publish")
    r = api("POST", "/exchanges/%2F/amq.default/publish",
            {"properties": {"delivery_mode": 1}, "routing_key": "ui-form-q-probe",
             "payload": "probe", "payload_encoding": "string"})
    want = ("Message published" if r.ok else error_of(r))
    check(text_in("#queue-msg", want), f"queue page: publish shows the API's answer ({want})")
    shot("04-queue-publish")
    submit("form#get")
    r = api("POST", "/queues/%2F/ui-form-q/get", {"count": 1, "ackmode": "ack_requeue_true",
                                                   "encoding": "auto", "truncate": 50000})
    want = "message(s)" if r.ok else error_of(r)
    check(text_in("#queue-msg", want), f"queue page: get shows the API's answer ({want})")
    if r.ok and r.json():
        check(text_in("#got .payload", "hello from the UI"), "queue page: got the message published")
    css("#purge").click()
    r = api("DELETE", "/queues/%2F/ui-form-q/contents")
    want = "Queue purged." if r.ok else error_of(r)
    check(text_in("#queue-msg", want), f"queue page: purge shows the API's answer ({want})")
    shot("05-queue-get-purge")
    css("#delete-queue").click()
    check(text_in("h1", "Queues"), "queue page: delete returns to the list")
    check(api("GET", "/queues/%2F/ui-form-q").status_code == 404, "queue page: the queue is gone")

    # ---- exchanges and bindings -------------------------------------------------
    go("exchanges")
    fill("form#add-exchange", {"name": "ui-x", "type": "topic"})
    submit("form#add-exchange")
    check(text_in("main .ok", "declared"), "exchanges: declared through the form")
    check(api("GET", "/exchanges/%2F/ui-x").json().get("type") == "topic", "exchanges: the API has ui-x, topic")
    go("bindings")
    fill("form#add-binding", {"source": "ui-x", "destination": "ui-amqp-q", "routing_key": "ui.#"})
    submit("form#add-binding")
    check(text_in("main .ok", "binding created"), "bindings: created through the form")
    check(any(b["routing_key"] == "ui.#" for b in api("GET", "/bindings/%2F/e/ui-x/q/ui-amqp-q").json()),
          "bindings: the API has ui-x -> ui-amqp-q ui.#")
    shot("06-bindings")

    # ---- policies ---------------------------------------------------------------
    go("policies")
    fill("form#add-policy", {"name": "ui-pol", "pattern": "^ui-", "apply_to": "queues",
                             "priority": "7", "definition": '{"max-length": 100}'})
    submit("form#add-policy")
    check(text_in("main .ok", "policy 'ui-pol' saved"), "policies: saved through the form")
    r = api("GET", "/policies/%2F/ui-pol")
    check(r.status_code == 200 and r.json()["priority"] == 7 and r.json()["apply-to"] == "queues",
          f"policies: the API has ui-pol ({r.text[:120]})")
    check(text_in(".list table", "ui-pol"), "policies: listed")
    fill("form#add-policy", {"name": "ui-bad", "pattern": "["})
    submit("form#add-policy")
    check(text_in("main .error", "pattern should be regular expression but is invalid"),
          "policies: a bad pattern shows RabbitMQ's reason")
    shot("07-policies")

    # ---- users and vhosts -----------------------------------------------------
    go("vhosts")
    fill("form#add-vhost", {"name": "ui-vhost"})
    submit("form#add-vhost")
    check(text_in(".list table", "ui-vhost"), "vhosts: added through the form and listed")
    go("users")
    fill("form#add-user", {"name": "ui-user", "password": "s3cret", "tags": "management"})
    submit("form#add-user")
    check(text_in("main .ok", "user 'ui-user' saved"), "users: saved through the form")
    fill("form#set-permission", {"user": "ui-user", "vhost": "ui-vhost"})
    submit("form#set-permission")
    check(text_in("main .ok", "permission set"), "users: permission set through the form")
    r = requests.get(BASE + "/api/whoami", auth=("ui-user", "s3cret"), timeout=10)
    check(r.status_code == 200 and r.json()["name"] == "ui-user", "users: ui-user logs in to the API")
    check(api("GET", "/permissions/ui-vhost/ui-user").status_code == 200, "users: the API has the permission")
    shot("08-users")

    # ---- definitions: download, then upload a policy --------------------------
    go("definitions")
    css("#download").click()
    check(text_in("#defs-msg", "exported"), "definitions: downloaded")
    href = css("#defs-link").get_attribute("href")
    check(href.startswith("blob:"), "definitions: a download link to the file")
    defs = {"policies": [{"vhost": "ui-vhost", "name": "ui-imported", "pattern": ".*",
                          "apply-to": "all", "definition": {"expires": 60000}, "priority": 0}]}
    fd, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(defs, f)
    css("form#upload input[type=file]").send_keys(path)
    submit("form#upload")
    check(text_in("#defs-msg", "Definitions imported."), "definitions: uploaded")
    check(api("GET", "/policies/ui-vhost/ui-imported").status_code == 200,
          "definitions: the uploaded policy is in the API")
    os.unlink(path)
    shot("09-definitions")

    # ---- connections and channels pages answer ----------------------------------
    for page in ("connections", "channels"):
        go(page)
        r = api("GET", "/" + page)
        want = "page 1 of" if r.ok else error_of(r)
        check(text_in("main", want), f"{page}: the page shows the API's answer ({want})")
    shot("10-connections")

    # ---- log out --------------------------------------------------------------
    css("#logout").click()
    check(bool(css("form#login")), "logged out: the login form again")
    errors = [e for e in drv.get_log("browser") if e["level"] == "SEVERE"
              and "Failed to load resource" not in e["message"]]
    check(not errors, f"no JavaScript errors ({errors[:3]})")
finally:
    drv.quit()
    for p in ("/policies/%2F/ui-pol", "/vhosts/ui-vhost", "/users/ui-user", "/exchanges/%2F/ui-x",
              "/queues/%2F/ui-amqp-q"):
        api("DELETE", p)
    for i in range(25):
        api("DELETE", f"/queues/%2F/ui-page-{i:02d}")
    subprocess.run(["rm", "-rf", profile])

print(f"{len(failures)} failure(s)")
sys.exit(min(len(failures), 100))
