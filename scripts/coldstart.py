#!/usr/bin/env python3
"""Cold-start, warm-latency and memory probe for the Lambda binaries, with no AWS account.

A minimal Lambda Runtime API on loopback hands the real release binary real API Gateway v2
events; the function reads its secrets from SSM and writes DynamoDB, both on a moto server.
Measures, per function: init (process start -> first /invocation/next) and init without its
network round trips (the functions log the time their SSM read spent on the wire at debug level on
`doorstep::init`), the first (cold) invocation, the median and p95 of warm invocations, and peak
RSS (VmHWM). The baseline in the same run is one DynamoDB GetItem round trip to the same moto
server (each invocation makes a few), so ratios show what the function adds on top of its storage
calls.

With `--cold N` it measures init alone, as CPU time: every function (and the hello-world) is
started N times, interleaved, and `perf stat` counts the task-clock (user and system CPU time of
all its threads, the kernel's exec and page faults included) from exec until it waits on its first
/invocation/next; waiting on the network is not CPU time, so round trips drop out without being
subtracted. Every build is started from fresh copies of its binaries, each round in a shuffled
order. Medians, quartiles and minimum per function, and its ratio to the hello-world's: of the
medians, and the median of each round's own ratio.

With `--instructions` it counts the instructions each init executes in user space (valgrind's
callgrind, from exec to the first /invocation/next, every thread): the kernel's share is left out,
but the count does not move with the machine's load, so a change's effect on init's own work
shows exactly where task-clock needs many interleaved runs to show it at all.

Usage: scripts/coldstart.py TARGET_DIR [WARM_INVOCATIONS]   (needs DOORSTEP_MOTO_URL, boto3)
       scripts/coldstart.py TARGET_DIR[,TARGET_DIR…] --cold N   (also needs `perf`)
       scripts/coldstart.py TARGET_DIR[,TARGET_DIR…] --instructions   (also needs `valgrind`)
"""
import base64, hashlib, hmac, json, os, random, statistics, subprocess, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

SECRET = "probe-secret"
MOTO = os.environ["DOORSTEP_MOTO_URL"]
TARGET = sys.argv[1]
COLD = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--cold" else 0
INSTRUCTIONS = len(sys.argv) > 2 and sys.argv[2] == "--instructions"
WARM = int(sys.argv[2]) if len(sys.argv) > 2 and not COLD and not INSTRUCTIONS else 200
TABLE = "doorstep-probe-" + uuid.uuid4().hex[:8]
INITS = {}  # init without network round trips, per function


def aws(service):
    return boto3.client(service, endpoint_url=MOTO, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def setup():
    ddb = aws("dynamodb")
    ddb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "tracking_token", "preferences_token", "email")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {"IndexName": index, "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}
            for index, key in (("by_tracking_number", "gsi1pk"), ("by_tracking_token", "tracking_token"),
                               ("by_preferences_token", "preferences_token"), ("by_email", "email"))
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    ssm = aws("ssm")
    for name in ("generic", "easypost", "shopify", "admin-token", "merchant-webhook"):
        ssm.put_parameter(Name=f"/doorstep-probe/{name}", Value=SECRET, Type="SecureString", Overwrite=True)
    return ddb


def baseline_rtt(ddb, n=100):
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        ddb.get_item(TableName=TABLE, Key={"pk": {"S": "SHIP#x#y"}, "sk": {"S": "META"}})
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def signed(body: bytes) -> str:
    t = str(int(time.time()))
    return f"t={t},v1=" + hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()


def apigw(route, path, params, body: bytes):
    return {
        "version": "2.0", "routeKey": f"POST {route}", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "doorstep-signature": signed(body)},
        "pathParameters": params,
        "requestContext": {"accountId": "000000000000", "apiId": "probe", "domainName": "localhost",
                           "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "probe"},
                           "requestId": str(uuid.uuid4()), "routeKey": f"POST {route}", "stage": "$default", "timeEpoch": 0},
        "body": body.decode(), "isBase64Encoded": False,
    }


