import Foundation
import TestFixtures
import Testing

/// ARI and ACME profiles against the Python ACME double (Pebble 2.4 has neither).
@Suite("ARI and profiles", .serialized, .integration)
struct ARITests {
    func acme(_ double: ACMEDouble, _ dir: String, _ arguments: [String]) throws -> RunResult {
        try run(TestSupport.acmeBinary, arguments + ["--config-dir", dir])
    }

    func issueArguments(_ double: ACMEDouble, _ name: String) -> [String] {
        ["issue", "-d", name, "--server", double.directoryURL, "--ca-bundle", double.caBundle, "--agree-tos"]
    }

    /// The ARI id computed independently of acme: AKI keyid and serial through openssl.
    func certificateID(_ certPath: String) throws -> String {
        let text = try run("/usr/bin/openssl", ["x509", "-in", certPath, "-noout", "-ext", "authorityKeyIdentifier", "-serial"]).stdout
        func bytes(_ hex: some StringProtocol) -> Data {
            let digits = Array(hex.filter(\.isHexDigit))
            return Data(stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! })
        }
        func b64url(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let keyid = lines.first { $0.contains(":") && !$0.hasPrefix("X509") && !$0.hasPrefix("serial") }!
            .replacingOccurrences(of: "keyid:", with: "")
        var serial = bytes(lines.first { $0.hasPrefix("serial=") }!.dropFirst(7))
        if let first = serial.first, first & 0x80 != 0 { serial.insert(0, at: 0) }
        return b64url(bytes(keyid)) + "." + b64url(serial)
    }

    @Test("profiles: preferred is used when offered and saved; an unknown preferred falls back; an unknown required fails")
    func profiles() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("profiles") + "/le"
        let issued = try acme(double, dir, issueArguments(double, "short.example.test") + ["--preferred-profile", "shortlived"])
        #expect(issued.status == 0, "\(issued.output)")
        #expect(try double.requests(to: "/order").last?["payload"].flatMap { ($0 as? [String: Any])?["profile"] as? String } == "shortlived")
        let conf = try String(contentsOfFile: dir + "/renewal/short.example.test.conf", encoding: .utf8)
        #expect(conf.contains("preferred_profile = shortlived"), "\(conf)")
        let listed = try acme(double, dir, ["certificates"])
        #expect(listed.stdout.contains("profile:  shortlived") && listed.stdout.contains("(5 days)"), "\(listed.output)")

        let fallback = try acme(double, dir, issueArguments(double, "other.example.test") + ["--preferred-profile", "tlsserver"])
        #expect(fallback.status == 0, "\(fallback.output)")
        #expect(fallback.stderr.contains("does not offer profile tlsserver (it offers: classic, shortlived); using its default"), "\(fallback.output)")
        #expect(try double.requests(to: "/order").last?["payload"].flatMap { ($0 as? [String: Any])?["profile"] } == nil)

