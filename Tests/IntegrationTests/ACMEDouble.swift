import Foundation

/// A small ACME CA in Python (Debian's python3-cryptography), for what Pebble 2.4 lacks:
/// ARI (`renewalInfo`, RFC 9773) and profiles (`meta.profiles`). It stays honest: every
/// POST's JWS signature is verified against the account's JWK, nonces are single-use,
/// the protected `url` must match, CSRs are signature-checked, and an ARI id must name a
/// certificate it issued. Authorizations are valid from the start (validation is not what
/// it tests). It logs each request as one JSON line; `control.json` sets the ARI window.
final class ACMEDouble: @unchecked Sendable {
    let port: Int
    let caBundle: String
    let workDir: String
    private let process: Process

    var directoryURL: String { "https://localhost:\(port)/dir" }
    /// The root that signs the double's certificates (what a verifying client must trust).
    var rootFile: String { workDir + "/root.pem" }

    /// The ARI window the double answers with, relative to now, and its Retry-After.
    func setWindow(startDays: Double, endDays: Double, retryAfter: Int = 3600) throws {
        let control = "{\"start_days\": \(startDays), \"end_days\": \(endDays), \"retry_after\": \(retryAfter)}"
        try control.write(toFile: workDir + "/control.json", atomically: true, encoding: .utf8)
    }

    /// The daemon tests' knobs, beside the window: certificates that live `lifetimeSeconds`, an
    /// ARI window at fractions of each certificate's own lifetime, a CA that drops every
    /// connection (`offline`), a finalize that takes `finalizeDelay` seconds, a clock off by
    /// `clock_offset_days` for the certificates' dates, ARI answering 503 with `Retry-After: 1`
    /// (`ari_unavailable`).
    func setControl(_ values: [String: Any]) throws {
        var control: [String: Any] = ["start_days": 10, "end_days": 11, "retry_after": 3600]
        for (key, value) in values { control[key] = value }
        let data = try JSONSerialization.data(withJSONObject: control)
        try data.write(to: URL(fileURLWithPath: workDir + "/control.json.tmp"))
        rename(workDir + "/control.json.tmp", workDir + "/control.json")
    }

