"""Latency of the token list server function over HTTP: first page, with and without a
name filter. Sequential requests on one keep-alive connection; prints median and p95."""
import http.client
import http.cookiejar
import json
import statistics
import sys
import time
from urllib.parse import urlparse

base, jar_path = sys.argv[1], sys.argv[2]
jar = http.cookiejar.MozillaCookieJar(jar_path)
jar.load(ignore_discard=True, ignore_expires=True)
cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
url = urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port)

def call(query):
    body = json.dumps({"query": query})
    start = time.perf_counter()
    conn.request("POST", "/rpc/list_tokens", body, {"content-type": "application/json", "cookie": cookie})
    res = conn.getresponse()
    data = res.read()
    elapsed = (time.perf_counter() - start) * 1000
    assert res.status == 200, (res.status, data[:200])
    return elapsed, json.loads(data)

cases = {
    "first page, no filter": {"q": "", "kind": None, "status": "active", "page": 1},
    "first page, name filter 'seed-0999'": {"q": "seed-0999", "kind": None, "status": "active", "page": 1},
    "first page, name filter with no match": {"q": "no-such-token", "kind": None, "status": "active", "page": 1},
    "first page, Unused 90+ days": {"q": "", "kind": None, "status": "unused", "page": 1},
}
for label, query in cases.items():
    for _ in range(20):
        call(query)
    samples = []
    deadline = time.monotonic() + 20
    while len(samples) < 300 and time.monotonic() < deadline:
        ms, page = call(query)
        samples.append(ms)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"{label}: total={page['total']} n={len(samples)} median={statistics.median(samples):.2f} ms p95={p95:.2f} ms")