        let required = try acme(double, dir, issueArguments(double, "req.example.test") + ["--required-profile", "tlsserver"])
        #expect(required.status == 64, "\(required.output)")
        #expect(required.stderr.contains("does not offer the required profile tlsserver"), "\(required.output)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/live/req.example.test"))
    }

    @Test("ARI: a future window means not due (and Retry-After is honoured); a past window renews with replaces and the saved profile")
    func renewalInfo() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("ari") + "/le"
        let issued = try acme(double, dir, issueArguments(double, "ari.example.test") + ["--preferred-profile", "shortlived"])
        #expect(issued.status == 0, "\(issued.output)")
        let cert = dir + "/live/ari.example.test/cert.pem"
        let id = try certificateID(cert)

        // A 6-day certificate whose window opens at 80 % of its life (the lifetime rule would say
        // two thirds): the CA's word wins over the local rule.
        try double.setControl(["ari_fractions": [0.8, 0.9], "retry_after": 3600])
        let idle = try acme(double, dir, ["renew", "--no-random-sleep"])
        #expect(idle.status == 0, "\(idle.output)")
        #expect(idle.stdout.contains("ari.example.test: not due until") && idle.stdout.contains("(the CA's renewal window)"), "\(idle.output)")
        let asked = try double.requests(to: "/ari/")
        #expect(asked.count == 1 && asked.first?["certID"] as? String == id && asked.first?["known"] as? Bool == true,
                "ARI id sent: \(asked), expected \(id)")

        // Within Retry-After the CA is not asked again.
        let again = try acme(double, dir, ["renew", "--no-random-sleep"])
        #expect(again.status == 0 && again.stdout.contains("not due until"), "\(again.output)")
        #expect(try double.requests(to: "/ari/").count == 1, "ARI asked again before Retry-After")

        // The window moves into the past; once Retry-After has passed (state removed) it is due.
        try double.setWindow(startDays: -2, endDays: -1)
        try FileManager.default.removeItem(atPath: dir + "/.acme-ari.json")
        let due = try acme(double, dir, ["renew", "--no-random-sleep"])
        #expect(due.status == 0, "\(due.output)")
        #expect(due.stdout.contains("ari.example.test: renewed (the CA's renewal window); version 2"), "\(due.output)")
        let order = try double.requests(to: "/order").last?["payload"] as? [String: Any]
        #expect(order?["replaces"] as? String == id, "replaces: \(String(describing: order))")
        #expect(order?["profile"] as? String == "shortlived", "profile not reused: \(String(describing: order))")
        #expect(try RenewTests.consistent(dir, "ari.example.test"))
    }

    @Test("ARI: a window that ends before it starts, reaches year 9000 or starts after the certificate expires is refused with a note; the lifetime rule decides")
    func refusedWindows() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("ari-refused") + "/le"
        let issued = try acme(double, dir, issueArguments(double, "w.example.test"))
        #expect(issued.status == 0, "\(issued.output)")
        // The classic profile: 90 days. Each window would make it due (or far from due) if believed.
        let windows: [(start: Double, end: Double, problem: String)] = [
            (-2, -3, "ends"),
            (-2, 2_550_000, "is not within a year of the certificate's life"),
            (95, 96, "after the certificate expires"),
        ]
        for window in windows {
            try double.setWindow(startDays: window.start, endDays: window.end, retryAfter: 3600)
            let result = try acme(double, dir, ["renew", "--no-random-sleep"])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("w.example.test: the CA's renewal window is refused: its window")
                    && result.output.contains(window.problem), "\(window): \(result.output)")
            #expect(result.stdout.contains("w.example.test: not due until") && result.stdout.contains("(a third of the lifetime left)"),
                    "\(window): \(result.output)")
        }
        #expect(try double.requests(to: "/ari/").count == windows.count, "a refused window is not kept: the CA is asked again next run")
        #expect(try double.requests(to: "/order").count == 1, "no renewal")
    }

    @Test("ARI in maintenance (503): asked again with its delay for one lineage, then the server's lineages are decided by their dates")
    func unavailable() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("ari-503") + "/le"
        for name in ["m1.example.test", "m2.example.test"] {
            let issued = try acme(double, dir, issueArguments(double, name))
            #expect(issued.status == 0, "\(issued.output)")
        }
        try double.setControl(["ari_unavailable": true])
        let result = try acme(double, dir, ["renew", "--no-random-sleep"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("cannot reach \(double.directoryURL) (the CA is unavailable: HTTP 503")
                && result.output.contains("deciding its 2 certificates by their expiry dates"), "\(result.output)")
        #expect(result.stdout.contains("m2.example.test: not due until") && result.stdout.contains("(a third of the lifetime left)"),
                "\(result.output)")
        // Five requests (four retries, 1 s apart) for the first lineage, none for the second.
        #expect(try double.requests(to: "/ari/").count == 5)
    }

    @Test("--renew-within overrides ARI: no ARI request, renewed by the given window")
    func overrides() throws {
        let double = try ACMEDouble()
        let dir = try TestSupport.temporaryDirectory("ari-override") + "/le"
        let issued = try acme(double, dir, issueArguments(double, "o.example.test"))
        #expect(issued.status == 0, "\(issued.output)")
        try double.setWindow(startDays: 10, endDays: 11)
        let within = try acme(double, dir, ["renew", "--no-random-sleep", "--renew-within", "100"])
        #expect(within.stdout.contains("o.example.test: renewed (--renew-within 100 days)"), "\(within.output)")
        #expect(try double.requests(to: "/ari/").isEmpty, "ARI asked although --renew-within decides")
    }
}
