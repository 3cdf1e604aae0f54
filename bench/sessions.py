#!/usr/bin/env python3
"""Logs in N times and touches each session once, so N session actors are live.

usage: sessions.py HOST PORT EMAIL PASSWORD N
Prints the number of live sessions it made. Keep-alive connections, standard
library only.
"""
import http.client
import json
import sys


def main():
    host, port, email, password, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    conn = http.client.HTTPConnection(host, port, timeout=30)
    body = json.dumps({"email": email, "password": password})
    live = 0
    for _ in range(n):
        conn.request("POST", "/v1/auth/login", body, {"Content-Type": "application/json"})
        res = conn.getresponse()
        payload = res.read()
        if res.status != 200:
            sys.exit(f"login answered {res.status}: {payload[:200]!r}")
        token = json.loads(payload)["token"]
        conn.request("GET", "/v1/me", headers={"Authorization": f"Bearer {token}"})
        res = conn.getresponse()
        res.read()
        if res.status != 200:
            sys.exit(f"/v1/me answered {res.status}")
        live += 1
    print(live)


if __name__ == "__main__":
    main()