def carrier_event(i):
    body = json.dumps({"carrier": "dhl", "tracking_number": f"JD{i % 50:08d}", "event_id": f"probe-{i}",
                       "events": [{"status": "in_transit", "occurred_at": f"2024-06-01T{i % 24:02d}:{i % 60:02d}:00Z",
                                   "description": f"scan {i}", "location": "Hub"}]}).encode()
    return apigw("/webhooks/carriers/{provider}", "/webhooks/carriers/generic", {"provider": "generic"}, body)


def store_event(i):
    body = json.dumps({"type": "order", "event_id": f"probe-order-{i}", "order": {
        "id": i, "name": f"#{i}", "updated_at": "2024-06-01T00:00:00Z",
        "customer": {"id": f"c{i % 20}", "email": "someone@example.com", "phone": "081 234 5678"},
        "shipping_address": {"country_code": "TH"},
        "line_items": [{"id": "l1", "title": "Tee", "price": "390.00", "quantity": 1}],
        "fulfillments": [{"id": f"f{i}", "carrier": "Kerry Express", "tracking_number": f"KEX{i:08d}"}]}}).encode()
    return apigw("/webhooks/stores/{platform}", "/webhooks/stores/generic", {"platform": "generic"}, body)


def page_event(token):
    path = f"/t/{token}"
    return {
        "version": "2.0", "routeKey": "GET /t/{token}", "rawPath": path, "rawQueryString": "",
        "headers": {"accept": "text/html"}, "pathParameters": {"token": token},
        "requestContext": {"accountId": "000000000000", "apiId": "probe", "domainName": "localhost",
                           "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "probe"},
                           "requestId": str(uuid.uuid4()), "routeKey": "GET /t/{token}", "stage": "$default", "timeEpoch": 0},
        "isBase64Encoded": False,
    }


def tracking_tokens(n):
    """Tokens of parcels the store-webhook probe created (KEX00000000 …)."""
    ddb = aws("dynamodb")
    tokens = []
    for i in range(n):
        item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": f"SHIP#kerry-logistics#KEX{i:08d}"}, "sk": {"S": "META"}}).get("Item")
        if item:
            tokens.append(item["tracking_token"]["S"])
    return tokens


def local_runner_latency(rtt, n):
    """Warm GET /t/{token} through the release doorstep-local on SQLite, filled by scripts/demo.py."""
    import http.client, shutil, socket, tempfile
    data_dir = tempfile.mkdtemp(prefix="doorstep-bench-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, DOORSTEP_DATA_DIR=data_dir, DOORSTEP_PORT=str(port), DOORSTEP_SECRET_GENERIC=SECRET,
               DOORSTEP_ADMIN_TOKEN="bench-admin", RUST_LOG="warn")
    runner = subprocess.Popen([os.path.join(TARGET, "doorstep-local")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.05)
        demo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.py")
        links = json.loads(subprocess.run([sys.executable, demo, "--url", f"http://127.0.0.1:{port}", "--secret", SECRET,
                                           "--admin-token", "bench-admin", "--json"], check=True, capture_output=True).stdout)
        token = links["failed_attempt"]["token"]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        samples = []
        for _ in range(n + 1):
            start = time.perf_counter()
            connection.request("GET", f"/t/{token}")
            response = connection.getresponse()
            body = response.read()
            samples.append(time.perf_counter() - start)
            if response.status != 200:
                sys.exit(f"doorstep-local: GET /t/ answered {response.status}")
        warm = samples[1:]
        median = statistics.median(warm)
        print(f"doorstep-local GET /t/{{token}} (SQLite, demo shop, {len(body)} bytes): warm median {median * 1000:.2f} ms "
              f"(p95 {sorted(warm)[int(len(warm) * 0.95) - 1] * 1000:.2f} ms) = {median / rtt:.2f}x one moto GetItem round trip")
    finally:
        runner.kill()
        runner.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


class Runtime:
    """Just enough of the Lambda Runtime API: hand out events one at a time, collect responses."""

    def __init__(self, events, check):
        self.events = events
        self.check = check
        self.index = 0
        self.first_poll = None
        self.sent_at = {}
        self.latencies = []
        self.statuses = []
        self.errors = []
        self.done = threading.Event()
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                if runtime.first_poll is None:
                    runtime.first_poll = time.perf_counter()
                if runtime.index >= len(runtime.events):
                    runtime.done.set()
                    time.sleep(3600)  # park the function until it is killed
                    return
                request_id = str(runtime.index)
                payload = json.dumps(runtime.events[runtime.index]).encode()
                runtime.index += 1
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 10000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:probe")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                runtime.sent_at[request_id] = time.perf_counter()
                self.wfile.write(payload)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                parts = self.path.split("/")
                if "error" in parts[-1]:
                    runtime.errors.append(body.decode(errors="replace"))
                else:
                    request_id = parts[-2]
                    runtime.latencies.append(time.perf_counter() - runtime.sent_at[request_id])
                    runtime.statuses.append(runtime.check(json.loads(body)))
                self.send_response(202)
                self.end_headers()
                if runtime.errors:
                    runtime.done.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.server.server_address[1]}"


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def http_ok(response):
    return response.get("statusCode") == 200


