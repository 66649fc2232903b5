import ACME
import ACMECrypto
import ACMEHTTP
import CertStore
import Foundation
import Synchronization
import Testing
@testable import Renewal

/// A CA double in memory: orders are ready at once (authorizations are not what this tests) and
/// the certificate is made for the key the lineage reuses. Every request path is recorded.
final class ScriptedCA: HTTPTransport {
    static let base = "https://ca.test"
    let caKey: PrivateKey
    let caPEM: String
    let leafKey: PrivateKey
    let names: [String]
    let paths = Mutex<[String]>([])
    private let nonces = Mutex(0)

    init(issuer: CertificateBuilder.Issuer, leafKey: PrivateKey, names: [String]) {
        (caKey, caPEM, self.leafKey, self.names) = (issuer.key, issuer.certificate.pem, leafKey, names)
    }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let path = String(request.url.dropFirst(Self.base.count))
        paths.withLock { $0.append(path) }
        var response: HTTPResponse
        switch path {
        case "/dir":
            response = json(200, #"{"newNonce":"\#(Self.base)/nonce","newAccount":"\#(Self.base)/acct","newOrder":"\#(Self.base)/order","revokeCert":"\#(Self.base)/revoke"}"#)
        case "/nonce":
            response = HTTPResponse(status: 200, headers: [], body: [])
        case "/acct":
            response = json(201, #"{"status":"valid"}"#, location: "/acct/1")
        case "/order":
            response = json(201, order(status: "ready"), location: "/order/1")
        case "/order/1/finalize", "/order/1":
            response = json(200, order(status: "valid"), location: "/order/1")
        case "/cert/1":
            let now = Date()
            let issuer = CertificateBuilder.Issuer(certificate: try Certificate(pem: caPEM), key: caKey)
            let leaf = try CertificateBuilder.make(commonName: names[0], dnsNames: names, key: leafKey, notBefore: now - 3600,
                                                   notAfter: now + 90 * 86_400, isCA: false, issuer: issuer)
            response = HTTPResponse(status: 200, headers: [(name: "Content-Type", value: "application/pem-certificate-chain")],
                                    body: Array((leaf.pem + caPEM).utf8))
        default:
            response = json(404, #"{"type":"urn:ietf:params:acme:error:malformed","detail":"no such resource","status":404}"#)
        }
        let nonce = nonces.withLock { n -> Int in n += 1; return n }
        response.headers.append((name: "Replay-Nonce", value: "nonce\(nonce)"))
        return response
    }

    private func order(status: String) -> String {
        let identifiers = names.map { #"{"type":"dns","value":"\#($0)"}"# }.joined(separator: ",")
        let certificate = status == "valid" ? #","certificate":"\#(Self.base)/cert/1""# : ""
        return #"{"status":"\#(status)","identifiers":[\#(identifiers)],"authorizations":[],"finalize":"\#(Self.base)/order/1/finalize"\#(certificate)}"#
    }

    private func json(_ status: Int, _ body: String, location: String? = nil) -> HTTPResponse {
        var headers = [(name: "Content-Type", value: "application/json")]
        if let location { headers.append((name: "Location", value: Self.base + location)) }
        return HTTPResponse(status: status, headers: headers, body: Array(body.utf8))
    }
}

@Suite("Renewer with an injected clock and a scripted CA")
struct RenewerRunTests {
    @Test("one due lineage is renewed through the CA, the one not due is left alone and the CA never hears of it")
    func renewsOnlyTheDueOne() async throws {
        let directory = NSTemporaryDirectory() + "acme-renewer-run-\(UUID().uuidString.prefix(8))"
        let webroot = directory + "-webroot"
        try FileManager.default.createDirectory(atPath: webroot, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory); try? FileManager.default.removeItem(atPath: webroot) }
        let now = Date()
        let caKey = try PrivateKey.generate(.ecdsa(.p256))
        let issuer = CertificateBuilder.Issuer(certificate: try CertificateBuilder.make(
            commonName: "Scripted CA", dnsNames: [], key: caKey, notBefore: now - 86_400, notAfter: now + 3650 * 86_400, isCA: true, issuer: nil), key: caKey)
        let store = LineageStore(configDirectory: directory)
        func lineage(_ name: String, key: PrivateKey, issuedDaysAgo age: Double) throws {
            let leaf = try CertificateBuilder.make(commonName: "\(name).example", dnsNames: ["\(name).example"], key: key,
                                                   notBefore: now - age * 86_400, notAfter: now + (90 - age) * 86_400, isCA: false, issuer: issuer)
            let files = LineageFiles(cert: leaf.pem, chain: issuer.certificate.pem, fullchain: leaf.pem + issuer.certificate.pem,
                                     privkey: try key.pemPKCS8())
            try store.create(name: name, files: files, renewalParams: [
                ("server", ScriptedCA.base + "/dir"), ("authenticator", "webroot"), ("webroot_path", webroot),
                ("key_type", "ecdsa"), ("reuse_key", "True"),
            ], version: "test")
        }
        let dueKey = try PrivateKey.generate(.ecdsa(.p256))
        try lineage("due", key: dueKey, issuedDaysAgo: 70)
        try lineage("fresh", key: try PrivateKey.generate(.ecdsa(.p256)), issuedDaysAgo: 1)

        let ca = ScriptedCA(issuer: issuer, leafKey: dueKey, names: ["due.example"])
        var renewer = Renewer(configDirectory: directory, makeClient: { _ in ACMEClient(directoryURL: ScriptedCA.base + "/dir", transport: ca) },
                              progress: { _ in })
        renewer.now = { now }
        var options = RenewOptions(toolVersion: "test")
        options.useDirectoryHooks = false
        let summary = try await renewer.run(options)

        #expect(summary.reports.map(\.name) == ["due", "fresh"])
        guard case .renewed(_, let version, .lifetime) = summary.reports[0].outcome else {
            Issue.record("due: \(summary.reports[0].line)"); return
        }
        #expect(version == 2)
        guard case .notDue(let until, .lifetime) = summary.reports[1].outcome else { Issue.record("fresh: \(summary.reports[1].line)"); return }
        #expect(abs(until.timeIntervalSince(now + 59 * 86_400)) < 1)
        #expect(ca.paths.withLock { $0 }.filter { $0 == "/order" }.count == 1, "one order, for the due lineage only")
        let live = try CertificateSummary(pem: try Lineage(name: "due", configDirectory: directory).readLive("cert"))
        #expect(live.notAfter > now + 89 * 86_400, "the renewed certificate is live")
        #expect(!summary.anyFailed && !summary.hookFailed)
    }
}
