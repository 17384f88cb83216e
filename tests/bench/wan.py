"""The --wan profile: the server behind a shaped link in a network namespace.

This kernel (checked: 6.18 firecracker build) has no sch_netem, sch_fq,
sch_tbf nor cls_flow, only HTB and u32. So:
  * per-connection rate limit: HTB on both ends of a veth pair, one class
    per TCP client port (u32 hash on the low byte of the client's port,
    256 buckets, each its own HTB class at RATE) — what one TCP flow gets
    on a real WAN path;
  * ~30 ms RTT: a small delaying TCP proxy inside the namespace
    (this file, `python3 wan.py proxy ...`) holds every chunk 15 ms in
    each direction. TCP itself sees a short RTT, so window dynamics are not
    modelled; request/response round trips are.
The server (fasts3) runs in the namespace on its loopback, so only the
proxy reaches it and no request skips the delay; rtt() measures the round
trip of one small request through the link for the table header.
Traffic only crosses the veth pair we create; everything is removed by
down(). Needs root.
"""
import argparse
import asyncio
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def sh(*argv, check=True):
    p = subprocess.run(list(argv), capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), p.stderr.strip()))
    return p


class Wan:
    def __init__(self, work, rate="100mbit", delay_ms=15):
        n = os.getpid() % 200 + 20
        self.ns, self.host_if, self.ns_if = "amifsbench%d" % n, \
            "abh%d" % n, "abn%d" % n
        self.host_ip, self.server_ip = "10.213.%d.1" % n, "10.213.%d.2" % n
        self.rate, self.delay_ms, self.work = rate, delay_ms, work
        self.proxy = None

    def describe(self):
        return ("netns %s, veth, HTB %s per TCP connection, +%d ms each way "
                "(delay proxy)" % (self.ns, self.rate, self.delay_ms))

    def up(self):
        sh("ip", "netns", "add", self.ns)
        try:
            sh("ip", "link", "add", self.host_if, "type", "veth", "peer",
               "name", self.ns_if)
            sh("ip", "link", "set", self.ns_if, "netns", self.ns)
            sh("ip", "addr", "add", self.host_ip + "/24", "dev", self.host_if)
            sh("ip", "link", "set", self.host_if, "up")
            nsx = ["ip", "netns", "exec", self.ns]
            sh(*nsx, "ip", "addr", "add", self.server_ip + "/24", "dev",
               self.ns_if)
            sh(*nsx, "ip", "link", "set", self.ns_if, "up")
            sh(*nsx, "ip", "link", "set", "lo", "up")
            # client->server: the client's port is the TCP source port
            self._shape([], self.host_if, "0x00ff0000")
            # server->client: the client's port is the destination port
            self._shape(nsx, self.ns_if, "0x000000ff")
        except Exception:
            self.down()
            raise
        return self

    def _shape(self, prefix, dev, mask):
        lines = ["qdisc add dev %s root handle 1: htb default ffff r2q 1000"
                 % dev,
                 "class add dev %s parent 1: classid 1:ffff htb rate 10gbit"
                 % dev,
                 "filter add dev %s parent 1: prio 1 handle 2: protocol ip "
                 "u32 divisor 256" % dev,
                 "filter add dev %s parent 1: prio 1 protocol ip u32 ht 800:: "
                 "match ip protocol 6 0xff hashkey mask %s at 20 link 2:"
                 % (dev, mask)]
        for i in range(256):
            lines.append("class add dev %s parent 1: classid 1:%x htb rate "
                         "%s ceil %s" % (dev, i + 1, self.rate, self.rate))
            lines.append("filter add dev %s parent 1: prio 1 protocol ip u32 "
                         "ht 2:%x: match u32 0 0 flowid 1:%x" % (dev, i, i + 1))
        batch = os.path.join(self.work, "tc-%s.batch" % dev)
        with open(batch, "w") as f:
            f.write("\n".join(lines) + "\n")
        sh(*(prefix + ["tc", "-batch", batch]))

    def front(self, srv):
        """Put the delay proxy in front of SRV (listening in the netns);
        return SRV re-pointed at the proxy."""
        pf = os.path.join(self.work, "proxy.port")
        if os.path.exists(pf):
            os.unlink(pf)           # a stale file would give a dead port
        # nsenter --net: no private copy of the box's mounts (bench.py)
        argv = ["nsenter", "--net=/run/netns/" + self.ns, sys.executable,
                os.path.abspath(__file__), "proxy", "--listen",
                self.server_ip, "--to", "127.0.0.1:%d" % srv.port,
                "--delay-ms", str(self.delay_ms), "--port-file", pf]
        self.proxy = subprocess.Popen(argv, stderr=open(
            os.path.join(self.work, "proxy.log"), "ab"))
        end = time.monotonic() + 20
        while not os.path.exists(pf):
            if self.proxy.poll() is not None or time.monotonic() > end:
                raise RuntimeError("delay proxy did not start")
            time.sleep(0.05)
        with open(pf) as f:
            port = int(f.read())
        import s3util
        srv.url = "http://%s:%d" % (self.server_ip, port)
        srv.s3 = s3util.S3(srv.url, srv.s3.ak, srv.s3.sk)
        srv.label += "; " + self.describe()
        return srv

    def rtt(self, srv, n=7):
        """The measured round trip of one small request through the link:
        HEAD bucket on an open keep-alive connection, median of N after
        the first (which also connects). Proves the delay is real."""
        times = []
        for i in range(n + 1):
            t0 = time.monotonic()
            st, _, _ = srv.s3.request("HEAD", srv.bucket)
            if st != 200:
                raise RuntimeError("HEAD bucket through the proxy: HTTP %d"
                                   % st)
            if i:
                times.append(time.monotonic() - t0)
        times.sort()
        return "%.1f ms (min %.1f, max %.1f, %d HEADs)" % (
            times[len(times) // 2] * 1000, times[0] * 1000, times[-1] * 1000,
            n)

    def down(self):
        if self.proxy and self.proxy.poll() is None:
            self.proxy.terminate()
            self.proxy.wait(10)
        sh("ip", "link", "del", self.host_if, check=False)
        sh("ip", "netns", "del", self.ns, check=False)


# ------------------------------------------------------------ delay proxy --

async def pipe(reader, writer, delay):
    q = asyncio.Queue(maxsize=256)

    async def pump_in():
        while True:
            data = await reader.read(256 * 1024)
            await q.put((time.monotonic() + delay, data))
            if not data:
                return

    async def pump_out():
        while True:
            due, data = await q.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(pump_in(), pump_out())
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def proxy_main(a):
    host, port = a.to.rsplit(":", 1)

    async def client(r, w):
        try:
            ur, uw = await asyncio.open_connection(host, int(port))
        except OSError:
            w.close()
            return
        await asyncio.gather(pipe(r, uw, a.delay_ms / 1000),
                             pipe(ur, w, a.delay_ms / 1000))

    srv = await asyncio.start_server(client, a.listen, 0, backlog=1024)
    p = srv.sockets[0].getsockname()[1]
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(p))
    os.rename(a.port_file + ".tmp", a.port_file)
    async with srv:
        await srv.serve_forever()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("proxy")
    p.add_argument("--listen", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--delay-ms", type=float, default=15)
    p.add_argument("--port-file", required=True)
    a = ap.parse_args()
    asyncio.run(proxy_main(a))


if __name__ == "__main__":
    main()