def no_batch_failures(response):
    return not response.get("batchItemFailures")


def event_json(value):
    """JSON for what boto3 decoded: times as epoch seconds, binary (B) as base64, as Lambda sends them."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if hasattr(value, "timestamp"):
        return value.timestamp()
    return str(value)


def stream_events(batch_size=10):
    """The table's stream so far, as DynamoDbEvent payloads of `batch_size` records."""
    ddb, streams = aws("dynamodb"), aws("dynamodbstreams")
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=100)
            if not page["Records"]:
                break
            for record in page["Records"]:
                record = json.loads(json.dumps(record, default=event_json))
                record["eventSourceARN"] = arn
                records.append(record)
            iterator = page.get("NextShardIterator")
    return [{"Records": records[i:i + batch_size]} for i in range(0, len(records), batch_size)]


def lambda_env(runtime, name, extra_env=None):
    # Lambda's environment names no certificate bundle; this machine's might.
    inherited = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    return dict(inherited, AWS_LAMBDA_RUNTIME_API=runtime.address, AWS_ENDPOINT_URL=MOTO,
                AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
                AWS_LAMBDA_FUNCTION_NAME=name, AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                AWS_LAMBDA_LOG_STREAM_NAME="probe", AWS_LAMBDA_LOG_GROUP_NAME="probe",
                TABLE_NAME=TABLE, SECRETS_PATH="/doorstep-probe", RUST_LOG="warn,doorstep::init=debug",
                **(extra_env or {}))


