// A libFuzzer entry point for coverage-guided campaigns; compiled only with -D ACME_LIBFUZZER
// (see "libFuzzer" in Docs/FUZZING.md), so it is empty in the test target and never runs in CI.
#if ACME_LIBFUZZER
import ACME
import ACMECrypto
import ACMEHTTP
import CertStore
import Check
import Foundation
import Issuance

/// The parser to fuzz, from ACME_LIBFUZZER_TARGET (default renewalConf).
private let libFuzzerTarget = ProcessInfo.processInfo.environment["ACME_LIBFUZZER_TARGET"] ?? "renewalConf"

/// One input; only a trap or a sanitizer report is a finding (errors are the parsers' answers).
@_cdecl("LLVMFuzzerTestOneInput")
public func libFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let text = String(decoding: bytes, as: UTF8.self)
    switch libFuzzerTarget {
    case "renewalConf":
        if let config = try? RenewalConfig.parse(text) {
            _ = try? RenewalParams(decoding: config, path: "fuzz.conf", defaultServer: "https://acme.example/dir")
            _ = try? RenewalConfig.parse(config.serialized())
        }
    case "certificatePEM":
        _ = try? Certificate.chain(pem: text)
    case "certificateDER":
        _ = try? Certificate(der: bytes)
        _ = try? CertificateSummary(der: bytes)
    case "privateKeyPEM":
        _ = try? PrivateKey(pem: text)
    case "privateKeyJWK":
        if let jwk = try? JSONDecoder().decode([String: String].self, from: Data(bytes)) { _ = try? PrivateKey(jwk: jwk) }
    case "acmeJSON":
        let decoder = JSONDecoder()
        _ = try? decoder.decode(Order.self, from: Data(bytes))
        _ = try? decoder.decode(Authorization.self, from: Data(bytes))
        _ = try? decoder.decode(Problem.self, from: Data(bytes)).summary
        _ = try? decoder.decode(Directory.self, from: Data(bytes))
    case "httpHeaders":
        let lines = text.utf8.split(separator: 10).map { String(decoding: $0, as: UTF8.self) }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let response = HTTPResponse(status: 200, headers: headers, body: [])
        _ = response.links
        _ = response.retryAfter
    case "names":
        _ = try? DomainName.normalize(text)
        _ = try? Endpoint(parsing: text)
    default:
        fatalError("unknown ACME_LIBFUZZER_TARGET \(libFuzzerTarget)")
    }
    return 0
}
#endif
