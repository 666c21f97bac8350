"""Streamed runs for bench/run.sh, on the standard library alone.

    streams.py first-event HOST PORT PATH HEADERS_JSON BODY_JSON COUNT
        Starts COUNT streamed runs one after another on one keep-alive
        connection; prints the p50 and p99 milliseconds from sending a
        request to reading its first server-sent event, and how many failed.

    streams.py hold HOST PORT PATH HEADERS_JSON BODY_JSON COUNT PID [PID...]
        Opens COUNT streamed runs at once (the body should make them last),
        waits until every one has sent its first event, then prints the RSS
        in KiB of each PID while all are open, and how many failed.
"""

import asyncio
import json
import sys
import time


def request_bytes(host, port, path, headers, body):
    payload = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}",
             "Content-Type: application/json", "Accept: text/event-stream",
             f"Content-Length: {len(payload)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def read_head(reader):
    """The status and headers of one answer."""
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


async def read_chunk(reader):
    """One chunk of a chunked body; b"" at its end."""
    size = int((await reader.readline()).split(b";")[0], 16)
    chunk = await reader.readexactly(size) if size else b""
    await reader.readline()
    return chunk


async def first_event(reader):
    """Reads up to the first complete event; answers whether one came."""
    status, headers = await read_head(reader)
    if status != 200 or headers.get("transfer-encoding") != "chunked":
        return False, status
    seen = b""
    while b"\n\n" not in seen:
        chunk = await read_chunk(reader)
        if not chunk:
            return False, status
        seen += chunk
    return True, status


async def drain(reader):
    while await read_chunk(reader):
        pass


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure_first_event(host, port, path, headers, body, count):
    reader, writer = await asyncio.open_connection(host, port)
    request = request_bytes(host, port, path, headers, body)
    latencies, failed = [], 0
    for _ in range(count):
        started = time.perf_counter()
        writer.write(request)
        ok, _ = await first_event(reader)
        if not ok:
            failed += 1
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        await drain(reader)
    writer.close()
    if not latencies:
        print(f"0 0 {failed}")
        return
    print(f"{percentile(latencies, 0.5):.2f} {percentile(latencies, 0.99):.2f} {failed}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def hold_streams(host, port, path, headers, body, count, pids):
    request = request_bytes(host, port, path, headers, body)

    async def one():
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            ok, _ = await asyncio.wait_for(first_event(reader), timeout=60)
            return ok, writer
        except (OSError, asyncio.TimeoutError, ValueError, IndexError):
            return False, None

    # Opened in batches, so a listen backlog is not what is measured.
    opened = []
    for start in range(0, count, 100):
        opened += await asyncio.gather(*(one() for _ in range(start, min(count, start + 100))))
    failed = sum(1 for ok, _ in opened if not ok)
    figures = " ".join(str(rss_kib(pid)) for pid in pids)
    for _, writer in opened:
        if writer is not None:
            writer.close()
    print(f"{figures} {failed}")


def main():
    mode, host, port, path, headers, body, count = sys.argv[1:8]
    port, count = int(port), int(count)
    headers, body = json.loads(headers), json.loads(body)
    if mode == "first-event":
        asyncio.run(measure_first_event(host, port, path, headers, body, count))
    elif mode == "hold":
        pids = [int(pid) for pid in sys.argv[8:]]
        asyncio.run(hold_streams(host, port, path, headers, body, count, pids))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