def probe(name, events, rtt, check=http_ok, extra_env=None):
    runtime = Runtime(events, check)
    env = lambda_env(runtime, name, extra_env)
    start = time.perf_counter()
    process = subprocess.Popen([os.path.join(TARGET, name)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # The functions log (JSON) to stdout: drained on a thread so a chatty one never blocks.
    logs = []
    drain = threading.Thread(target=lambda: logs.extend(process.stdout), daemon=True)
    drain.start()
    finished = runtime.done.wait(timeout=300)
    rss = peak_rss_kib(process.pid) if process.poll() is None else 0
    process.kill()
    stderr = process.stderr.read().decode(errors="replace")
    process.wait()
    drain.join(timeout=5)
    if not finished or runtime.errors or process.returncode not in (None, -9):
        sys.exit(f"{name}: did not finish cleanly: errors={runtime.errors[:2]} stderr={stderr[-2000:]}")
    bad = [s for s in runtime.statuses if not s]
    if bad:
        sys.exit(f"{name}: {len(bad)} failed responses")
    init = runtime.first_poll - start
    # The functions log how long their init waited on the network (the SSM read).
    network = 0.0
    for line in logs:
        try:
            fields = json.loads(line).get("fields", {})
        except ValueError:
            continue
        network += float(fields.get("round_trips_ms", 0.0)) / 1000
    own = INITS[name] = init - network
    cold, warm = runtime.latencies[0], runtime.latencies[1:]
    warm_median = statistics.median(warm)
    p95 = sorted(warm)[int(len(warm) * 0.95) - 1]
    size = os.path.getsize(os.path.join(TARGET, name))
    hello = INITS.get("doorstep-hello")
    ratio = f", {own / hello:.1f}x hello-world's" if hello and name != "doorstep-hello" else ""
    print(f"{name}: binary {size / 1024 / 1024:.2f} MiB, init {init * 1000:.1f} ms "
          f"({network * 1000:.1f} ms of it SSM round trips; {own * 1000:.1f} ms without{ratio}), first invoke {cold * 1000:.1f} ms, "
          f"warm median {warm_median * 1000:.2f} ms (p95 {p95 * 1000:.2f} ms, {len(warm)} invocations), "
          f"peak RSS {rss / 1024:.1f} MiB; warm median = {warm_median / rtt:.1f}x one moto GetItem round trip")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def until_first_poll(tool, target, name, extra_env, stop, timeout):
    """Starts the function under `tool` (a command that runs it and writes to the file it is
    given), waits for its first /invocation/next, ends it with `stop(process)`, and returns the
    lines the tool wrote."""
    import tempfile
    runtime = Runtime([], http_ok)
    with tempfile.NamedTemporaryFile() as out:
        process = subprocess.Popen(tool(out.name) + [os.path.join(target, name)],
                                   env=lambda_env(runtime, name, extra_env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not runtime.done.wait(timeout=timeout):
            process.kill()
            sys.exit(f"{name}: never asked for an event: {process.stderr.read().decode(errors='replace')[-2000:]}")
        stop(process)
        process.wait(timeout=60)
        runtime.server.shutdown()
        with open(out.name) as written:
            return written.readlines()


def init_cpu_ms(target, name, extra_env):
    """One cold start under `perf stat`: the function's CPU time until it waits for its first event."""
    import signal

    def kill_function(perf):  # perf then reports what its child used
        for child in children(perf.pid):
            os.kill(child, signal.SIGKILL)

    lines = until_first_poll(lambda out: ["perf", "stat", "-x,", "-e", "task-clock", "-o", out, "--"],
                             target, name, extra_env, kill_function, timeout=60)
    for line in lines:
        fields = line.strip().split(",")
        if len(fields) > 2 and fields[2] == "task-clock":
            return float(fields[0])
    sys.exit(f"{name}: perf stat reported no task-clock")


def init_instructions(target, name, extra_env):
    """One cold start under callgrind: user-space instructions (millions) until it waits for its
    first event."""
    import signal
    # callgrind writes its counts as the program ends.
    lines = until_first_poll(lambda out: ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"],
                             target, name, extra_env, lambda grind: grind.send_signal(signal.SIGTERM), timeout=120)
    for line in lines:
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1]) / 1e6
    sys.exit(f"{name}: callgrind reported no total")


def fresh_copies(targets, binaries):
    """Every build's binaries copied into a directory of their own, just written. Two
    byte-identical sets, one written hours earlier and one just copied from it, measured in the
    same rounds: the carrier webhook's init took 11.4 ms of CPU from the old file and 5.0 ms from
    the copy, with no major faults either way and 14 more minor ones. How the page cache holds a
    file follows it, so every build is measured from a fresh copy."""
    import atexit, shutil, tempfile
    staged = {}
    for target in targets:
        copy = tempfile.mkdtemp(prefix="doorstep-coldstart-")
        atexit.register(shutil.rmtree, copy, True)
        for name in binaries:
            shutil.copy2(os.path.join(target, name), copy)
        staged[target] = copy
    return staged


def cold(n, measure=init_cpu_ms, unit="init CPU time (task-clock, ms)"):
    """Init CPU time of every function against the hello-world's, N interleaved cold starts each.
    TARGET_DIR may list several builds (comma-separated, e.g. before,after): every round starts
    each function from each build once, in a shuffled order, so they share the machine's moods.
    The minimum is shown beside the median, and each round's own ratio to the hello-world's beside
    the ratio of medians: on a VM whose load comes and goes from minute to minute, a ratio taken
    within a round cancels the minute's mood."""
    setup()
    queue = aws("sqs").create_queue(QueueName="doorstep-probe-q")["QueueUrl"]
    # What any of them reads at init (each takes only what it needs).
    env = {"BRAND": "Probe Shop", "PUBLIC_BASE_URL": "https://shop.example.com", "DEAD_LETTER_QUEUE_URL": queue,
           "SENDER_EMAIL": "orders@shop.example.com", "MERCHANT_WEBHOOK_QUEUE_URL": queue}
    # Two baselines: the hello-world as lambda_runtime's examples start it (`#[tokio::main]`,
    # multi-threaded) and on the single-threaded runtime Doorstep's functions use.
    hello_ct = "doorstep-hello (current_thread)"
    names = ["doorstep-hello", hello_ct, "carrier-webhook", "store-webhook", "notifier", "scheduler", "tracking-page",
             "manage-page", "preferences", "admin-api", "email-feedback", "merchant-webhook"]
    binary = {hello_ct: "doorstep-hello"}
    extra = {hello_ct: dict(env, HELLO_RUNTIME="current_thread")}
    targets = TARGET.split(",")
    names = [name for name in names if all(os.path.exists(os.path.join(t, binary.get(name, name))) for t in targets)]
    staged = fresh_copies(targets, {binary.get(name, name) for name in names})
    samples = {(t, name): [] for t in targets for name in names}
    for round in range(n):
        # Every start of a round in a fresh random order (seeded by the round, so a run can be
        # repeated): where a start falls in a round moved it by up to a third in one session,
        # whichever binary it was, and a fixed order would hand that to the same binaries each time.
        order = [(target, name) for target in targets for name in names]
        random.Random(round).shuffle(order)
        for target, name in order:
            samples[(target, name)].append(measure(staged[target], binary.get(name, name), extra.get(name, env)))
    print(f"{unit}, {n} cold starts each, interleaved: median [quartiles] min; x the hello-world's "
          f"(multi-threaded / current_thread): the ratio of medians, and the median of each round's "
          f"own ratio (a round's starts share the machine's mood of that minute)")
    for target in targets:
        print(f" {target}")
        baselines = [samples[(target, h)] for h in ("doorstep-hello", hello_ct) if h in names]
        for name in names:
            values = samples[(target, name)]
            q = statistics.quantiles(values, n=4)
            median = statistics.median(values)
            ratio = ""
            if not name.startswith("doorstep-hello"):
                medians = " / ".join(f"{median / statistics.median(h):.2f}x" for h in baselines)
                paired = " / ".join(f"{statistics.median(v / b for v, b in zip(values, h)):.2f}x" for h in baselines)
                ratio = f"  medians {medians}, per round {paired}"
            print(f"  {name:32} {median:6.2f}  [{q[0]:.2f}, {q[2]:.2f}] {min(values):6.2f}{ratio}")


def main():
    if COLD:
        cold(COLD)
        return
    if INSTRUCTIONS:
        # Deterministic to a few hundred instructions: two starts each show that it is.
        cold(2, init_instructions, "init instructions in user space (callgrind, millions)")
        return
    ddb = setup()
    rtt = baseline_rtt(ddb)
    print(f"baseline: moto GetItem round trip median {rtt * 1000:.2f} ms")
    # The floor: a hello-world lambda_runtime binary with the same profile, no AWS clients.
    if os.path.exists(os.path.join(TARGET, "doorstep-hello")):
        probe("doorstep-hello", [carrier_event(i) for i in range(WARM + 1)], rtt)
    probe("carrier-webhook", [carrier_event(i) for i in range(WARM + 1)], rtt)
    probe("store-webhook", [store_event(i) for i in range(WARM + 1)], rtt)
    # The webhooks' writes are on the stream now: the notifier sends their messages (SNS/SES on moto).
    aws("sesv2").create_email_identity(EmailIdentity="shop.example.com")
    events = stream_events()
    print(f"notifier input: {sum(len(e['Records']) for e in events)} stream records in {len(events)} batches")
    dead_letters = aws("sqs").create_queue(QueueName="doorstep-probe-dlq")["QueueUrl"]
    probe("notifier", events, rtt, check=no_batch_failures,
          extra_env={"DEAD_LETTER_QUEUE_URL": dead_letters, "SENDER_EMAIL": "orders@shop.example.com", "QUIET_HOURS": "off", "BRAND": "Probe Shop",
                     "PUBLIC_BASE_URL": "https://shop.example.com"})
    tokens = tracking_tokens(50)
    probe("tracking-page", [page_event(tokens[i % len(tokens)]) for i in range(WARM + 1)], rtt,
          extra_env={"BRAND": "Probe Shop", "PUBLIC_BASE_URL": "https://shop.example.com"})
    local_runner_latency(rtt, WARM)


if __name__ == "__main__":
    main()