    /// Logged requests: ["path": ..., "payload": {...}] in order.
    func requests() throws -> [[String: Any]] {
        let text = (try? String(contentsOfFile: workDir + "/requests.jsonl", encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
    }

    func requests(to prefix: String) throws -> [[String: Any]] {
        try requests().filter { ($0["path"] as? String ?? "").hasPrefix(prefix) }
    }

    init() throws {
        workDir = try TestSupport.temporaryDirectory("acme-double")
        port = TestSupport.freePort()
        caBundle = workDir + "/tls.pem"
        let tls = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                               "-keyout", workDir + "/tls.key", "-out", caBundle, "-days", "2", "-subj", "/CN=localhost",
                                               "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        guard tls.status == 0 else { throw TestFailure("openssl: \(tls.stderr)") }
        try "{\"start_days\": 10, \"end_days\": 11, \"retry_after\": 3600}".write(toFile: workDir + "/control.json", atomically: true, encoding: .utf8)
        try Self.script.write(toFile: workDir + "/double.py", atomically: true, encoding: .utf8)
        process = Process()
        // Debian's interpreter: its python3-cryptography comes with certbot.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [workDir + "/double.py", String(port), workDir]
        FileManager.default.createFile(atPath: workDir + "/double.log", contents: nil)
        let log = FileHandle(forWritingAtPath: workDir + "/double.log")
        process.standardOutput = log
        process.standardError = log
        try process.run()
        for _ in 0..<100 {
            if (try? run("/usr/bin/curl", ["-s", "-o", "/dev/null", "--cacert", caBundle, directoryURL]))?.status == 0 { return }
            usleep(50_000)
        }
        let output = (try? String(contentsOfFile: workDir + "/double.log", encoding: .utf8)) ?? ""
        throw TestFailure("the ACME double did not start on port \(port): \(output.suffix(800))")
    }

    deinit { stopProcess(process) }

    static let script = #"""
import base64, datetime, http.server, json, os, secrets, ssl, sys, threading, time
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID

port, work = int(sys.argv[1]), sys.argv[2]
base = "https://localhost:%d" % port
lock = threading.Lock()
nonces, accounts, orders, certs = set(), {}, {}, {}
PROFILES = {"classic": 90, "shortlived": 6}

def control(): return json.load(open(os.path.join(work, "control.json")))

def b64d(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def b64e(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def now(): return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)

ca_key = ec.generate_private_key(ec.SECP256R1())
ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ACME double root")])
ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
           .serial_number(x509.random_serial_number()).not_valid_before(now() - datetime.timedelta(days=1))
           .not_valid_after(now() + datetime.timedelta(days=3650))
           .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
           .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
           .sign(ca_key, hashes.SHA256()))
open(os.path.join(work, "root.pem"), "wb").write(ca_cert.public_bytes(serialization.Encoding.PEM))
ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest

def public_key(jwk):
    if jwk["kty"] == "RSA":
        return rsa.RSAPublicNumbers(int.from_bytes(b64d(jwk["e"]), "big"), int.from_bytes(b64d(jwk["n"]), "big")).public_key()
    curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}[jwk["crv"]]
    return ec.EllipticCurvePublicNumbers(int.from_bytes(b64d(jwk["x"]), "big"), int.from_bytes(b64d(jwk["y"]), "big"), curve).public_key()

def verify(jwk, alg, signing_input, sig):
    key = public_key(jwk)
    if alg == "RS256":
        key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg in ("ES256", "ES384"):
        size = 32 if alg == "ES256" else 48
        if len(sig) != 2 * size: raise InvalidSignature()
        der = utils.encode_dss_signature(int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big"))
        key.verify(der, signing_input, ec.ECDSA(hashes.SHA256() if alg == "ES256" else hashes.SHA384()))
    else:
        raise InvalidSignature()

def log(entry):
    with lock, open(os.path.join(work, "requests.jsonl"), "a") as f:
        f.write(json.dumps(entry) + "\n")

class Problem(Exception):
    def __init__(self, status, kind, detail):
        self.status, self.kind, self.detail = status, kind, detail

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass

    def reply(self, code, body, ctype="application/json", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        n = secrets.token_urlsafe(16)
        with lock: nonces.add(n)
        self.send_header("Replay-Nonce", n)
        for k, v in headers: self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def problem(self, p):
        self.reply(p.status, {"type": "urn:ietf:params:acme:error:" + p.kind, "detail": p.detail, "status": p.status},
                   ctype="application/problem+json")

    def offline(self):
        if control().get("offline"):
            self.close_connection = True
            return True
        return False

    def do_HEAD(self):
        if self.offline(): return
        self.reply(200, b"")

    def do_GET(self):
        if self.offline(): return
        if self.path == "/dir":
            self.reply(200, {"newNonce": base + "/nonce", "newAccount": base + "/acct", "newOrder": base + "/order",
                             "revokeCert": base + "/revoke", "keyChange": base + "/key-change", "renewalInfo": base + "/ari/",
                             "meta": {"profiles": {"classic": "90 days", "shortlived": "6 days"}}})
        elif self.path == "/nonce":
            self.reply(204, b"")
        elif self.path.startswith("/ari/"):
            try: self.renewal_info(self.path[len("/ari/"):])
            except Problem as p: self.problem(p)
        else:
            self.reply(404, b"not found", ctype="text/plain")

    def renewal_info(self, cert_id):
        aki_text, _, serial_text = cert_id.partition(".")
        try: aki, serial = b64d(aki_text), int.from_bytes(b64d(serial_text), "big")
        except Exception: raise Problem(400, "malformed", "unreadable certificate id")
        known = aki == ca_ski and serial in certs
        log({"path": "/ari/", "certID": cert_id, "known": known})
        if not known: raise Problem(404, "malformed", "no certificate with this id was issued here")
        c = control()
        if c.get("ari_unavailable"):
            self.reply(503, {"type": "urn:ietf:params:acme:error:serverInternal", "detail": "ARI in maintenance", "status": 503},
                       ctype="application/problem+json", headers=[("Retry-After", "1")])
            return
        if "ari_fractions" in c:
            leaf = certs[serial]
            nb, na = leaf.not_valid_before, leaf.not_valid_after
            start, end = nb + (na - nb) * c["ari_fractions"][0], nb + (na - nb) * c["ari_fractions"][1]
        else:
            start = now() + datetime.timedelta(days=c["start_days"])
            end = now() + datetime.timedelta(days=c["end_days"])
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        self.reply(200, {"suggestedWindow": {"start": start.strftime(fmt), "end": end.strftime(fmt)}},
                   headers=[("Retry-After", str(c["retry_after"]))])

    def do_POST(self):
        if self.offline():
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            header = json.loads(b64d(body["protected"]))
            with lock:
                if header.get("nonce") not in nonces: raise Problem(400, "badNonce", "unknown or used nonce")
                nonces.discard(header["nonce"])
            if header.get("url") != base + self.path: raise Problem(401, "unauthorized", "JWS url does not match the request URL")
            if "jwk" in header:
                jwk = header["jwk"]
            else:
                jwk = accounts.get(header.get("kid"))
                if jwk is None: raise Problem(400, "accountDoesNotExist", "unknown kid")
            try:
                verify(jwk, header["alg"], (body["protected"] + "." + body["payload"]).encode(), b64d(body["signature"]))
            except InvalidSignature:
                raise Problem(403, "unauthorized", "JWS signature does not verify")
            payload = json.loads(b64d(body["payload"])) if body["payload"] else None
            log({"path": self.path, "payload": payload, "kid": header.get("kid")})
            self.route(header, jwk, payload)
        except Problem as p:
            self.problem(p)

    def route(self, header, jwk, payload):
        p = self.path
        if p == "/acct":
            kid = next((k for k, v in accounts.items() if v == jwk), None)
            if kid is None:
                kid = base + "/acct/%d" % (len(accounts) + 1)
                accounts[kid] = jwk
            self.reply(201, {"status": "valid"}, headers=[("Location", kid)])
        elif p == "/order":
            profile = payload.get("profile")
            if profile is not None and profile not in PROFILES: raise Problem(400, "invalidProfile", "no profile " + profile)
            n = len(orders) + 1
            names = [i["value"] for i in payload["identifiers"]]
            pending = control().get("pending_authz", False)
            orders[n] = {"status": "pending" if pending else "ready", "identifiers": payload["identifiers"], "names": names,
                         "profile": profile or "classic", "pending": pending, "tokens": [secrets.token_urlsafe(16) for _ in names],
                         "authorizations": [base + "/authz/%d-%d" % (n, i) for i in range(len(names))],
                         "finalize": base + "/finalize/%d" % n}
            self.reply(201, self.order_json(n), headers=[("Location", base + "/order/%d" % n)])
        elif p.startswith("/authz/"):
            n, i = map(int, p[len("/authz/"):].split("-"))
            if orders[n]["pending"]:
                # A CA that never gets round to validating: the client keeps its responder up and polls.
                chall = {"type": "http-01", "url": base + "/chall/%d-%d" % (n, i), "token": orders[n]["tokens"][i], "status": "pending"}
                self.reply(200, {"status": "pending", "identifier": orders[n]["identifiers"][i], "challenges": [chall]})
            else:
                self.reply(200, {"status": "valid", "identifier": orders[n]["identifiers"][i], "challenges": []})
        elif p.startswith("/chall/"):
            n, i = map(int, p[len("/chall/"):].split("-"))
            self.reply(200, {"type": "http-01", "url": base + p, "token": orders[n]["tokens"][i], "status": "processing"})
        elif p.startswith("/order/"):
            self.reply(200, self.order_json(int(p[len("/order/"):])))
        elif p.startswith("/finalize/"):
            n = int(p[len("/finalize/"):])
            csr = x509.load_der_x509_csr(b64d(payload["csr"]))
            if not csr.is_signature_valid: raise Problem(400, "badCSR", "CSR signature does not verify")
            names = sorted(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))
            if names != sorted(orders[n]["names"]): raise Problem(400, "badCSR", "CSR names differ from the order")
            c = control()
            time.sleep(c.get("finalize_delay", 0))
            life = datetime.timedelta(seconds=c["lifetime_seconds"]) if "lifetime_seconds" in c else datetime.timedelta(days=PROFILES[orders[n]["profile"]])
            serial = x509.random_serial_number()
            skew = datetime.timedelta(days=c.get("clock_offset_days", 0))  # a CA whose clock is off
            leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, orders[n]["names"][0])]))
                    .issuer_name(ca_name).public_key(csr.public_key()).serial_number(serial)
                    .not_valid_before(now() + skew - datetime.timedelta(seconds=1)).not_valid_after(now() + skew + life)
                    .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in orders[n]["names"]]), critical=False)
                    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                    .sign(ca_key, hashes.SHA256()))
            certs[serial] = leaf
            orders[n]["status"] = "valid"
            orders[n]["certificate"] = base + "/cert/%d" % serial
            self.reply(200, self.order_json(n))
        elif p.startswith("/cert/"):
            leaf = certs[int(p[len("/cert/"):])]
            pem = leaf.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
            self.reply(200, pem, ctype="application/pem-certificate-chain")
        else:
            raise Problem(404, "malformed", "no such resource " + p)

    def order_json(self, n):
        o = orders[n]
        out = {k: o[k] for k in ("status", "identifiers", "authorizations", "finalize")}
        out["profile"] = o["profile"]
        if "certificate" in o: out["certificate"] = o["certificate"]
        return out

srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(work, "tls.pem"), os.path.join(work, "tls.key"))
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"""#
}
