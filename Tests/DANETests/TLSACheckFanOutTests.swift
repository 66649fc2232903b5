import ACMECrypto
import DNS
import Foundation
import DANE
import TestFixtures
import Testing

/// `acme tlsa --check` against a zone whose server names a thousand name servers that never
/// answer: it asks a bounded number of them within one deadline and says what it left out,
/// instead of asking server after server for tens of minutes.
@Suite("TLSA check fan-out", .serialized, .integration)
struct TLSACheckFanOutTests {
    /// A lineage `mx.h.test` (certbot layout, a self-signed leaf) with DANE through a hook and
    /// `resolver` as the server that finds zones and name servers.
    static func lineage(resolver: UInt16) throws -> String {
        let dir = NSTemporaryDirectory() + "acme-tlsa-fanout-\(UUID().uuidString)"
        let name = "mx.h.test"
        let key = try PrivateKey.generate(.ecdsa(.p256))
        let cert = try CertificateBuilder.make(commonName: name, dnsNames: [name], key: key, notBefore: Date().addingTimeInterval(-3600),
                                               notAfter: Date().addingTimeInterval(30 * 86400), isCA: false, issuer: nil)
        let archive = "\(dir)/archive/\(name)", live = "\(dir)/live/\(name)"
        for path in [archive, live, dir + "/renewal"] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        let files = ["cert": cert.pem, "chain": cert.pem, "fullchain": cert.pem + cert.pem, "privkey": try key.pemPKCS8()]
        var conf = ["version = 2.1.0", "archive_dir = \(archive)"]
        for (kind, text) in files.sorted(by: { $0.key < $1.key }) {
            try text.write(toFile: "\(archive)/\(kind)1.pem", atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: "\(live)/\(kind).pem", withDestinationPath: "../../archive/\(name)/\(kind)1.pem")
            conf.append("\(kind) = \(live)/\(kind).pem")
        }
        conf += ["", "[renewalparams]", "authenticator = standalone", "acme_dane = True", "acme_dane_owners = _25._tcp.\(name).",
                 "acme_dane_hook = true", "acme_dane_resolver = 127.0.0.1:\(resolver)", ""]
        try conf.joined(separator: "\n").write(toFile: "\(dir)/renewal/\(name).conf", atomically: true, encoding: .utf8)
        return dir
    }

    @Test("1,000 name servers, none answering for TLSA: at most ten asked, within the check's one deadline; the rest named in one warning and one problem")
    func silentThousand() throws {
        let zone = "h.test"
        let names = (1...1000).map { "n\($0).\(zone)" }
        // Every name server's glue is this server itself, which never answers a TLSA question.
        let server = try HostileDNSServer.zone(zone, names: names, glue: names.map { .a($0, "127.0.0.1") })
        defer { server.stop() }
        let dir = try Self.lineage(resolver: server.port)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var check = TLSACheck(configDirectory: dir, certName: "mx.h.test")
        // An endpoint that refuses at once: the time goes to DNS.
        let closed = try HostileDNSServer { _, _ in .silence }
        check.endpoints = ["smtp://127.0.0.1:\(closed.port)"]
        closed.stop()
        check.timeoutSeconds = 2
        check.dnsTime = .seconds(5)

        // On a thread of its own, so that a check that never ends fails the test instead of hanging it.
        final class Outcome: @unchecked Sendable { var result: Result<TLSACheck.Report, any Error>? }  // written before `done` is signalled
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let start = Date()
        Thread.detachNewThread { [check] in
            outcome.result = Result { try check.run() }
            done.signal()
        }
        let finished = done.wait(timeout: .now() + 120) == .success
        let took = Date().timeIntervalSince(start)
        let tlsaQuestions = server.questions.filter { $0.type == 52 }.count
        try #require(finished, "still asking after 120 s (\(tlsaQuestions) TLSA questions so far)")
        let report = try #require(try outcome.result?.get())
        // 5 s of DNS plus one refused endpoint; before, 2 s per server: 1,000 servers, over half an hour.
        #expect(took < 30, "\(took) s")
        #expect(tlsaQuestions >= 1 && tlsaQuestions <= DNSFanOut.maxNameServers, "\(tlsaQuestions) TLSA questions")
        let left = report.warnings.filter { $0.contains("more name servers of h.test not asked") }
        #expect(left.count == 1 && left[0].hasPrefix("_25._tcp.mx.h.test.: 990 more name servers of h.test not asked (acme asks at most 10 of a zone): n11.h.test, n12.h.test, n13.h.test, …"),
                "\(report.warnings)")
        let late = report.problems.filter { $0.contains("not asked (the DNS lookups of this check did not finish within 5 s)") }
        #expect(late.count == 1, "\(report.problems)")
        #expect(report.problems.count <= DNSFanOut.maxNameServers + 1, "\(report.problems)")
    }
}
