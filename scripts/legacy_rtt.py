#!/usr/bin/env python3
# The legacy round trip as issue 28 measured it: `smc legacy-server` (pass the release
# binary) and a raw client sending the original message format, one at a time; 2,000
# round trips after 200 of warm-up. Prints p50 and p99.
# Usage: cargo build --release -p smc-cli --bin smc && python3 scripts/legacy_rtt.py target/release/smc
import socket, subprocess, sys, time, tempfile, statistics, os
smc = sys.argv[1]
logdir = tempfile.mkdtemp()
port = 50177
srv = subprocess.Popen([smc, "legacy-server", "--host", "127.0.0.1", "--port", str(port), "--log-dir", logdir],
                       stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.5)
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
ip, p = s.getsockname()
msg = f"2026-12-07T01:00:00.123456|#8hdjajcur5d9l2[CLIENT {ip}:{p}]@e[j-".encode()
lat = []
for i in range(2200):
    t = time.perf_counter_ns()
    s.sendall(msg)
    s.recv(1024)
    lat.append((time.perf_counter_ns() - t) / 1000)
lat = sorted(lat[200:])
print(f"legacy round trip, smc legacy-server (release) and a raw Python client, {len(lat)} messages: p50 {lat[len(lat)//2]:.1f} us, p99 {lat[int(len(lat)*0.99)]:.1f} us")
s.sendall(b"/stop")
srv.stdin.write(b"/stop\n"); srv.stdin.flush()
try: srv.wait(timeout=5)
except Exception: srv.kill()
