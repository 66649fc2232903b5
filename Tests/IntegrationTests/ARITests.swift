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

        // A 6-day certificate whose window opens in 10 days: the CA's word wins over the local rule.
        try double.setWindow(startDays: 10, endDays: 11, retryAfter: 3600)
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
